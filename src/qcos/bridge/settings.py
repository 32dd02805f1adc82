"""Bridge settings in one place: defaults, limits and their validation."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from qcos.checks import require_int
from qcos.exceptions import ConfigError
from qcos.providers.keys import read_key_file

logger = logging.getLogger(__name__)

API_KEY_ENV = "BRIDGE_API_KEY"
DEVICES = ("CPU", "GPU")
METHODS = (
    "automatic",
    "statevector",
    "density_matrix",
    "stabilizer",
    "extended_stabilizer",
    "matrix_product_state",
)
DEFAULT_PORT = 8888
DEFAULT_MAX_QUBITS = 28
DEFAULT_MAX_SHOTS = 1_000_000
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_BATCH = 10_000
DEFAULT_MAX_QUEUE = 1_000
DEFAULT_BODY_TIMEOUT_S = 30.0
#: Seconds a client may take to send a request's headers (from connect, or from the last answer).
DEFAULT_HEADER_TIMEOUT_S = 15.0
#: Open connections at once (authenticated or not); more are closed as soon as they connect.
DEFAULT_MAX_CONNECTIONS = 256
#: Seeds must fit Aer's signed 64-bit seed (negative values mean "random" there).
MAX_SEED = 2**63 - 1


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers(device: str) -> int:
    """One worker per core (at most 8) on CPU; one on GPU, where workers share the device."""
    return 1 if device == "GPU" else max(1, min(usable_cores(), 8))


@dataclass(frozen=True)
class BridgeSettings:
    """Everything ``qcos bridge serve`` can set; the API key is kept out of ``repr``."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    device: str = "CPU"
    method: str = "automatic"
    max_qubits: int = DEFAULT_MAX_QUBITS
    workers: int = 0  # 0: default_workers(device)
    max_shots: int = DEFAULT_MAX_SHOTS
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_batch: int = DEFAULT_MAX_BATCH
    max_queue: int = DEFAULT_MAX_QUEUE
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    insecure_no_auth: bool = False
    worker_memory_mb: int | None = None  # None: auto (CPU only); 0: no limit
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        device = str(self.device).upper()
        if device not in DEVICES:
            raise ConfigError(f"device {self.device!r} is not one of {', '.join(DEVICES)}")
        object.__setattr__(self, "device", device)
        if self.method not in METHODS:
            raise ConfigError(f"method {self.method!r} is not one of {', '.join(METHODS)}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 and 65535, got {self.port}")
        for name in ("max_qubits", "max_shots", "max_body_bytes", "max_batch", "max_queue", "max_connections"):
            require_int(name, getattr(self, name), error=ConfigError)
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 1 (or 0 for the default), got {self.workers}")
        if self.workers == 0:
            object.__setattr__(self, "workers", default_workers(device))
        for name in ("timeout_s", "body_timeout_s", "header_timeout_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0 seconds, got {getattr(self, name)}")
        if self.worker_memory_mb is not None:
            require_int("worker_memory_mb", self.worker_memory_mb, minimum=0, error=ConfigError,
                        what="an integer >= 0 (0: no limit)")
        if self.api_key is not None:
            check_api_key(self.api_key, "api_key")
        if self.api_key is None and not self.insecure_no_auth and not is_loopback(self.host):
            raise ConfigError(
                f"--host {self.host} is reachable from other machines but no API key is set: anyone who can "
                f"reach it could run circuits. Set ${API_KEY_ENV} or --api-key-file, listen on 127.0.0.1 "
                "(and reach it through `qcos tunnel`), or pass --insecure-no-auth if this network is trusted"
            )

    @property
    def memory_limit_mb(self) -> int:
        """Address-space cap per worker (0: none): by default the host's RAM shared by the
        workers on CPU, so a runaway program fails alone ("out of memory", 422) instead of
        swapping the host; no cap on GPU, whose drivers reserve huge virtual ranges."""
        if self.worker_memory_mb is not None:
            return self.worker_memory_mb
        from qcos.workers.jobs import default_memory_mb

        return default_memory_mb(self.workers, self.device)

    @property
    def aer_threads(self) -> int:
        """Aer threads per worker so that concurrent workers share the cores instead of fighting."""
        return max(1, usable_cores() // self.workers)


def is_loopback(host: str) -> bool:
    """True when ``host`` (an address or a name) only ever means this machine."""
    import ipaddress
    import socket

    name = host.strip().strip("[]")
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(name, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def check_api_key(key: str, where: str) -> str:
    """The key itself; ConfigError when it is empty, blank or has inner whitespace or line breaks."""
    if not key.strip():
        raise ConfigError(f"{where} is empty or only whitespace, which would leave the bridge open; "
                          "set a real key (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    if any(c.isspace() for c in key.strip()):
        raise ConfigError(f"{where} contains whitespace; an API key is one word (e.g. from secrets.token_urlsafe)")
    return key.strip()


def load_api_key(path: str | Path | None = None, *, environ: dict[str, str] | None = None) -> str | None:
    """The key from ``path`` (first line) if given, else from ``$BRIDGE_API_KEY``; None when neither.

    A key that is set but blank is refused (ConfigError): it must never silently turn auth off.

    A key file readable by group or others is used but warned about (``chmod 600`` it).
    """
    environ = dict(os.environ) if environ is None else environ
    if path is not None:
        try:
            key = read_key_file(path, label="--api-key-file")
        except ValueError as error:
            raise ConfigError(str(error)) from error
        return check_api_key(key, f"--api-key-file {Path(path).expanduser()}")
    if API_KEY_ENV not in environ:
        return None
    return check_api_key(environ[API_KEY_ENV], f"${API_KEY_ENV}")
