"""Bulk encoding on a Ray cluster: the texts an embedding cache lacks, encoded by a pool of actors.

A very large file is encoded faster by many machines than by one. Ray Data spreads batches of
like-length texts over an actor pool; each actor builds its encoder once, from a picklable
zero-argument factory the caller gives (e.g. ``functools.partial(make_embedder, ...)``), and the
driver writes what comes back into the same :class:`~matcher.embedding.cache.VectorCache`
(by the cache's own keys) as batches finish. A later ingest then finds every vector in the cache
and encodes nothing, so it stays all or nothing; vectors left in the cache by a failed run are
harmless. Ray is imported only when a cluster is used; nothing here needs it otherwise.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from matcher.embedding.cache import VectorCache, sentence_bounds
from matcher.embedding.encoder import Embedder, SpanVectors
from matcher.errors import ConfigError, Unavailable

log = logging.getLogger(__name__)

# A picklable callable that builds one encoder (in each actor, once).
EmbedderFactory = Callable[[], Embedder]

LOCAL_ADDRESS = "local"  # start a Ray cluster inside this process
CLIENT_SCHEME = "ray://"
# Seconds to wait for a cluster's port to answer before calling the address unreachable.
CONNECT_TIMEOUT_SECONDS = 5.0
RAY_REQUIREMENT = "ray[data]==2.60.0"
SETTING = "ray_address"


@dataclass(frozen=True)
class ClusterOptions:
    """Where and how to encode: the cluster's address, the actor pool, the batches.

    ``source`` names where the address came from (the setting, or a command's option), for messages.
    """

    address: str
    workers: int = 2
    batch_size: int = 64
    worker_threads: int = 1
    show_progress: bool = False
    source: str = "setting 'ray_address'"

    def __post_init__(self) -> None:
        for name in ("workers", "batch_size", "worker_threads"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"Setting 'ray_{name}' must be at least 1, got {getattr(self, name)}",
                    details={"setting": f"ray_{name}"},
                )


@dataclass(frozen=True)
class Channel:
    """One dense channel to fill: its cache, how a worker builds its encoder, and whether the cache
    keeps each text's sentence sums too (the English channel's explanations read them)."""

    cache: VectorCache
    factory: EmbedderFactory
    with_sentences: bool


@dataclass(frozen=True)
class FillReport:
    """What one channel's fill did: distinct texts asked, how many were encoded (the rest were cached)."""

    model: str
    texts: int
    encoded: int
    seconds: float


def fill_caches(texts: Sequence[str], channels: Sequence[Channel], options: ClusterOptions) -> list[FillReport]:
    """Encode on the cluster every text of ``texts`` some channel's cache lacks, and store the vectors.

    The cluster is joined only when some text is missing; it is left again at the end (a cluster
    this call started is stopped). An error names ``options.source`` where the address is at fault.
    """
    distinct = len(dict.fromkeys(texts))
    wanted = [(channel, channel.cache.missing(texts)) for channel in channels]
    reports = [FillReport(channel.cache.embedder.name, distinct, 0, 0.0) for channel, _ in wanted]
    if not any(missing for _, missing in wanted):
        log.info("Every one of the %d texts is in the embedding cache already: nothing to encode", distinct)
        return reports
    with ray_connection(options):
        for position, (channel, missing) in enumerate(wanted):
            if missing:
                started = time.perf_counter()
                encode_on_cluster(channel, missing, options)
                reports[position] = FillReport(
                    channel.cache.embedder.name, distinct, len(missing), time.perf_counter() - started
                )
    return reports


def _import_ray(source: str) -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise Unavailable(
            f"The {source} asks for a Ray cluster, but Ray is not installed; install {RAY_REQUIREMENT!r} "
            "(on the workers too), or give no address to encode in this process",
            details={"setting": SETTING, "requirement": RAY_REQUIREMENT},
        ) from None
    return ray


def _host_and_port(address: str) -> tuple[str, int] | None:
    """The host and port of ``HOST:PORT`` or ``ray://HOST:PORT`` (None for "auto" and the like)."""
    bare = address.removeprefix(CLIENT_SCHEME)
    host, separator, port = bare.rpartition(":")
    if not separator or not port.isdecimal():
        return None
    return host.strip("[]"), int(port)


