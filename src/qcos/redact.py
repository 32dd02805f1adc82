"""One secret masker for provenance, logs, run records and error messages, so no path leaks a key.

:func:`mask` walks mappings and sequences: a value under a secret-looking key (``api_key``,
``token``, ``password``, ``Authorization``, ...; not ``api_key_env``/``api_key_file``, which
only say where a key lives) becomes ``"***"``; every string is passed through
:func:`mask_text`, which hides URL user-info (``https://user:pw@host``), ``Authorization``
header values, ``Bearer``/``Basic`` credentials, and ``NAME=value`` / ``NAME: value`` /
``--name value`` assignments whose name looks secret (``export HF_TOKEN=...`` in a Slurm
``setup`` line, ``--api-key x`` on a command line).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

MASK = "***"

#: the last word of a name that holds a secret (``BRIDGE_API_KEY``, ``hfToken``, ``db-password``)
_SECRET_WORDS = frozenset({
    "key", "keys", "apikey", "token", "tokens", "secret", "secrets", "password", "passwords", "passwd", "pwd",
    "passphrase", "credential", "credentials", "authorization", "auth", "cookie", "session",
})
#: a name whose last word is one of these says *where* a secret is, which is not secret
_POINTER_WORDS = frozenset({"env", "file", "path", "name", "id", "ids", "dir", "enabled", "required"})

_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@]+)@")
_AUTH_HEADER = re.compile(
    r"(?P<name>\bauthorization\b[\"']?\s*[:=]\s*[\"']?)(?P<value>(?:bearer|basic|token|digest)?\s*[^\s\"',}]+)",
    re.IGNORECASE,
)
_SCHEME_CREDENTIAL = re.compile(r"\b(?P<scheme>Bearer|Basic)\s+(?P<value>[A-Za-z0-9._~+/=-]{3,})")
_ASSIGNMENT = re.compile(
    r"(?P<name>(?<![\w.-])-{0,2}[A-Za-z_][A-Za-z0-9_.-]*)(?P<q1>[\"']?)(?P<sep>\s*[=:]\s*)(?P<q2>[\"']?)"
    r"(?P<value>[^\s\"',;&}\]]+)"
)
_FLAG = re.compile(r"(?P<name>(?<![\w-])--?[A-Za-z][A-Za-z0-9_.-]*)(?P<sep>\s+)(?P<value>[^\s\"'-][^\s\"']*)")


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name.strip("-"))
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def is_secret_name(name: object) -> bool:
    """True for names such as ``api_key``, ``BRIDGE_API_KEY``, ``hfToken``, ``password``, ``Authorization``."""
    words = _words(str(name))
    if not words or words[-1] in _POINTER_WORDS:
        return False
    last = words[-1]
    if last in _SECRET_WORDS or "".join(words[-2:]) in ("apikey", "accesskey", "privatekey"):
        return True
    return any(last.endswith(word) for word in _SECRET_WORDS if len(word) >= 5)  # PGPASSWORD, GHTOKEN


#: plural names, in prose followed by a colon, introduce lists ("allowed keys: a, b"), not secrets
_PLURALS = frozenset({"keys", "tokens", "secrets", "passwords", "credentials"})


def _assignment(match: re.Match[str]) -> str:
    name = match.group("name")
    if not is_secret_name(name) or match.group("value") == MASK:
        return match.group(0)
    if ":" in match.group("sep") and not match.group("q1") and _words(name)[-1] in _PLURALS:
        return match.group(0)
    return f"{match.group('name')}{match.group('q1')}{match.group('sep')}{match.group('q2')}{MASK}"


def _flag(match: re.Match[str]) -> str:
    if not is_secret_name(match.group("name")) or match.group("value") == MASK:
        return match.group(0)
    return f"{match.group('name')}{match.group('sep')}{MASK}"


def mask_text(text: str) -> str:
    """``text`` with URL user-info, Authorization values and secret assignments replaced by ``***``."""
    if not text:
        return text
    text = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group('name')}{MASK}", text)
    text = _SCHEME_CREDENTIAL.sub(lambda m: f"{m.group('scheme')} {MASK}", text)
    text = _ASSIGNMENT.sub(_assignment, text)
    return _FLAG.sub(_flag, text)


def mask(value: Any) -> Any:
    """A copy of ``value`` (mappings, lists, tuples, strings; nested) with every secret masked."""
    if isinstance(value, Mapping):
        return {k: (_masked_value(v) if is_secret_name(k) else mask(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask(v) for v in value) if isinstance(value, list) else tuple(mask(v) for v in value)
    if isinstance(value, str):
        return mask_text(value)
    return value


def _masked_value(value: Any) -> Any:
    if value is None or isinstance(value, bool) or value == "" or value == [] or value == {}:
        return value  # nothing secret in "no key" or a flag
    return MASK


class RedactingFilter(logging.Filter):
    """A handler filter that masks secrets in the formatted message and traceback of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler's own error path
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True


def redact_handlers(root: logging.Logger | None = None) -> None:
    """Add a :class:`RedactingFilter` to every handler of ``root`` (default: the root logger) once."""
    for handler in (root or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
