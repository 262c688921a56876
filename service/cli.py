"""The ``matcher`` command: each command opens the library, calls it, and reports plainly."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from matcher.config import Settings, load_settings
from matcher.errors import MatcherError
from matcher.evaluation.runner import METHODS, SPLITS
from matcher.filters import takes_integer
from matcher.introductions.solver import Solver
from matcher.outcomes.store import AgreementType, DeclineReason, OutcomeStatus
from matcher.pipeline.request import Direction, MatchResult
from matcher.records import Kind, Record
from matcher.support.permissions import PRIVATE_UMASK, tighten_folder

if TYPE_CHECKING:
    from matcher.embedding.bulk import FillReport


def _choice(enum: type[Enum]) -> click.Choice[str]:
    """A click choice of the library enum's values, in its order."""
    return click.Choice([member.value for member in enum])


log = logging.getLogger(__name__)
KINDS = _choice(Kind)
DIRECTIONS = _choice(Direction)
SOLVERS = _choice(Solver)
STATUSES = _choice(OutcomeStatus)
AGREEMENT_TYPES = _choice(AgreementType)
DECLINE_REASONS = _choice(DeclineReason)
SPLIT_CHOICES = click.Choice(list(SPLITS))
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _fail_cleanly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into a clean message and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MatcherError as error:
            raise click.ClickException(error.message) from error

    return wrapper


def _settings(context: click.Context) -> Settings:
    return context.obj["settings"]  # type: ignore[no-any-return]


def _open(context: click.Context) -> Any:
    """The data folder's matcher; its writes wait ``cli_write_lock_timeout`` for other writers
    (default: as long as it takes), not the service's ``write_lock_timeout``."""
    from matcher.engine import open as open_matcher

    settings = _settings(context)
    return open_matcher(settings.replace(write_lock_timeout=settings.cli_write_lock_timeout))


