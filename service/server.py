"""Running the app under gunicorn: the app factory, worker and thread counts, warm workers."""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gunicorn.app.base import BaseApplication
from threadpoolctl import threadpool_limits

from matcher.config import Settings
from matcher.engine import Matcher
from matcher.errors import Busy, MatcherError
from matcher.records import Kind
from matcher.support.permissions import PRIVATE_UMASK
from matcher.text import bilingual
from service.app import EXTENSION, create_app

log = logging.getLogger(__name__)

# A young-generation collection every 20,000 allocations instead of 700: a match with explanations
# allocates thousands of short-lived objects, and each collection also walks the survivors.
GC_THRESHOLDS = (20_000, 20, 100)

# The longest a starting worker waits for another writer before it serves and repairs in the
# background: gunicorn stops a worker that has not started within its timeout (120 s).
WARM_UP_LOCK_WAIT_SECONDS = 30.0
# How often a warming worker tells the master it is alive (well inside gunicorn's 120 s timeout).
WARM_UP_HEARTBEAT_SECONDS = 10.0


def threads_per_worker(model_threads: int, workers: int) -> int:
    """Torch and BLAS threads for each worker: the setting, else the cores shared out (at least one)."""
    return model_threads or max(1, (os.cpu_count() or 1) // workers)


@contextmanager
def heartbeat(worker: Any, every: float = WARM_UP_HEARTBEAT_SECONDS) -> Iterator[None]:
    """Notify gunicorn's master every ``every`` seconds during the block.

    The master stops a worker it has not heard from within the timeout, and a worker is silent
    until it serves. A first model export made during warm-up (half a minute on an idle machine
    here, four minutes for int8's calibration beside other work) must not pass for a hung worker.
    """
    done = threading.Event()

    def beat() -> None:
        while not done.wait(every):
            worker.notify()

    thread = threading.Thread(target=beat, name="warm-up-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def warm(worker: Any) -> None:
    """Load the model and the indexes in a new worker, before it takes requests (see :func:`heartbeat`).

    Each worker loads its own copy: torch's thread pools do not survive a fork, so the model is
    never loaded in the master.
    """
    with heartbeat(worker):
        _warm(worker)


def _warm(worker: Any) -> None:
    matcher = worker.wsgi.extensions[EXTENSION]
    threads = threads_per_worker(matcher.settings.model_threads, worker.cfg.workers)
    limit = getattr(matcher.embedder, "limit_threads", None)
    if limit is not None:
        # Each worker's torch would otherwise start a thread per core: with as many workers as
        # cores they spin against each other for the same cores.
        limit(threads)
    _ = matcher.embedder.dimension
    _ = matcher.vectors.phrase_embedder.dimension  # the model's twin for free-text phrases, when configured
    if matcher.multilingual_vectors is not None:
        multilingual = matcher.multilingual_vectors.embedder
        limit_multilingual = getattr(multilingual, "limit_threads", None)
        if limit_multilingual is not None and not matcher.settings.multilingual_threads:
            limit_multilingual(threads)  # its default, every core, in each worker would oversubscribe too
        _ = multilingual.encode(["warm up"])
        # The dictionary's reverse index takes seconds to build: beside the first requests, not before them.
        threading.Thread(target=bilingual.warm, name="bridge-warm-up", daemon=True).start()
    repair_interrupted_writes(matcher, worker.pid)
    for kind in Kind:
        try:
            matcher.index(kind)
        except Exception as error:  # an empty side is fine: it answers 503 until something is ingested
            log.warning("Worker %s: no %s index yet (%s)", worker.pid, kind.value, error)
    settle_loaded_worker(threads)


def repair_interrupted_writes(matcher: Matcher, pid: int) -> None:
    """Heal the data folder before serving: an index left behind the catalogue by a killed writer is
    brought in step (from the embedding cache) and leftovers of interrupted saves are removed.

    Under the write lock, so of two workers starting at once the second finds everything in step.
    When another writer holds the lock longer than a worker may wait to start, the worker serves
    the index as it is and a background thread repairs once the lock is free.
    """
    limit = matcher.settings.write_lock_timeout
    wait = min(limit, WARM_UP_LOCK_WAIT_SECONDS) if limit > 0 else WARM_UP_LOCK_WAIT_SECONDS
    try:
        repair = matcher.heal(timeout=wait)
    except Busy:
        log.warning("Worker %s: another writer holds the write lock; repairing in the background", pid)
        threading.Thread(target=_repair_later, args=(matcher, pid), name="repair", daemon=True).start()
        return
    except MatcherError as error:
        log.error("Worker %s: could not repair the data folder: %s", pid, error.message)
        return
    if repair.synced:
        log.warning("Worker %s: repaired the %s index(es)", pid, ", ".join(kind.value for kind in repair.synced))


def _repair_later(matcher: Matcher, pid: int) -> None:
    try:
        matcher.heal(timeout=0)  # no limit: nothing waits on this thread
    except Exception:
        log.exception("Worker %s: could not repair the data folder", pid)


def settle_loaded_worker(threads: int) -> None:
    """What a worker sets once its model and indexes are loaded: BLAS threads and the garbage collector.

    numpy's BLAS gets the same number of threads as torch: explaining ten matches multiplies
    small matrices, which OpenBLAS splits over every core, and its threads spin while they wait
    (in the load test a worker answered about a third as many requests by id with them). Set
    after loading, so it reaches every BLAS library the model and the indexes brought in.
    """
    threadpool_limits(limits=threads, user_api="blas")
    settle_garbage_collector()


def settle_garbage_collector() -> None:
    """Keep the garbage collector off what a worker loaded once (model, indexes) and make it collect less often.

    Left alone, a full collection walks every object the worker holds (about half a million after
    loading), about 100 ms during which no request of that worker moves: the load test's p99.
    The middle and full collections come rarer too (after 20 and 100 of the generation below
    instead of 10 and 10): cyclic garbage lives longer, which costs memory, not latency. Frozen
    objects are still freed when their last reference goes (an index generation replaced by
    re-indexing is), but a frozen object caught in a reference cycle is never collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class Server(BaseApplication):  # type: ignore[misc]
    """gunicorn with the techmatch app; re-indexing needs no restart (readers follow CURRENT)."""

    def __init__(self, settings: Settings, host: str, port: int, workers: int, threads: int) -> None:
        self.settings = settings.replace(show_progress=False)  # no progress bars in a server's log
        self.options = {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread" if threads > 1 else "sync",
            # Not preloaded: each worker builds its own app, so no SQLite connection or torch state
            # crosses a fork (the app is cheap; the model is loaded per worker either way).
            "preload_app": False,
            # No keep-alive: each request takes a new connection, which the least busy worker
            # accepts. Kept-alive connections stay with the worker that accepted them, and under
            # load one worker could end up with most clients while the other idled (the load test
            # at 16 clients swung between 100 and 230 requests/s). Loopback or a proxy in front
            # makes the extra connection cheap.
            "keepalive": 0,
            # A threaded worker takes a connection only while one of its threads is free; by
            # default it would take up to 1,000 and queue them behind its busy threads while the
            # other worker might idle. Left in the listen queue, a request goes to whichever
            # worker frees a thread first.
            "worker_connections": threads,
            "timeout": 120,
            "graceful_timeout": 30,
            "post_worker_init": warm,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            # gunicorn's own files (a worker's heartbeat file, a unix socket) owner-only like the
            # data folder's, instead of its default umask 0 while it makes them.
            "umask": PRIVATE_UMASK,
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app(self.settings)

    def run(self) -> None:
        """Serve until stopped. The server owns its process, so it sets the umask: every file the
        master and its forked workers write is owner-only (``matcher/support/permissions.py``)."""
        os.umask(PRIVATE_UMASK)
        super().run()
