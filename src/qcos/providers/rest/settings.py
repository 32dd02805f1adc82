"""The HTTP behaviour of a ``custom_rest`` provider: one dataclass, the single home of its defaults and checks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

from qcos.checks import require_int
from qcos.providers.liveness import DEFAULT_LIVENESS_S
from qcos.providers.rest.endpoints import normalize_endpoint

logger = logging.getLogger(__name__)


def _is_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


@dataclass(frozen=True)
class RestSettings:
    """How a provider talks to its endpoints; invalid values raise ValueError naming them.

    ``timeout_s``: read timeout of one circuit (a batch gets this × its size); ``retries`` and
    ``backoff_s``: the retry policy (:mod:`qcos.providers.rest.retry`); ``verify``: TLS
    verification, or a CA bundle path; ``proxy``: an HTTP proxy URL (proxy variables in the
    environment are ignored); ``batch``: None uses ``/run-batch`` when ``/health`` says
    ``"batch": true``, True always, False never; ``batch_size``: circuits per ``/run-batch``;
    ``liveness_s``: seconds a qcos bridge may answer neither a request nor ``/health`` before
    its request is aborted and its chunks run elsewhere (None: off).
    """

    timeout_s: float = 60.0
    retries: int = 2
    backoff_s: float = 0.25
    verify: bool | str = True
    proxy: str | None = None
    batch: bool | None = None
    batch_size: int = 256
    liveness_s: float | None = DEFAULT_LIVENESS_S

    def __post_init__(self) -> None:
        if not _is_number(self.timeout_s) or not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be a positive number of seconds, got {self.timeout_s!r}")
        require_int("retries", self.retries, minimum=0, maximum=20)
        if not _is_number(self.backoff_s) or self.backoff_s < 0:
            raise ValueError(f"backoff_s must be a number >= 0, got {self.backoff_s!r}")
        if not isinstance(self.verify, (bool, str)):
            raise ValueError(f"verify must be True, False or a CA bundle path, got {self.verify!r}")
        if self.proxy is not None:
            normalize_endpoint(self.proxy)
        if self.batch is not None and not isinstance(self.batch, bool):
            raise ValueError(f"batch must be True, False or None (auto), got {self.batch!r}")
        require_int("batch_size", self.batch_size)
        if self.liveness_s is not None and (not _is_number(self.liveness_s) or not self.liveness_s > 0):
            raise ValueError(f"liveness_s must be a positive number of seconds or None (off), got {self.liveness_s!r}")
        object.__setattr__(self, "timeout_s", float(self.timeout_s))
        object.__setattr__(self, "backoff_s", float(self.backoff_s))
        if self.liveness_s is not None:
            object.__setattr__(self, "liveness_s", float(self.liveness_s))

    @property
    def connect_timeout_s(self) -> float:
        """Seconds to wait for a TCP (and TLS) connection: the read timeout, at most 10."""
        return min(10.0, self.timeout_s)


#: The names of :class:`RestSettings`' fields (the HTTP keyword arguments of ``build_nodes``).
SETTING_NAMES = tuple(field.name for field in fields(RestSettings))