@click.group()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Data folder (default ./var, or MATCHER_DATA_DIR).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A TOML config file (or MATCHER_CONFIG).",
)
@click.option("--quiet", is_flag=True, help="Only warnings and errors; no progress bars.")
@click.pass_context
@_fail_cleanly
def main(context: click.Context, data_dir: Path | None, config_file: Path | None, quiet: bool) -> None:
    """techmatch: match research projects with enterprise technology needs."""
    # Everything a command writes (the data folder's databases, indexes, profiles, the lock, and
    # what SQLite, FAISS and bm25s write for them) is owner-only: the umask holds while the command
    # runs, the server's workers included, and is put back after it (matcher/support/permissions.py).
    previous_umask = os.umask(PRIVATE_UMASK)
    context.call_on_close(lambda: os.umask(previous_umask))
    overrides: dict[str, Any] = {"data_dir": data_dir}
    if quiet:
        overrides["show_progress"] = False
    settings = load_settings(config_file, **overrides)
    level = logging.WARNING if quiet else getattr(logging, settings.log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("faiss.loader", "sentence_transformers", "jieba", "httpx", "transformers", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    context.obj = {"settings": settings}


@main.command()
@click.pass_context
@_fail_cleanly
def init(context: click.Context) -> None:
    """Create the data folder and the catalogue (or migrate it to the current schema)."""
    from matcher.storage.catalogue import SCHEMA_VERSION, Catalogue

    settings = _settings(context)
    tighten_folder(settings.data_dir)
    before = Catalogue(settings.catalogue_path).migrate()
    state = "created" if before == 0 else f"migrated from version {before}" if before < SCHEMA_VERSION else "up to date"
    click.echo(f"Catalogue {settings.catalogue_path}: schema version {SCHEMA_VERSION} ({state})")


RAY_ADDRESS_HELP = (
    "Encode the new passages on this Ray cluster first: HOST:6379, auto, ray://HOST:10001, or local "
    "(a cluster in this process). Default: setting ray_address; empty encodes here."
)


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--kind", type=KINDS, required=True, help="What the file holds.")
@click.option("--delete-missing", is_flag=True, help="Remove records of this kind that the file does not list.")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of CSV/JSON files (e.g. gb18030).")
@click.option("--ray-address", help=RAY_ADDRESS_HELP)
@click.pass_context
@_fail_cleanly
def ingest(
    context: click.Context, file: Path, kind: str, delete_missing: bool, encoding: str, ray_address: str | None
) -> None:
    """Load a CSV, JSON, JSONL or XLSX FILE of projects or needs (all or nothing) and update the index."""
    matcher = _open(context)
    if _ray_address(context, ray_address):
        # The cluster fills the embedding cache; the ingest then finds every vector there.
        records = _read_records(context, file, Kind(kind), encoding)
        _embed_records(context, matcher, records, ray_address)
        report = matcher.ingest_records(Kind(kind), records, str(file), delete_missing)
    else:
        report = matcher.ingest_file(file, Kind(kind), delete_missing=delete_missing, encoding=encoding)
    click.echo(
        f"{file}: {report.records} {kind}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.deleted} deleted"
    )


# -- bulk encoding (matcher.embedding.bulk): `matcher embed`, and `ingest --ray-address` ----------


@main.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--kind", type=KINDS, required=True, help="What the file holds.")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of CSV/JSON files (e.g. gb18030).")
@click.option("--ray-address", help=RAY_ADDRESS_HELP.replace("the new passages", "them").replace(" first:", ":"))
@click.pass_context
@_fail_cleanly
def embed(context: click.Context, file: Path, kind: str, encoding: str, ray_address: str | None) -> None:
    """Fill the embedding cache with the passages of a FILE (validated as ingest does), in every dense
    channel, on a Ray cluster or here; no record is written. A later `matcher ingest` of it encodes nothing."""
    matcher = _open(context)
    records = _read_records(context, file, Kind(kind), encoding)
    for report in _embed_records(context, matcher, records, ray_address):
        click.echo(
            f"{file}: {len(records)} {kind}, {report.texts} passages; {report.model}: {report.encoded} encoded, "
            f"{report.texts - report.encoded} already cached"
        )


def _ray_address(context: click.Context, option: str | None) -> str:
    return (option if option is not None else _settings(context).ray_address).strip()


def _read_records(context: click.Context, file: Path, kind: Kind, encoding: str) -> list[Record]:
    """The file's records, validated as `matcher ingest` does (any problem: nothing is encoded or written)."""
    from matcher.ingest.readers import read_table
    from matcher.ingest.validate import validate_table

    return validate_table(read_table(file, encoding), kind, _settings(context).max_text_chars)


def _embed_records(context: click.Context, matcher: Any, records: list[Record], option: str | None) -> list[FillReport]:
    """Every record's passages into both channels' caches: on the Ray cluster when an address is given,
    else here (as an ingest would encode them). Returns one FillReport per channel."""
    from matcher.embedding.bulk import Channel, ClusterOptions, FillReport, fill_caches
    from matcher.engine import english_spec, multilingual_spec

    settings = _settings(context)
    texts = [text for record in records for text in matcher.passages_of(record)]
    channels = [Channel(matcher.vectors, english_spec(settings), with_sentences=True)]
    multilingual = multilingual_spec(settings)
    if matcher.multilingual_vectors is not None and multilingual is not None:
        channels.append(Channel(matcher.multilingual_vectors, multilingual, with_sentences=False))
    address = _ray_address(context, option)
    if not address:
        reports = []
        for channel in channels:
            before, started = channel.cache.encoded_count, time.perf_counter()
            channel.cache.vectors(texts, f"Encoding ({channel.cache.embedder.name})", channel.with_sentences)
            encoded = channel.cache.encoded_count - before
            reports.append(
                FillReport(channel.cache.embedder.name, len(set(texts)), encoded, time.perf_counter() - started)
            )
        return reports
    options = ClusterOptions(
        address,
        settings.ray_workers,
        settings.ray_batch_size,
        settings.ray_worker_threads,
        settings.show_progress,
        source="option --ray-address" if option is not None else "setting 'ray_address'",
    )
    return fill_caches(texts, channels, options)


@main.command()
@click.option("--kind", type=KINDS, help="Only this side (default both).")
@click.option("--rebuild", is_flag=True, help="Build anew, e.g. after changing the model.")
@click.pass_context
@_fail_cleanly
def index(context: click.Context, kind: str | None, rebuild: bool) -> None:
    """Bring the vector indexes in step with the catalogue (encoding only texts never seen)."""
    matcher = _open(context)
    for path in matcher.heal().removed:
        click.echo(f"removed {path}, left by an interrupted write", err=True)
    for side in [Kind(kind)] if kind else list(Kind):
        built = matcher.sync_index(side, rebuild=rebuild)
        vector = built.vector
        click.echo(
            f"{side.value}: {built.count} records, {vector.passage_count} passages "
            f"({vector.model_name}, {vector.dimension} dimensions)"
        )


def _clip(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_matches(result: MatchResult) -> None:
    click.echo(result.verdict())
    if result.ranking == "reranked":
        click.echo("Ordered by the re-ranker learnt from recorded outcomes (matcher train-reranker).")
    for match in result.matches:
        record = match.record
        owner = record.attributes.get("institution") or record.attributes.get("enterprise") or ""
        strength = f"{match.band.value if match.band else '?':<8} {match.strength or 0:.2f}"
        click.echo(f"{match.rank:>3}. {strength}  {record.id}  {record.title}" + (f"  [{owner}]" if owner else ""))
        if match.explanation is not None:
            click.echo(f"       {match.explanation.summary}")
            hit = match.hit
            if hit.dense is not None and hit.lexical is not None:
                channel = "multilingual" if hit.multilingual else "english"
                click.echo(
                    f"       score {hit.score:.3f}: dense {hit.dense:.3f} ({channel}), lexical {hit.lexical:.2f}"
                )
            evidence = match.explanation.evidence
            if evidence is not None:
                click.echo(f'       evidence ({evidence.similarity:.2f}): "{_clip(evidence.match_text)}"')


@main.command()
@click.option("--need-id", help="Match this stored need to projects.")
@click.option("--project-id", help="Match this stored project to needs.")
@click.option("--text", help="Match a free text (a need, unless --direction project_to_needs).")
@click.option("--direction", type=DIRECTIONS, help="For --text: which side the text is.")
@click.option("--top-k", type=int, help="How many matches (default 10, at most 100).")
@click.option("--min-score", type=float, help="Leave out matches whose strength (0 to 1) is below this.")
@click.option(
    "--filter", "filters", multiple=True, metavar="NAME=VALUE", help="e.g. field=automotive, trl_min=4 (repeatable)."
)
@click.option("--explain/--no-explain", default=True, show_default=True, help="Explain each match.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@_fail_cleanly
def match(
    context: click.Context,
    need_id: str | None,
    project_id: str | None,
    text: str | None,
    direction: str | None,
    top_k: int | None,
    min_score: float | None,
    filters: tuple[str, ...],
    explain: bool,
    as_json: bool,
) -> None:
    """Ranked, explained matches for a stored need or project, or for a free text."""
    given = [name for name, value in (("--need-id", need_id), ("--project-id", project_id), ("--text", text)) if value]
    if len(given) != 1:
        raise click.UsageError("Give exactly one of --need-id, --project-id or --text")
    if direction and not text:
        raise click.UsageError("--direction goes with --text; an id already says which side it is")
    matcher = _open(context)
    if need_id:
        direction, record_id = Direction.NEED_TO_PROJECTS.value, need_id
    elif project_id:
        direction, record_id = Direction.PROJECT_TO_NEEDS.value, project_id
    else:
        direction, record_id = direction or Direction.NEED_TO_PROJECTS.value, None
    request = matcher.request(
        direction=direction,
        text=text,
        record_id=record_id,
        top_k=top_k,
        min_score=min_score,
        filters=_parse_filters(filters),
        explain=explain,
    )
    result = matcher.match(request)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_matches(result)


def _parse_filters(pairs: tuple[str, ...], option: str = "--filter") -> dict[str, Any]:
    """NAME=VALUE options as filters: a repeated text filter becomes a list; a whole-number one keeps its last value."""
    filters: dict[str, Any] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name or not value:
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint=option)
        if takes_integer(name):
            if not value.isdecimal():  # what int() reads (isdigit also passes "²", which int() refuses)
                raise click.BadParameter(f"{name} takes a whole number, got {value!r}", param_hint=option)
            filters[name] = int(value)
        else:
            existing = filters.get(name)
            filters[name] = (
                value if existing is None else [*([existing] if isinstance(existing, str) else existing), value]
            )
    return filters


EVALUATION_METHODS = list(METHODS)


@main.command()
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--method",
    type=click.Choice([*EVALUATION_METHODS, "all"]),
    default="all",
    show_default=True,
    help="hybrid is the configured default ranking; rrf is plain reciprocal rank fusion (k=60).",
)
@click.option("--top-k", type=click.IntRange(1, 1000), default=100, show_default=True, help="Ranking depth.")
@click.option(
    "--split",
    type=SPLIT_CHOICES,
    default="all",
    show_default=True,
    help="A fixed half of the queries (dev) or the other half (test).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per method, one per line.")
@click.option("--run-out", type=click.File("w", encoding="utf-8"), help="Write the rankings in TREC run format.")
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the temporary catalogue and indexes go (default: a temporary folder).",
)
@click.pass_context
@_fail_cleanly
def evaluate(
    context: click.Context,
    dataset_dir: Path,
    method: str,
    top_k: int,
    split: str,
    as_json: bool,
    run_out: Any,
    work_dir: Path | None,
) -> None:
    """Measure ranking quality on a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv).

    Never touches the service's catalogue; embeddings are cached, so a second run takes seconds.
    """
    from matcher.evaluation.runner import evaluate as run_evaluation

    methods = EVALUATION_METHODS if method == "all" else [method]
    from matcher.engine import open as open_matcher

    results = run_evaluation(
        dataset_dir, _settings(context), methods, top_k, work_dir, run_out, split, opener=open_matcher
    )
    if as_json:
        for result in results:
            click.echo(json.dumps(result.to_dict()))
        return
    click.echo(f"{dataset_dir.name}: {results[0].queries} queries")
    click.echo(f"{'method':<8} {'nDCG@10':>8} {'R@1':>7} {'R@10':>7} {'R@100':>7} {'MRR':>7}")
    for result in results:
        m = result.metrics
        click.echo(
            f"{result.method:<8} {m['ndcg@10']:>8.4f} {m['recall@1']:>7.4f} {m['recall@10']:>7.4f} "
            f"{m['recall@100']:>7.4f} {m['mrr']:>7.4f}"
        )


