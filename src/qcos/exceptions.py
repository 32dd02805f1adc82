"""Every error qcos raises on purpose derives from :class:`QcosError`."""

from __future__ import annotations


class QcosError(Exception):
    """Base class of all qcos errors; the message says what is wrong and what to do.

    Its text never carries a secret: URL user-info, Authorization values and secret
    assignments are masked (:func:`qcos.redact.mask_text`), whatever a message quoted.
    """

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


class ConfigError(QcosError, ValueError):
    """A configuration file or value is invalid; the message names the key."""


class BridgeError(QcosError):
    """A REST bridge refused a request or answered something unexpected."""


class TunnelError(QcosError):
    """An SSH tunnel could not be opened or kept alive."""


class HostKeyError(TunnelError):
    """An SSH host key is unknown or changed; the message says how to accept it."""


class SlurmError(QcosError):
    """Slurm rejected a submission or a job failed beyond its retries."""


class DispatchError(QcosError):
    """Some chunks could not run anywhere; ``partial`` holds what did complete."""

    def __init__(self, message: str, partial: object = None) -> None:
        super().__init__(message)
        self.partial = partial


class PrimitiveError(QcosError, ValueError):
    """A Sampler, Estimator or QcosBackend was given an option or input it cannot use."""


class CircuitError(NodeExecutionError):
    """A chunk failed because of its circuit: any node would fail it the same way.

    The scheduler does not retry it on other nodes and does not count it against the node.
    """


class WorkerError(QcosError):
    """An Aer worker process could not start or misbehaved."""


class WorkerPoolUnavailable(WorkerError):
    """No worker can take a job now (the pool is closed, or every worker is down)."""
