"""Writing a file so that a reader sees the old one or the new one, never half of one."""

from __future__ import annotations

import glob
import os
import tempfile
import time
from pathlib import Path

from matcher.support.permissions import make_private_folder


def write_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` beside ``path``, flush it to disk, then rename it into place in one step.

    The file is owner-only (0o600, as ``mkstemp`` makes it), and so is a folder made for it.
    """
    make_private_folder(path.parent)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def remove_stale_temporaries(path: Path, older_than: float) -> list[Path]:
    """Remove the temporary files :func:`write_atomically` left beside ``path`` when a process died mid-write.

    Only those last modified more than ``older_than`` seconds ago go: a live write holds its
    temporary file for as long as writing and fsyncing it take, and the writer may not hold any
    lock the caller holds. Returns what was removed.
    """
    if not path.parent.is_dir():
        return []
    cutoff = time.time() - older_than
    removed = []
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*"):
        try:
            if candidate.is_file() and candidate.stat().st_mtime < cutoff:
                candidate.unlink()
                removed.append(candidate)
        except FileNotFoundError:  # renamed into place or removed meanwhile
            continue
    return removed