@main.command("explain-eval")
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--max-queries", default=300, show_default=True, type=click.IntRange(1), help="Correct top-1 matches to test."
)
@click.option(
    "--seed", default=13, show_default=True, type=int, help="Seed for the query order and the random deletions."
)
@click.option("--split", type=SPLIT_CHOICES, default="all", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), help="Keep the work folder here.")
@click.pass_context
@_fail_cleanly
def explain_eval(
    context: click.Context,
    dataset_dir: Path,
    max_queries: int,
    seed: int,
    split: str,
    as_json: bool,
    work_dir: Path | None,
) -> None:
    """Measure whether explanations are faithful on a BEIR folder (ERASER comprehensiveness, sufficiency, coverage)."""
    from matcher.engine import open as open_matcher
    from matcher.evaluation.faithfulness import explain_eval as run_explain_eval

    report = run_explain_eval(dataset_dir, _settings(context), max_queries, seed, split, work_dir, opener=open_matcher)
    data = report.to_dict()
    if as_json:
        keys = (
            "queries",
            "faithful_share",
            "mean_drop_explained",
            "mean_drop_random",
            "sufficiency_mean",
            "sufficiency_p10",
            "coverage",
        )
        click.echo(json.dumps({key: data[key] for key in keys} | {k: v for k, v in data.items() if k not in keys}))
        return
    click.echo(f"{report.dataset}: {report.queries} queries with a correct top-1 match")
    for key, value in data.items():
        if key not in ("dataset", "queries"):
            click.echo(f"  {key:<20} {value}")


