"""Atomic file writes whose files follow the umask, so results are as readable as the user wants."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

logger = logging.getLogger(__name__)

#: the mode new files are created with before the umask applies (as ``open(path, "w")`` does)
FILE_MODE = 0o666


def atomic_write_bytes(path: str | Path, data: bytes, *, mode: int = FILE_MODE) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace`` (no torn files).

    The temporary file is created with ``mode & ~umask`` (0644 under umask 022), unlike
    ``tempfile.mkstemp``'s fixed 0600, so results are shared the way the user's umask says.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str, *, mode: int = FILE_MODE) -> None:
    """UTF-8 text with ``\\n`` line ends, written as :func:`atomic_write_bytes` does."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)
