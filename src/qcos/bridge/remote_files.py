"""A deployed bridge's files on the remote host: its private folder, the uploaded source, the API key file."""

from __future__ import annotations

import contextlib
import io
import logging
import posixpath
import secrets
import shlex
import stat
import tarfile
from pathlib import Path

from qcos.exceptions import BridgeError
from qcos.tunnels.connection import SSHConnection

logger = logging.getLogger(__name__)


def pack_source() -> bytes:
    """The installed ``qcos`` package (``.py`` files and data, no caches) as tar.gz bytes."""
    import qcos

    root = Path(qcos.__file__).resolve().parent
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
                continue
            info = archive.gettarinfo(str(path), arcname=str(Path("qcos") / path.relative_to(root)))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(path, "rb") as handle:
                archive.addfile(info, handle)
    return buffer.getvalue()


def check_remote_dir(connection: SSHConnection, directory: str, uid: int) -> None:
    """Refuse a directory another user owns or can write: they could read the key or plant files."""
    sftp = connection.sftp()
    try:
        info = sftp.stat(directory)
    finally:
        sftp.close()
    host = connection.target.hostname
    mode = stat.S_IMODE(info.st_mode or 0)
    if info.st_uid != uid:
        raise BridgeError(
            f"remote directory {host}:{directory} is owned by uid {info.st_uid}, not by the login user "
            f"(uid {uid}): its owner could read the API key or replace the bridge. Use a directory of "
            "your own (--remote-dir)"
        )
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise BridgeError(
            f"remote directory {host}:{directory} has mode {mode:04o}: other users can write into it and "
            f"plant files the bridge would follow. Run `chmod go-w {directory}` there, or use another "
            "--remote-dir"
        )


def upload_source(connection: SSHConnection, remote_dir: str) -> None:
    """Copy the local qcos source to ``remote_dir/src`` over SFTP (replacing an older copy)."""
    archive = pack_source()
    sftp = connection.sftp()
    try:
        with sftp.open(posixpath.join(remote_dir, "qcos-src.tar.gz"), "wb") as handle:
            handle.set_pipelined(True)
            handle.write(archive)
    finally:
        sftp.close()
    rc, _, err = connection.exec(
        f"cd {shlex.quote(remote_dir)} && rm -rf src.new && mkdir src.new && tar -xzf qcos-src.tar.gz -C src.new "
        f"&& rm -rf src && mv src.new src && rm -f qcos-src.tar.gz",
        timeout=120.0,
    )
    if rc != 0:
        raise BridgeError(f"unpacking qcos on the remote host failed: {err.strip()}")
    logger.info("uploaded qcos source (%d KiB) to %s/src", len(archive) // 1024, remote_dir)


def write_key_file(connection: SSHConnection, key_path: str, api_key: str) -> None:
    """Write ``api_key`` to ``key_path`` (mode 0600) over SFTP.

    No shell redirection: the file is created with O_EXCL inside a fresh 0700 directory
    (so nobody can open it in between, and no planted symlink is followed), made 0600,
    written, then renamed over the final name (a rename replaces a link, never follows it).
    """
    if not api_key.strip() or "\n" in api_key.strip():
        raise BridgeError("the API key must be one non-empty line")
    folder, name = posixpath.split(key_path)
    staging = posixpath.join(folder, f".{name}.{secrets.token_hex(8)}")
    staged = posixpath.join(staging, "key")
    sftp = connection.sftp()
    try:
        sftp.mkdir(staging, mode=0o700)
        try:
            with sftp.open(staged, "wx") as handle:
                handle.chmod(0o600)
                handle.write((api_key.strip() + "\n").encode())
            sftp.posix_rename(staged, key_path)
        finally:
            with contextlib.suppress(OSError):
                sftp.remove(staged)
            with contextlib.suppress(OSError):
                sftp.rmdir(staging)
    except OSError as error:
        raise BridgeError(f"cannot write the API key file {key_path} on the remote host: {error}") from error
    finally:
        sftp.close()


def read_remote_key(connection: SSHConnection, key_path: str) -> str | None:
    """The first line of the remote key file ``key_path``, or None when it is missing or empty."""
    sftp = connection.sftp()
    try:
        with sftp.open(key_path, "r") as handle:
            text = handle.read(4096).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        sftp.close()
    key = text.strip().splitlines()[0].strip() if text.strip() else ""
    return key or None