@main.command()
@click.option("--max-per-project", type=int, required=True, help="Introductions a project may take.")
@click.option("--max-per-need", type=int, required=True, help="Introductions a need may take.")
@click.option("--max-per-enterprise", type=int, help="Introductions all needs of one enterprise may take.")
@click.option("--max-per-institution", type=int, help="Introductions all projects of one institution may take.")
@click.option(
    "--max-per-need-institution",
    type=int,
    help="Diversity: at most this many projects of one institution for any one need.",
)
@click.option("--min-score", type=float, help="Match strength floor, 0 to 1 (default: setting plan_min_score).")
@click.option(
    "--candidates",
    type=int,
    help="Best candidates of each record the solver weighs (default: setting plan_candidates).",
)
@click.option(
    "--conflicts",
    "conflicts_file",
    type=click.Path(path_type=Path),
    help="CSV/XLSX with columns project,need naming parties that must not meet (id, name, email or domain).",
)
@click.option(
    "--project-filter",
    "project_filters",
    multiple=True,
    metavar="NAME=VALUE",
    help="e.g. field=automotive (repeatable).",
)
@click.option(
    "--need-filter", "need_filters", multiple=True, metavar="NAME=VALUE", help="e.g. region=Dalian (repeatable)."
)
@click.option("--updated-since", help="Only records updated on or after this date (YYYY-MM-DD).")
@click.option(
    "--solver",
    type=SOLVERS,
    default=Solver.FLOW.value,
    show_default=True,
    help="flow: exact min-cost flow; greedy: best pairs first (baseline).",
)
@click.option("--explain/--no-explain", default=True, show_default=True, help="Add each pair's explanation summary.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="plan.csv or plan.xlsx")
@click.option("--json", "as_json", is_flag=True, help="Print the plan's parameters and diagnostics as JSON.")
@click.pass_context
@_fail_cleanly
def introduce(
    context: click.Context,
    conflicts_file: Path | None,
    project_filters: tuple[str, ...],
    need_filters: tuple[str, ...],
    out: Path,
    as_json: bool,
    **options: Any,
) -> None:
    """Plan introductions of projects to needs for an event, under caps and conflicts."""
    from matcher.introductions.conflicts import read_conflicts
    from matcher.introductions.export import plan_format, write_plan
    from matcher.introductions.planner import PlanRequest, plan_introductions

    plan_format(out)  # a wrong suffix fails before any work
    matcher = _open(context)
    plan_request = PlanRequest.build(
        matcher.settings,
        project_filters=_parse_filters(project_filters, "--project-filter"),
        need_filters=_parse_filters(need_filters, "--need-filter"),
        conflicts=read_conflicts(conflicts_file) if conflicts_file else (),
        **options,
    )
    plan = plan_introductions(matcher, plan_request)
    body = plan.to_dict()
    write_plan(body, out)
    if as_json:
        body.pop("introductions")
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
    diagnostics = plan.diagnostics
    click.echo(
        f"{out}: {len(plan.introductions)} introductions, total score {plan.total_score:.3f}; "
        f"{diagnostics['needs_introduced']} of {diagnostics['needs_in_scope']} needs and "
        f"{diagnostics['projects_introduced']} of {diagnostics['projects_in_scope']} projects introduced",
        err=as_json,
    )
    if diagnostics["empty_reason"]:
        click.echo(f"The plan is empty: {diagnostics['empty_reason']}", err=True)


@main.command("train-reranker")
@click.option(
    "--folds", default=5, show_default=True, type=click.IntRange(2), help="Cross-validation folds (groups of needs)."
)
@click.option("--seed", default=13, show_default=True, type=int, help="Seed for the folds and the models.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
@_fail_cleanly
def train_reranker(context: click.Context, folds: int, seed: int, as_json: bool) -> None:
    """Learn a re-ranker from recorded outcomes; keep it only if it beats the base ranking in cross-validation."""
    from matcher.reranking.training import train_reranker as run_training

    report = run_training(_open(context), folds=folds, seed=seed)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    counts = report.counts
    click.echo(
        f"{counts['pairs']} labelled pairs ({counts['positives']} positive, {counts['negatives']} declined) over "
        f"{counts['needs']} needs, {counts['evaluable_needs']} with both; {report.folds} folds grouped by need"
    )
    for result in report.results:
        click.echo(
            f"{result.model}: {result.metric} base {result.base:.4f}, re-ranked {result.reranked:.4f}, "
            f"gain {result.gain:+.4f} (standard error {result.gain_se:.4f}; spread across folds: std {result.gain_std:.4f})"
        )
        for fold in result.folds:
            click.echo(
                f"  fold {fold.fold}: {fold.needs} needs, {fold.base:.4f} -> {fold.reranked:.4f} ({fold.gain:+.4f})"
            )
    click.echo(report.message)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", type=click.IntRange(1), help="gunicorn worker processes (default: setting 'workers', 2).")
@click.option("--threads", type=click.IntRange(1), help="Threads per worker (default: setting 'threads', 4).")
@click.option("--dev", is_flag=True, help="Flask's single-process development server instead of gunicorn.")
@click.pass_context
@_fail_cleanly
def serve(context: click.Context, host: str, port: int, workers: int | None, threads: int | None, dev: bool) -> None:
    """Serve the web page and the JSON API with gunicorn (each worker loads the model and indexes once)."""
    settings = _settings(context)
    click.echo(f"techmatch serving on http://{host}:{port}/ (API: /api/v1, docs: /api/docs)", err=True)
    if host not in LOOPBACK_HOSTS and not settings.trusted_proxies:
        log.warning(
            "Serving %s directly: a few clients that stall mid-request can hold every thread. In production "
            "put nginx in front (`matcher proxy-config`, README 'Deployment') and serve on 127.0.0.1.",
            host,
        )
    if dev:
        from service.app import create_app

        create_app(settings).run(host=host, port=port, threaded=True, use_reloader=False)
        return
    from service.server import Server

    Server(settings, host, port, workers or settings.workers, threads or settings.threads).run()


@main.command("proxy-config")
@click.option("--listen", default="80", show_default=True, help="Where nginx serves the public: PORT or HOST:PORT.")
@click.option("--upstream", default="127.0.0.1:8000", show_default=True, help="Where `matcher serve` listens.")
@click.option(
    "--prefix",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="nginx's own folder (pid, logs, buffered bodies); created owner-only.",
)
@click.option("--user", help="The account nginx's workers run as, when nginx starts as root (e.g. www-data).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the file here (default: print).")
@click.pass_context
@_fail_cleanly
def proxy_config(
    context: click.Context, listen: str, upstream: str, prefix: Path, user: str | None, out: Path | None
) -> None:
    """An nginx.conf for the production layout: nginx buffers whole requests in front of gunicorn on loopback.

    Run it with `nginx -p PREFIX -c FILE`, and the server with `matcher serve` on the upstream's
    address and the setting trusted_proxies = 1 (README "Deployment").
    """
    from service.proxy import ProxyLayout, nginx_config, prepare_prefix

    settings = _settings(context)
    prefix = prefix.resolve()
    prepare_prefix(prefix)
    text = nginx_config(ProxyLayout(listen, upstream, prefix, settings.max_request_bytes, user=user))
    if out is None:
        click.echo(text)
        return
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}; start it with: nginx -p {prefix} -c {out.resolve()}", err=True)


@main.group()
def keys() -> None:
    """API keys for writing (ingest, update, delete): create, list, revoke; staff passwords for the web console."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what uses the key.")
@click.pass_context
@_fail_cleanly
def keys_create(context: click.Context, name: str) -> None:
    """Make a key; it is printed once and stored only as a hash."""
    key, info = _open_keys(context).create(name)
    click.echo(key)
    click.echo(f"key {info.id} ({info.name}) created; store it now, it cannot be shown again", err=True)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_fail_cleanly
def keys_list(context: click.Context, as_json: bool) -> None:
    """The keys: id, name, first characters, created, revoked."""
    infos = _open_keys(context).list()
    if as_json:
        click.echo(json.dumps([info.to_dict() for info in infos]))
        return
    for info in infos:
        state = f"revoked {info.revoked_at}" if info.revoked_at else "active"
        click.echo(f"{info.id:>4}  {info.prefix}…  {info.name}  created {info.created_at}  {state}")


@keys.command("revoke")
@click.argument("key_id", type=int)
@click.pass_context
@_fail_cleanly
def keys_revoke(context: click.Context, key_id: int) -> None:
    """Revoke a key by its id (from `matcher keys list`)."""
    info = _open_keys(context).revoke(key_id)
    click.echo(f"key {info.id} ({info.name}) revoked {info.revoked_at}")


@keys.command("password")
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (one line) instead of asking."
)
@click.pass_context
@_fail_cleanly
def keys_password(context: click.Context, name: str, password_stdin: bool) -> None:
    """Set the console password of staff member NAME (creating them); their older sessions end."""
    from service.staff_accounts import StaffAccounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = _settings(context)
    _open_keys(context)  # the catalogue, migrated
    user = StaffAccounts(settings.catalogue_path).set_password(name, password)
    click.echo(f"staff member {user.name!r} can sign in at /staff/ with this password (set {user.updated_at})")


@keys.command("disable")
@click.argument("name")
@click.pass_context
@_fail_cleanly
def keys_disable(context: click.Context, name: str) -> None:
    """Stop staff member NAME from signing in with a password (their sessions end)."""
    from service.staff_accounts import StaffAccounts

    settings = _settings(context)
    _open_keys(context)
    user = StaffAccounts(settings.catalogue_path).disable(name)
    click.echo(f"staff member {user.name!r} disabled {user.disabled_at}")


def _open_keys(context: click.Context) -> Any:
    from matcher.storage.catalogue import Catalogue
    from service.api_keys import ApiKeys

    settings = _settings(context)
    Catalogue(settings.catalogue_path).migrate()
    return ApiKeys(settings.catalogue_path)


@main.group()
def outcomes() -> None:
    """What happened to proposed pairs: record, list, import (declines as not relevant are not matched again)."""


def _open_outcomes(context: click.Context) -> Any:
    from matcher.outcomes.store import OutcomeStore
    from matcher.storage.catalogue import Catalogue

    settings = _settings(context)
    Catalogue(settings.catalogue_path).migrate()
    return OutcomeStore(settings.catalogue_path)


def _author(author: str | None) -> str:
    if not author or not author.strip():
        raise click.UsageError("Give --author (USER is not set)")
    return author


def _describe_outcome(outcome: Any) -> str:
    status = outcome.status.value
    detail = outcome.agreement_type or outcome.decline_reason
    score = f"{outcome.score:.3f}" if outcome.score is not None else "-"
    note = f'  "{_clip(outcome.note, 60)}"' if outcome.note else ""
    return (
        f"{outcome.id:>5}  {outcome.recorded_at}  {outcome.need_id}  {outcome.project_id}  "
        f"{status}{f' ({detail.value})' if detail else ''}  {score}  {outcome.author}{note}"
    )


@outcomes.command("record")
@click.option("--project-id", required=True)
@click.option("--need-id", required=True)
@click.option("--status", type=STATUSES, required=True, help="meeting and agreement are positive, declined negative.")
@click.option("--agreement-type", type=AGREEMENT_TYPES, help="Required with --status agreement.")
@click.option("--decline-reason", type=DECLINE_REASONS, help="Required with --status declined.")
@click.option("--note", help="Free text.")
@click.option("--score", type=float, help="The pair's similarity when it was proposed, if known.")
@click.option("--plan-id", help="The introduction plan that proposed the pair.")
@click.option("--author", envvar="USER", show_envvar=True, help="Who records it (default: $USER).")
@click.pass_context
@_fail_cleanly
def outcomes_record(context: click.Context, author: str | None, **values: Any) -> None:
    """Record one outcome for a project and a need (both must exist)."""
    outcome = _open_outcomes(context).record(author=_author(author), **values)
    click.echo(f"Recorded outcome {outcome.id}: {outcome.need_id} / {outcome.project_id} {outcome.status.value}")


@outcomes.command("list")
@click.option("--need-id", help="Only this need's outcomes.")
@click.option("--project-id", help="Only this project's outcomes.")
@click.option("--status", type=STATUSES, help="Only this status.")
@click.option("--limit", type=click.IntRange(1), help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
@_fail_cleanly
def outcomes_list(
    context: click.Context,
    need_id: str | None,
    project_id: str | None,
    status: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Recorded outcomes, newest first: id, time, need, project, status, score, author, note."""
    found = _open_outcomes(context).list(need_id=need_id, project_id=project_id, status=status, limit=limit)
    if as_json:
        click.echo(json.dumps([outcome.to_dict() for outcome in found], ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo("No outcomes.")
    for outcome in found:
        click.echo(_describe_outcome(outcome))


@outcomes.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--author", envvar="USER", show_envvar=True, help="Author of rows without an author column (default: $USER)."
)
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of CSV/JSON files (e.g. gb18030).")
@click.pass_context
@_fail_cleanly
def outcomes_import(context: click.Context, file: Path, author: str | None, encoding: str) -> None:
    """Record every outcome of a CSV, JSON, JSONL or XLSX FILE, all or nothing.

    Columns: project_id, need_id, status, agreement_type, decline_reason, note, score, plan_id,
    and optionally author and recorded_at (a date or ISO date-time; default now).
    """
    from matcher.ingest.readers import read_table

    table = read_table(file, encoding)
    stored = _open_outcomes(context).record_many(
        [(row.number, row.values) for row in table.rows], table.source, author=_author(author)
    )
    click.echo(f"{file}: {len(stored)} outcomes recorded")


@main.command("evaluate-outcomes")
@click.option(
    "--k",
    "k",
    default=5,
    show_default=True,
    type=click.IntRange(1),
    help="Precision of each need's top k scored pairs.",
)
@click.option(
    "--keep",
    default=0.9,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Share of positive outcomes the recommended min_score keeps.",
)
@click.option(
    "--min-labelled",
    default=20,
    show_default=True,
    type=click.IntRange(1),
    help="Pairs with a final outcome needed before any figure is given.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
@_fail_cleanly
def evaluate_outcomes(context: click.Context, k: int, keep: float, min_labelled: int, as_json: bool) -> None:
    """How well scores foretold the recorded outcomes: precision@k, rates by score band, a min_score."""
    from matcher.introductions.scoring import evaluate_recorded_outcomes

    report = evaluate_recorded_outcomes(_open(context), k=k, keep=keep, min_labelled=min_labelled)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    counts = ", ".join(f"{count} {status}" for status, count in report.counts.items())
    click.echo(f"{report.pairs} pairs, each by its latest outcome: {counts}")
    click.echo(
        f"{report.labelled} with a final outcome: {report.positives} positive (meeting or agreement), "
        f"{report.negatives} declined; {report.pending} pending (contacted); {report.unscored} without a score"
    )
    if not report.enough:
        click.echo(report.message)
        return
    click.echo(f"Positive rate: {report.positive_rate:.2f}")
    if report.precision_at_k is not None:
        click.echo(
            f"Precision@{k}: {report.precision_at_k:.2f} (mean over {report.needs_evaluated} needs), "
            f"{report.precision_at_k_pooled:.2f} pooled over their top {k}"
        )
    click.echo("By score band (match strength):")
    click.echo(f"  {'band':<11} {'labelled':>8} {'positive':>9} {'agreement':>10} {'pending':>8}")
    for band in report.bands:
        positive = f"{band.positive_rate:.2f}" if band.positive_rate is not None else "-"
        agreement = f"{band.agreement_rate:.2f}" if band.agreement_rate is not None else "-"
        label = f"{band.low:.1f} to {band.high:.1f}"
        click.echo(f"  {label:<11} {band.labelled:>8} {positive:>9} {agreement:>10} {band.pending:>8}")
    calibration = report.calibration
    if calibration is None:
        click.echo(report.message)
        return
    click.echo(
        f"Recommended min_score {calibration.min_score:.2f} (keeping at least {calibration.keep:.0%} of positive "
        f"outcomes): keeps {calibration.positives_kept} of {calibration.positives} positive outcomes and would have "
        f"removed {calibration.negatives_removed} of {calibration.negatives} declined pairs"
    )


if __name__ == "__main__":
    main()
