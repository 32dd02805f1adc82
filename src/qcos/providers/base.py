"""The :class:`NodeProvider` ABC: how a backend turns kwargs into nodes and runs chunks."""

from __future__ import annotations

import inspect
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from qcos.circuits.noise import NoiseSpec, parse_noise
from qcos.counts import Counts, counts_problem
from qcos.exceptions import NodeExecutionError
from qcos.providers.spec import QPUNodeSpec

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

    from qcos.workers import WorkerPool

logger = logging.getLogger(__name__)

#: What ``execute_batch`` returns per task: counts, ``None`` (run it on the built-in
#: Aer executor instead) or an exception (this task failed; re-run it elsewhere).
TaskOutcome = Counts | None | BaseException

__all__ = ["BuiltinExecutor", "Counts", "NodeProvider", "ShotTask", "TaskOutcome", "accepts_seed"]


@dataclass(frozen=True)
class ShotTask:
    """One chunk of shots of one circuit: the unit of work a node runs.

    ``seed`` is derived from the run seed, the circuit and ``chunk_index`` only, so
    counts do not depend on which node runs the chunk or when.
    """

    circuit: QuantumCircuit
    shots: int
    seed: int | None
    circuit_index: int = 0
    chunk_index: int = 0
    #: JSON-able options every executor must honour; ``"noise"`` holds the canonical
    #: noise spec (:mod:`qcos.circuits.noise`) when the run is noisy.
    run_options: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def noise(self) -> NoiseSpec | None:
        """The chunk's noise spec, or None for an ideal run."""
        return parse_noise(self.run_options.get("noise"), where="run_options.noise")

    @property
    def key(self) -> str:
        """A short stable label, e.g. ``c12/k0``, for logs and errors."""
        return f"c{self.circuit_index}/k{self.chunk_index}"


class BuiltinExecutor(Protocol):
    """The built-in Aer executor of one run (``DistributedQVM`` passes its own to :meth:`NodeProvider.run_tasks`).

    It returns one outcome per task, in order; ``declined`` says the provider was asked
    first and left these chunks (their counts are marked as a fallback).
    """

    def __call__(self, tasks: Sequence[ShotTask], node: QPUNodeSpec, pool: WorkerPool | None, *,
                 declined: bool) -> list[TaskOutcome]: ...


