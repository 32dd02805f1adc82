"""Every error qcos raises on purpose derives from :class:`QcosError`."""

from __future__ import annotations

import enum
from typing import ClassVar


class RetryDecision(enum.Enum):
    """What a failed attempt calls for; every :class:`QcosError` class states its own as ``retry``."""

    #: A passing fault (connection refused or reset, HTTP 429/500/502/503): the same target may
    #: succeed after a pause.
    RETRY = "retry"
    #: This target failed (timed out, refused the request, broke): do not try it here again at
    #: once; another node, or a new job, may succeed.
    ELSEWHERE = "elsewhere"
    #: The input is at fault (its circuit, OpenQASM or configuration): every target would fail it
    #: the same way, so it is never retried.
    NEVER = "never"


#: HTTP statuses worth retrying on the same server (it may recover); 504 (the request ran past
#: the server's own timeout) and 4xx answers are not.
RETRY_STATUSES = frozenset({429, 500, 502, 503})
#: How a qcos bridge labels an error that any node would give for that circuit
#: (the ``X-Qcos-Error-Cause`` header, or a batch result's ``cause``).
CIRCUIT_CAUSE = "circuit"
#: The HTTP header that carries that label (header names are case-insensitive).
CAUSE_HEADER = "X-Qcos-Error-Cause"


class QcosError(Exception):
    """Base class of all qcos errors; the message says what is wrong and what to do.

    Its text never carries a secret: URL user-info, Authorization values and secret
    assignments are masked (:func:`qcos.redact.mask_text`), whatever a message quoted.
    ``retry`` says what a failure of this class calls for (:func:`retry_decision`).
    """

    retry: ClassVar[RetryDecision] = RetryDecision.ELSEWHERE

    def __str__(self) -> str:
        from qcos.redact import mask_text

        return mask_text(super().__str__())


class ProviderError(QcosError):
    """A node provider is misdefined, misconfigured or failed."""


class UnknownProviderError(ProviderError, KeyError):
    """A provider name is not registered (also a ``KeyError``, as in the original API)."""

    def __str__(self) -> str:  # KeyError would repr() the message; show it plainly
        return str(self.args[0]) if self.args else ""


class ProviderRegistrationError(ProviderError, TypeError):
    """A class handed to ``NodeProviderRegistry.register`` is not a usable provider."""


class ClusterBuildError(ProviderError, ValueError):
    """``ClusterBuilder.build()`` could not turn a request into nodes."""


class NodeExecutionError(QcosError):
    """A node failed to run a chunk; the scheduler re-runs the chunk elsewhere."""

    def __init__(self, node_id: str, message: str) -> None:
        super().__init__(f"node {node_id!r}: {message}")
        self.node_id = node_id


class PeerSilentError(QcosError):
    """A peer answered neither a request nor a liveness probe for ``liveness_s`` seconds (hung or frozen)."""


class NoEligibleNodeError(QcosError):
    """No healthy node can take a circuit (too wide, or every node failed)."""


class QasmError(QcosError, ValueError):
    """OpenQASM text could not be parsed; the message carries the file and line."""

    retry = RetryDecision.NEVER


class ConfigError(QcosError, ValueError):
    """A configuration file or value is invalid; the message names the key."""

    retry = RetryDecision.NEVER


class BridgeError(QcosError):
    """A REST bridge refused a request or answered something unexpected."""


class PoolUnavailable(BridgeError):
    """No bridge worker can take the request now (queue full, or every worker is down): HTTP 503."""


class TunnelError(QcosError):
    """An SSH tunnel could not be opened or kept alive."""


class HostKeyError(TunnelError):
    """An SSH host key is unknown or changed; the message says how to accept it."""


class SlurmError(QcosError):
    """Slurm rejected a submission or a job failed beyond its retries."""


class SlurmConfigError(ProviderError, ValueError):
    """Slurm dispatch settings are invalid (also a ``ValueError``, as build_nodes requires)."""

    retry = RetryDecision.NEVER


class GPUUnavailableError(SlurmError):
    """A Slurm task was asked to run Aer on a GPU that its node's Aer build cannot use.

    Running it again cannot help: every attempt of that task runs in the same environment.
    """

    retry = RetryDecision.NEVER


class DispatchError(QcosError):
    """Some chunks could not run anywhere; ``partial`` holds what did complete."""

    def __init__(self, message: str, partial: object = None) -> None:
        super().__init__(message)
        self.partial = partial


class PrimitiveError(QcosError, ValueError):
    """A Sampler, Estimator or QcosBackend was given an option or input it cannot use."""

    retry = RetryDecision.NEVER


class CircuitError(NodeExecutionError):
    """A chunk failed because of its circuit: any node would fail it the same way.

    The scheduler does not retry it on other nodes and does not count it against the node.
    """

    retry = RetryDecision.NEVER


class EndpointUnreachable(NodeExecutionError):
    """An HTTP endpoint did not answer at all (refused, reset, DNS, connect timeout, silent peer)."""

    retry = RetryDecision.RETRY


class WorkerError(QcosError):
    """An Aer worker process could not start or misbehaved."""


class WorkerPoolUnavailable(WorkerError):
    """No worker can take a job now (the pool is closed, or every worker is down)."""


def retry_decision(failure: BaseException | int, *, cause: str | None = None) -> RetryDecision:
    """What ``failure`` calls for: an exception, or an HTTP error status with the peer's ``cause`` label.

    A :class:`QcosError` answers with its class's ``retry``; OS-level connection failures
    (``ConnectionError``) pass (RETRY), a ``TimeoutError`` or any other exception does not
    (ELSEWHERE). A status labelled ``cause="circuit"`` is NEVER retried; 429/500/502/503 are
    (RETRY); any other status (504, 4xx) is ELSEWHERE.
    """
    if isinstance(failure, BaseException):
        if isinstance(failure, QcosError):
            return failure.retry
        return RetryDecision.RETRY if isinstance(failure, ConnectionError) else RetryDecision.ELSEWHERE
    if (cause or "").lower() == CIRCUIT_CAUSE:
        return RetryDecision.NEVER
    return RetryDecision.RETRY if failure in RETRY_STATUSES else RetryDecision.ELSEWHERE
