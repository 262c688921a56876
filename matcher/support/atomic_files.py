"""Writing a file so that a reader sees the old one or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
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