class NodeProvider(ABC):
    """A backend family that contributes nodes to a cluster.

    Subclasses set ``DISPLAY_NAME`` and implement :meth:`build_nodes`. They may
    override :meth:`execute` (one chunk) and/or :meth:`execute_batch` (many chunks at
    once, for queue- or batch-oriented backends); when neither is overridden, or
    ``execute`` raises ``NotImplementedError`` or returns ``None``, qcos runs the chunk
    with its built-in Aer executor using the node's ``options``. The scheduler runs
    chunks through :meth:`run_tasks`, which calls these hooks; providers override the
    hooks, not ``run_tasks``.
    """

    DISPLAY_NAME: ClassVar[str] = ""

    #: Why the last health check failed (shown in status reports and warnings).
    health_reason: str | None = None

    @abstractmethod
    def build_nodes(self, *args: Any, **kwargs: Any) -> list[QPUNodeSpec]:
        """Turn the kwargs given to ``ClusterBuilder.add`` into at least one node.

        Raise ``ValueError`` for missing or invalid kwargs. Each provider declares the keyword
        arguments it takes (``*args, **kwargs: Any`` here lets a type checker accept any of them).
        """

    def execute(
        self,
        circuit: QuantumCircuit,
        shots: int,
        node_spec: QPUNodeSpec,
    ) -> Counts | None:
        """Run ``shots`` shots of ``circuit`` on ``node_spec`` and return counts.

        Return ``None`` or raise ``NotImplementedError`` (the default) to let the
        built-in Aer executor run it. Overrides may accept a keyword-only ``seed``
        argument; qcos then passes the chunk's reproducible seed.
        """
        raise NotImplementedError

    def execute_batch(self, tasks: Sequence[ShotTask], node_spec: QPUNodeSpec) -> list[TaskOutcome]:
        """Run many chunks on one node; the default calls :meth:`execute` per task.

        Return one outcome per task, in order: counts, ``None`` (fall back to the
        built-in executor) or an exception instance (that task alone failed and is
        re-run elsewhere). Raising fails the whole batch on this node.
        """
        seeded = accepts_seed(type(self).execute)
        execute: Callable[..., Counts | None] = self.execute  # an override may take a keyword-only seed
        outcomes: list[TaskOutcome] = []
        for task in tasks:
            try:
                if seeded:
                    counts = execute(task.circuit, task.shots, node_spec, seed=task.seed)
                else:
                    counts = execute(task.circuit, task.shots, node_spec)
            except NotImplementedError:
                counts = None
            outcomes.append(counts)
        return outcomes

    def run_tasks(self, tasks: Sequence[ShotTask], node_spec: QPUNodeSpec,
                  builtin: BuiltinExecutor) -> list[TaskOutcome]:
        """Run chunks on one node and return one checked outcome per task, in order.

        The provider's own executor (:meth:`execute_batch`, by default :meth:`execute` per
        task) runs first unless the provider runs nothing itself; the chunks it leaves
        (``None``) go to ``builtin``, the run's Aer executor, with :meth:`worker_pool`. Every
        outcome comes back as counts of its task's shots or as an exception: counts that
        break the rule of :func:`qcos.counts.counts_problem` become a ``NodeExecutionError``
        (the chunk is re-run elsewhere). Raising fails the whole batch on this node.
        """
        tasks = list(tasks)
        foreign = not self.uses_builtin_executor()
        outcomes: list[TaskOutcome] = [None] * len(tasks)
        if foreign:
            returned = self.execute_batch(tasks, node_spec)
            try:
                outcomes = list(returned)  # a list, a tuple or a generator
            except TypeError:
                outcomes = []
            if len(outcomes) != len(tasks) or isinstance(returned, (str, bytes, dict)):
                got = len(outcomes) if isinstance(returned, Iterable) else type(returned).__name__
                raise NodeExecutionError(node_spec.node_id, f"{type(self).__name__}.execute_batch returned "
                                         f"{got} outcomes for {len(tasks)} chunks")
        left = [i for i, outcome in enumerate(outcomes) if outcome is None]
        if left:
            ran = builtin([tasks[i] for i in left], node_spec, self.worker_pool(), declined=foreign)
            for i, outcome in zip(left, ran, strict=True):
                outcomes[i] = outcome
        return [_checked(outcome, task, node_spec.node_id) for outcome, task in zip(outcomes, tasks, strict=True)]

    def health_check(self) -> bool:
        """Return False when the backend is unreachable; its nodes then go offline."""
        return True

    def status(self) -> dict[str, Any] | None:
        """Backend state worth showing in ``QPURegistry.status_report()`` (tunnel, queue...)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, deliberately empty
        """Release connections, tunnels or executors; called by ``QPURegistry.close()``."""

    def worker_pool(self) -> WorkerPool | None:
        """Warm Aer worker processes that run this provider's built-in chunks (None: in-thread)."""
        return None

    @classmethod
    def uses_builtin_executor(cls) -> bool:
        """True when the class runs nothing itself (neither execute nor execute_batch overridden)."""
        return cls.execute is NodeProvider.execute and cls.execute_batch is NodeProvider.execute_batch

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.DISPLAY_NAME!r}>"


def _checked(outcome: TaskOutcome, task: ShotTask, node_id: str) -> TaskOutcome:
    """An exception as it is; counts when they are counts of the task's shots, else the error saying why."""
    if isinstance(outcome, BaseException):
        return outcome
    problem = counts_problem(outcome, task.shots)
    if problem is not None:
        return NodeExecutionError(node_id, f"chunk {task.key}: {problem}")
    return outcome


@lru_cache(maxsize=256)
def accepts_seed(function: Any) -> bool:
    """Whether an ``execute`` implementation takes a ``seed`` keyword."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "seed" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())
