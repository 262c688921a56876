"""Owner-only files and folders: what a data folder holds (catalogue, caches, indexes) is private.

Where this is enforced, and why there:

* The ``matcher`` command (``service/cli.py``) sets the process umask to :data:`PRIVATE_UMASK`
  (0o077) for as long as a command runs, the server included: gunicorn's workers are forked from
  it and inherit it. That covers every file the process writes, those written by code this
  project does not control too: SQLite's ``-wal`` and ``-shm``, the FAISS and bm25s files of an
  index generation, its staging folders.
* The library never changes the umask. It is one setting of the whole process, shared by every
  thread, with no way to change it for one thread or one call: an application that embeds the
  library would find the files it writes elsewhere (reports, exports, sockets), maybe at that
  very moment in another thread, given other modes than it asked for. So the library makes what
  it creates itself owner-only whatever the umask: missing folders 0o700
  (:func:`make_private_folder`), the SQLite databases created 0o600 before SQLite opens them
  (:func:`create_private_file`; SQLite gives a database's ``-wal`` and ``-shm`` the database
  file's own mode), the write lock 0o600; atomic writes go through ``mkstemp``, which is 0o600.
  And opening a data folder tightens the folder itself to 0o700 (:func:`tighten_folder`), so
  whatever else lies in it (left by an older version, or written by a third-party library under
  the embedding application's umask) is out of reach of other users.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077  # no permission bit for group or others on anything created
FOLDER_MODE = 0o700
FILE_MODE = 0o600


def make_private_folder(path: Path) -> None:
    """Create ``path`` and any missing parents with mode 0o700; an existing folder is left as it is."""
    if path.is_dir():
        return
    parent = path.parent
    if parent != path and not parent.exists():
        make_private_folder(parent)
    try:
        path.mkdir(mode=FOLDER_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0o600 unless it exists (its folder too, 0o700).

    An existing file is not opened at all, so one on a read-only disk or of another user's stays
    readable (SQLite opens it read-only), and none is ever truncated.
    """
    if path.exists():
        return
    make_private_folder(path.parent)
    with contextlib.suppress(FileExistsError):  # another thread or process made it first
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def tighten_folder(path: Path) -> None:
    """Make the data folder ``path`` owner-only: created 0o700, or an existing one stripped of group and other bits.

    A folder of another user's, or a shared one with the sticky bit (``/tmp``), is not changed: the
    warning names it instead.
    """
    make_private_folder(path)
    status = path.stat()
    mode = stat.S_IMODE(status.st_mode)
    if not mode & PRIVATE_UMASK:
        return
    if status.st_uid != os.geteuid() or mode & stat.S_ISVTX:
        log.warning(
            "Data folder %s can be read by other users (mode %o), and is not this user's to tighten", path, mode
        )
        return
    try:
        os.chmod(path, mode & ~PRIVATE_UMASK)
    except OSError as error:
        log.warning("Data folder %s can be read by other users (mode %o): %s", path, mode, error)
    else:
        log.info("Data folder %s made owner-only (mode %o, was %o)", path, mode & ~PRIVATE_UMASK, mode)
