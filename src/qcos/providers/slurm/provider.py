"""The ``slurm`` provider: nodes that are Slurm task slots fed by submitit job arrays."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from qcos.exceptions import SlurmConfigError
from qcos.providers.base import NodeProvider, ShotTask, TaskOutcome
from qcos.providers.slurm.executor import SlurmDispatcher
from qcos.providers.slurm.kinds import executor_kind
from qcos.providers.slurm.options import SlurmOptions, takes_options
from qcos.providers.slurm.settings import SlurmSettings
from qcos.providers.spec import NodeType, QPUNodeSpec

logger = logging.getLogger(__name__)

class SlurmProvider(NodeProvider):
    """Nodes backed by Slurm job arrays submitted with submitit.

    Each of the ``n_nodes`` qcos nodes is one concurrent Slurm task slot: the job arrays
    run at most ``array_parallelism`` (default ``n_nodes``) tasks at once. Concurrent
    ``execute_batch`` calls of the nodes are merged into one array, split into tasks of
    at most ``circuits_per_task`` chunks. Node ``weight`` defaults to ``2 * n_nodes`` so
    that the QVM's guided self-scheduling hands these nodes large pulls (a handful of
    sbatch calls per batch) while faster local nodes in the same cluster still get work.
    """

    DISPLAY_NAME: ClassVar[str] = "Slurm job arrays (submitit)"
    ID_PREFIX: ClassVar[str] = "slurm"
    #: the GPU vendor of the compute nodes ("amd"/"nvidia"), None: detected in the task
    GPU_VENDOR: ClassVar[str | None] = None

    def __init__(self) -> None:
        self.settings: SlurmSettings | None = None
        self.dispatcher: SlurmDispatcher | None = None
        self.health_reason: str | None = None

    @takes_options(SlurmOptions)
    def build_nodes(self, **kwargs: Any) -> list[QPUNodeSpec]:
        """One node per concurrent Slurm task slot; the arguments are :class:`SlurmOptions`' fields.

        ``slurm_extra`` takes any other submitit Slurm parameter (``qos``, ``constraint``,
        ``exclusive``, ``additional_parameters`` for raw sbatch flags, ...); unknown names
        are refused with the list of valid ones. ``executor='local'`` or ``'debug'`` runs
        the same path on this machine through submitit's Local/DebugExecutor. With
        ``validate`` (default) and executor ``slurm``, ``sbatch --test-only`` checks the
        partition, account and resources now, so a bad one fails before any work is queued.
        ``max_array_size`` caps the tasks of one array (default: the site's ``MaxArraySize``
        from ``scontrol show config``); larger submissions are split into several arrays.
        Raises :class:`~qcos.exceptions.SlurmConfigError` (a ``ValueError``) on bad settings.
        """
        options = SlurmOptions.parse(kwargs)
        return self.build_from_settings(options.settings(self.GPU_VENDOR), n_nodes=options.n_nodes,
                                        max_qubits=options.max_qubits, weight=options.weight, tags=options.tags,
                                        id_prefix=options.id_prefix, validate=options.validate)

    @classmethod
    def settings_for(cls, *, strict: bool = True, **kwargs: Any) -> tuple[SlurmSettings, int]:
        """The SlurmSettings and node count ``build_nodes(**kwargs)`` would use, building nothing."""
        options = SlurmOptions.parse(kwargs)
        return options.settings(cls.GPU_VENDOR), options.n_nodes

    def build_from_settings(
        self,
        settings: SlurmSettings,
        *,
        n_nodes: int,
        max_qubits: int,
        weight: float | None = None,
        tags: Sequence[str] | None = None,
        id_prefix: str | None = None,
        validate: bool = True,
    ) -> list[QPUNodeSpec]:
        """``n_nodes`` task slots dispatched with ``settings`` (checked with sbatch when ``validate``)."""
        kind = executor_kind(settings)
        problem = kind.check(settings, self.GPU_VENDOR, validate=validate)
        if problem:
            self.health_reason = problem
            logger.warning("%s", problem)
        if self.dispatcher is not None:
            self.dispatcher.close()
        self.settings = settings
        self.dispatcher = SlurmDispatcher(settings)
        prefix = id_prefix or self.ID_PREFIX
        node_tags = ["slurm", f"executor:{kind.name}"]
        node_tags += [f"partition:{settings.partition}"] if settings.partition else []
        node_tags += ["gpu"] if settings.asks_gpu else []
        node_tags += list(tags or [])
        return [
            QPUNodeSpec(
                node_id=f"{prefix}-{i}",
                node_type=NodeType.SLURM,
                max_qubits=max_qubits,
                tags=list(node_tags),
                capacity=1,
                weight=float(weight) if weight is not None else float(2 * n_nodes),
                options=settings.describe() | {"slot": i},
            )
            for i in range(n_nodes)
        ]

    def execute_batch(self, tasks: Sequence[ShotTask], node_spec: QPUNodeSpec) -> list[TaskOutcome]:
        """Run the tasks as job-array tasks; one outcome (counts or exception) per task."""
        if self.dispatcher is None:
            raise SlurmConfigError("SlurmProvider.execute_batch called before build_nodes()")
        return self.dispatcher.run(tasks, node_spec.node_id)

    def health_check(self) -> bool:
        """False when Slurm is unreachable or the partition is missing/down (reason in health_reason)."""
        if self.health_reason:
            return False
        if self.settings is None:
            return True
        self.health_reason = executor_kind(self.settings).health_problem(self.settings)
        return self.health_reason is None

    def close(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.close()

    def progress_line(self) -> str | None:
        """Array tasks pending/running in Slurm, for the dispatch's progress lines."""
        return self.dispatcher.progress_line() if self.dispatcher is not None else None

    @property
    def stats(self) -> dict[str, Any]:
        """Dispatch counters (sbatch calls, array tasks, retries, ...) for this provider."""
        return self.dispatcher.stats.as_dict() if self.dispatcher is not None else {}