def _check_reachable(address: str, source: str) -> None:
    """Fail in seconds, naming its source, where ``address``'s port does not answer (Ray would retry for long)."""
    place = _host_and_port(address)
    if place is None:
        return
    try:
        socket.create_connection(place, timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as error:
        raise Unavailable(
            f"No Ray cluster answers at {address} ({source}): {error.strerror or error}. Start one "
            "with `ray start --head`, give its address as HOST:6379 (or ray://HOST:10001), or 'local'",
            details={"setting": SETTING, "address": address},
        ) from None


@contextmanager
def ray_connection(options: ClusterOptions) -> Iterator[None]:
    """This process connected to the cluster at ``options.address`` for the block (or one started here
    for "local"); a connection the caller made already is used and left open."""
    ray = _import_ray(options.source)
    if ray.is_initialized():
        yield
        return
    address = options.address.strip()
    if not address:
        raise ConfigError(f"The {options.source} is empty: no cluster to encode on", details={"setting": SETTING})
    if address != LOCAL_ADDRESS:
        _check_reachable(address, options.source)
    try:
        ray.init(
            address=None if address == LOCAL_ADDRESS else address,
            include_dashboard=False if address == LOCAL_ADDRESS else None,
            log_to_driver=False,
            logging_level=logging.WARNING,
            configure_logging=False,
        )
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as error:
        if _refused_token(error, ray.exceptions.AuthenticationError):
            raise Unavailable(
                f"The Ray cluster at {address} ({options.source}) uses token authentication and "
                "refused this process: set RAY_AUTH_MODE=token and give the cluster's token "
                "(RAY_AUTH_TOKEN, a file named by RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token)",
                details={"setting": SETTING, "address": address},
            ) from None
        raise Unavailable(
            f"Could not join the Ray cluster at {address} ({options.source}): {error}",
            details={"setting": SETTING, "address": address},
        ) from None
    try:
        yield
    finally:
        ray.shutdown()


def _refused_token(error: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``error``, or an error it was raised from, is the cluster refusing this process's token.

    Ray wraps the refusal (``kind``) in a RuntimeError whose text quotes it, inside a ConnectionError.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind) or any(mark in str(current) for mark in ("InvalidAuthToken", kind.__name__)):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _encoder_name(factory: EmbedderFactory) -> str:
    """Run on a worker: the identity of the encoder the factory builds there (nothing is loaded)."""
    return factory().identity


class _EncoderActor:
    """One actor of the pool: builds its encoder once, then encodes the batches it is given."""

    def __init__(self, factory: EmbedderFactory, with_sentences: bool, threads: int, identity: str) -> None:
        self.embedder = factory()
        # Every actor checks itself: on a mixed cluster one node may compute in another precision,
        # or lack a runtime, and its vectors must never be stored under the cache's identity.
        if self.embedder.identity != identity:
            raise ConfigError(
                f"This Ray worker builds the encoder {self.embedder.identity!r}, not the data folder's {identity!r}; "
                "give every worker the same environment and model settings",
                details={"setting": SETTING, "model": identity, "workers_model": self.embedder.identity},
            )
        limit = getattr(self.embedder, "limit_threads", None)
        if callable(limit):
            limit(threads)
        self.with_sentences = with_sentences

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(text) for text in batch["text"]]
        if not self.with_sentences:
            return {"row": batch["row"], "vector": self.embedder.encode(texts)}
        vectors, parts = self.embedder.encode_spans(texts, sentence_bounds(texts))
        sums = np.empty(len(parts), dtype=object)
        sums[:] = [part.to_bytes() for part in parts]
        return {"row": batch["row"], "vector": vectors, "sentences": sums}


def length_batches(texts: Sequence[str], batch_size: int) -> list[list[int]]:
    """Positions of ``texts`` in batches of at most ``batch_size``, longest texts first: each batch
    holds texts of like lengths, so the model pads least."""
    order = sorted(range(len(texts)), key=lambda position: -len(texts[position]))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def _check_identity(ray: Any, channel: Channel, source: str) -> None:
    """Refuse when the workers' encoder is not the cache's: its vectors would be stored under the wrong key."""
    wanted = channel.cache.embedder.identity
    try:
        found = ray.get(ray.remote(num_cpus=0)(_encoder_name).remote(channel.factory))
    except ray.exceptions.RayError as error:
        raise Unavailable(
            f"The Ray cluster's workers could not build the encoder {wanted} ({source}); they need "
            f"this project and its model packages installed: {_first_line(error)}",
            details={"setting": SETTING, "model": wanted},
        ) from None
    if found != wanted:
        raise ConfigError(
            f"The Ray cluster's workers build the encoder {found!r}, not this data folder's {wanted!r}; "
            "give them the same model settings",
            details={"setting": SETTING, "model": wanted, "workers_model": found},
        )


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def encode_on_cluster(channel: Channel, texts: Sequence[str], options: ClusterOptions) -> None:
    """Encode ``texts`` (distinct, none cached) on the connected cluster and store them batch by batch."""
    ray = _import_ray(options.source)
    import pyarrow as pa  # a dependency of ray[data]

    _check_identity(ray, channel, options.source)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = options.show_progress
    if not options.show_progress:
        # Without bars Ray Data logs its progress every few seconds instead: noise for a command.
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    blocks = [
        pa.table({"row": np.asarray(batch, dtype=np.int64), "text": [texts[position] for position in batch]})
        for batch in length_batches(texts, options.batch_size)
    ]
    # No more actors than batches: an actor without work would only load its model (Ray warns too).
    workers = min(options.workers, len(blocks))
    log.info(
        "Encoding %d texts with %s on Ray: %d batches over %d workers",
        len(texts),
        channel.cache.embedder.name,
        len(blocks),
        workers,
    )
    dataset = ray.data.from_arrow(blocks).map_batches(
        _EncoderActor,
        fn_constructor_args=(
            channel.factory,
            channel.with_sentences,
            options.worker_threads,
            channel.cache.embedder.identity,
        ),
        batch_size=options.batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=options.worker_threads,
    )
    stored = 0
    try:
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            chosen = [texts[int(position)] for position in batch["row"]]
            sums = (
                [SpanVectors.from_bytes(bytes(blob)) for blob in batch["sentences"]] if channel.with_sentences else None
            )
            channel.cache.store(chosen, batch["vector"], sums)
            stored += len(chosen)
    except ray.exceptions.RayError as error:
        raise Unavailable(
            f"Encoding on the Ray cluster failed after {stored} of {len(texts)} texts ({options.source}): "
            f"{_first_line(error)}; the texts encoded so far stay in the cache",
            details={"setting": SETTING, "stored": stored, "texts": len(texts)},
        ) from None
    if stored != len(texts):
        raise Unavailable(
            f"The Ray cluster returned {stored} of {len(texts)} vectors ({options.source})",
            details={"setting": SETTING, "stored": stored, "texts": len(texts)},
        )
