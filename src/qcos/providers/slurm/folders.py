"""Private Slurm folders: job pickles are code, so nobody else may write where they are loaded from."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from qcos.exceptions import SlurmConfigError

logger = logging.getLogger(__name__)

#: mode of folders qcos creates for Slurm jobs and results (before the umask, which can only narrow it)
FOLDER_MODE = 0o700


def _owner(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def check_private(path: Path, what: str) -> None:
    """Raise SlurmConfigError when ``path`` is owned by another user or writable by group/others."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise SlurmConfigError(f"{what} {path}: cannot inspect it ({error.strerror or error})") from error
    if not stat.S_ISDIR(info.st_mode):
        raise SlurmConfigError(f"{what} {path} is not a directory")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise SlurmConfigError(
            f"{what} {path} is owned by {_owner(info.st_uid)}, not by you ({_owner(os.getuid())}): files in it "
            "are loaded as code. Choose a folder of your own (folder=...)"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        mode = stat.S_IMODE(info.st_mode)
        raise SlurmConfigError(
            f"{what} {path} has mode {mode:04o}: other users can write into it, and files in it are loaded as "
            f"code. Run `chmod go-w {path}` (or `chmod 700 {path}`), or choose another folder (folder=...)"
        )


def private_folder(path: str | Path, what: str = "Slurm folder") -> Path:
    """Create ``path`` with mode 0700 when missing; refuse an existing one that others own or can write."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            pass  # created meanwhile (another task): checked below like any existing folder
        except OSError as error:
            raise SlurmConfigError(f"{what} {path}: cannot create it ({error.strerror or error})") from error
    check_private(path, what)
    return path
