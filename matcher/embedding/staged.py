"""A folder made once and atomically: staged beside its place, renamed in under a lock across processes.

Model exports and conversions are pure functions of their inputs but take seconds to minutes, so
processes starting together (server workers, Ray actors, test sessions) must make one copy, and a
reader must never see a half-written one: the folder counts as made only once its marker file is
in it, and it gets there by one rename.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from matcher.errors import Unavailable

log = logging.getLogger(__name__)

MEGABYTE = 1 << 20


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (made if missing) across processes for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def made_once(folder: Path, marker: str, build: Callable[[Path], None], setting: str) -> Path:
    """``folder``, first made by ``build(staging)`` unless it already holds ``marker``.

    ``build`` writes everything, ``marker`` included, into the empty staging folder it is given. A
    failure to write (a full disk shows up from OpenVINO as a ``RuntimeError``) is an
    :class:`Unavailable` naming the folder, the free space there and ``setting``, the
    setting that chooses the place.
    """
    if (folder / marker).is_file():
        return folder
    try:
        with file_lock(folder.parent / f".{folder.name}.lock"):
            if (folder / marker).is_file():
                return folder
            if folder.exists():  # no marker: not made by this code (renames are whole), so made again
                log.warning("Removing %s: it lacks %s, so it is not a complete copy", folder, marker)
                shutil.rmtree(folder)
            staging = folder.parent / f".staging-{folder.name}-{uuid.uuid4().hex[:8]}"
            staging.mkdir()
            try:
                build(staging)
                staging.rename(folder)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except (OSError, RuntimeError) as error:
        raise Unavailable(
            f"Cannot write {folder.name} into {folder.parent} ({_free(folder.parent)} free there): {error}",
            details={"setting": setting, "path": str(folder.parent)},
        ) from None
    return folder


def _free(path: Path) -> str:
    try:
        return f"{shutil.disk_usage(path).free // MEGABYTE:,} MB"
    except OSError:
        return "unknown space"
