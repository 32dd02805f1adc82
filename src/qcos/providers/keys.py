"""Where a provider's API key comes from: inline, an environment variable, or a private file."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)


def resolve_api_key(
    api_key: str | None = None,
    api_key_env: str | None = None,
    api_key_file: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The key from exactly one of ``api_key``, ``$api_key_env`` or ``api_key_file`` (None: no key).

    ValueError (naming the argument) for two sources at once, an unset or blank variable, or
    a missing, unreadable or empty file. A key file readable by others is used with a warning.
    """
    given = [name for name, value in (("api_key", api_key), ("api_key_env", api_key_env),
                                      ("api_key_file", api_key_file)) if value is not None]
    if len(given) > 1:
        raise ValueError(f"give one of {', '.join(given)}, not several: they all set the API key")
    if api_key is not None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key is empty or only whitespace; set a real key or leave it out")
        return api_key.strip()
    if api_key_env is not None:
        return _from_env(api_key_env, os.environ if environ is None else environ)
    if api_key_file is not None:
        return _from_file(api_key_file)
    return None


def _from_env(name: object, environ: Mapping[str, str]) -> str:
    if not isinstance(name, str) or not name.strip() or "=" in name:
        raise ValueError(f"api_key_env must name an environment variable, got {name!r}")
    value = environ.get(name.strip())
    if value is None:
        raise ValueError(f"api_key_env: the environment variable {name.strip()} is not set; export it "
                         f"(export {name.strip()}=...) where qcos runs")
    if not value.strip():
        raise ValueError(f"api_key_env: the environment variable {name.strip()} is empty")
    return value.strip()


def _from_file(path_text: object) -> str:
    if not isinstance(path_text, str) or not path_text.strip():
        raise ValueError(f"api_key_file must be a file path, got {path_text!r}")
    return read_key_file(path_text, label="api_key_file")


def read_key_file(path_text: str | Path, *, label: str) -> str:
    """The key on the first line of a file (ValueError naming ``label`` and the file otherwise).

    A file readable by group or others is used but warned about (``chmod 600`` it).
    """
    path = Path(path_text).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except OSError as error:
        raise ValueError(f"{label} {path}: cannot read it ({error.strerror or error})") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"{label} {path}: not UTF-8 text") from error
    lines = text.strip().splitlines()
    key = lines[0].strip() if lines else ""
    if not key:
        raise ValueError(f"{label} {path} is empty; put the key on its first line")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("API key file %s is readable by other users; run `chmod 600 %s`", path, path)
    return key
