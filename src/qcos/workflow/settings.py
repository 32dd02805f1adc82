"""One typed view of a validated workflow config, built once and handed to every step.

Every default lives in ``workflow/schemas/config.schema.yaml``: :meth:`RunSettings.from_config`
reads a config the schema has already validated and filled, and refuses one it has not.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from qcos.exceptions import ConfigError

logger = logging.getLogger(__name__)

#: providers whose nodes run in the dispatch job's own processes (they use its cores)
LOCAL_PROVIDERS = frozenset({"local_cpu", "local_gpu", "local_gpu_aer", "local_gpu_mps"})
#: local providers whose nodes each use one GPU
GPU_PROVIDERS = frozenset({"local_gpu", "local_gpu_aer", "local_gpu_mps"})
#: Aer parallelises a statevector's gates over threads from this width (its
#: ``statevector_parallel_threshold``); narrower circuits gain nothing from more threads
PARALLEL_WIDTH = 14


@dataclass(frozen=True)
class TranspileSettings:
    """How circuits are compiled before they are written as OpenQASM 3."""

    optimization_level: int
    basis_gates: tuple[str, ...]
    coupling_map: tuple[tuple[int, int], ...] | None

    @classmethod
    def from_mapping(cls, transpile: Mapping[str, Any]) -> TranspileSettings:
        """From a (partial) ``transpile:`` mapping, checked and filled by the config schema."""
        import copy

        from qcos.workflow.config import load_schema, schema_errors

        data = copy.deepcopy(dict(transpile))
        errors = schema_errors(data, load_schema()["properties"]["transpile"])
        if errors:
            raise ConfigError("\n".join(e.replace("config: ", "config: transpile.", 1) for e in errors))
        coupling = data["coupling_map"]
        return cls(int(data["optimization_level"]), tuple(data["basis_gates"]),
                   None if coupling is None else tuple((int(a), int(b)) for a, b in coupling))


@dataclass(frozen=True)
class DispatchSettings:
    """DistributedQVM settings of the dispatch jobs."""

    chunk_shots: int | str
    max_attempts: int
    chunk_timeout_s: float | None


@dataclass(frozen=True)
class RunSettings:
    """Everything a workflow step needs from the config, typed."""

    experiment: str
    seed: int
    shots: int
    batch_size: int
    transpile: TranspileSettings
    dispatch: DispatchSettings
    cluster: tuple[Mapping[str, Any], ...]
    fidelity_max_qubits: int
    noise: Mapping[str, Any] | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RunSettings:
        """Settings from a config validated by ``validate_config`` (defaults already filled)."""
        try:
            transpile, dispatch = config["transpile"], config["dispatch"]
            coupling = transpile["coupling_map"]
            basis = transpile["basis_gates"]
            return cls(
                experiment=str(config["experiment"]),
                seed=int(config["seed"]),
                shots=int(config["shots"]),
                batch_size=int(config["batch_size"]),
                transpile=TranspileSettings(
                    optimization_level=int(transpile["optimization_level"]),
                    basis_gates=tuple(basis),
                    coupling_map=None if coupling is None else tuple((int(a), int(b)) for a, b in coupling),
                ),
                dispatch=DispatchSettings(
                    chunk_shots=dispatch["chunk_shots"],
                    max_attempts=int(dispatch["max_attempts"]),
                    chunk_timeout_s=dispatch["chunk_timeout_s"],
                ),
                cluster=tuple(dict(entry) for entry in config["cluster"]),
                fidelity_max_qubits=int(config["aggregate"]["fidelity_max_qubits"]),
                noise=config.get("noise") or None,  # absent = ideal simulation
            )
        except (KeyError, TypeError) as error:
            raise ConfigError(
                f"config: {error} is missing; RunSettings needs a config checked by qcos.workflow.config.validate_config"
            ) from error

    # -- identities (short digests used as rule parameters) --------------------
    def counts_identity(self) -> dict[str, Any]:
        """What fixes a circuit's counts besides its OpenQASM text: changing any of it reruns dispatch."""
        return {"seed": self.seed, "shots": self.shots, "chunk_shots": self.dispatch.chunk_shots,
                "noise": _plain(self.noise)}

    def counts_digest(self) -> str:
        return digest(self.counts_identity())

    def transpile_digest(self) -> str:
        return digest({"seed": self.seed, "transpile": asdict(self.transpile)})

    # -- what the dispatch job uses of the machine it runs on ------------------
    def local_nodes(self) -> tuple[int, int]:
        """(local nodes, of which GPU nodes) that the cluster starts inside the dispatch job."""
        nodes = gpus = 0
        for entry in self.cluster:
            name = str(entry.get("provider"))
            if name in LOCAL_PROVIDERS:
                count = _node_count(entry)
                nodes += count
                gpus += count if name in GPU_PROVIDERS else 0
        return nodes, gpus

    def dispatch_threads(self, *, width: int | None = None, cores: int | None = None, batches: int = 1) -> int:
        """Cores a dispatch job uses: one per local node (each is one Aer process), or a CPU
        node's ``aer_options.max_parallel_threads`` where its entry sets one; at least one.

        A batch of circuits at least :data:`PARALLEL_WIDTH` qubits wide (``width``: its widest),
        whose CPU nodes leave Aer's threads unset, gets its share of the run's ``cores``
        instead, ``cores // batches``: Aer parallelises such a statevector's gates, so one
        batch of 24-qubit circuits uses the whole machine, while many batches of small
        circuits (one thread each is fastest: idle OpenMP threads spin) run side by side.
        """
        total, explicit, cpu_nodes = 0, False, 0
        for entry in self.cluster:
            name = str(entry.get("provider"))
            if name in LOCAL_PROVIDERS:
                count = _node_count(entry)
                set_threads = (entry.get("aer_options") or {}).get("max_parallel_threads")
                threads = 1 if set_threads is None else int(set_threads)
                per_node = 1 if name in GPU_PROVIDERS else threads if threads > 0 else os.cpu_count() or 1
                total += count * per_node
                if name not in GPU_PROVIDERS:
                    cpu_nodes += count
                    explicit = explicit or set_threads is not None
        total = max(1, total)
        if explicit or not cpu_nodes or not cores or width is None or width < PARALLEL_WIDTH:
            return total
        return max(total, cores // max(1, batches))

    def job_cluster(self, threads: int | None) -> list[dict[str, Any]]:
        """The cluster a dispatch job builds when Snakemake gave it ``threads`` cores.

        Aer would otherwise give each local CPU node ``cores // nodes`` OpenMP threads of the
        whole machine, whatever the job was allotted: two dispatch jobs on two cores then run
        four busy threads. Here the local CPU nodes share the job's ``threads`` (at least one
        each), unless an entry's ``aer_options`` sets ``max_parallel_threads`` itself. Thread
        counts do not change counts (Aer seeds per shot). ``None``: the cluster as configured.
        """
        entries = [dict(entry) for entry in self.cluster]
        cpu = [e for e in entries if str(e.get("provider")) in LOCAL_PROVIDERS - GPU_PROVIDERS]
        if threads is None or not cpu:
            return entries
        nodes = sum(_node_count(e) for e in cpu)
        for entry in cpu:
            options = dict(entry.get("aer_options") or {})
            options.setdefault("max_parallel_threads", max(1, int(threads) // max(1, nodes)))
            entry["aer_options"] = options
        logger.info("dispatch job with %d core(s): local CPU nodes get max_parallel_threads %s", threads,
                    ", ".join(str(e["aer_options"]["max_parallel_threads"]) for e in cpu))
        return entries


def digest(data: Any) -> str:
    """SHA-256 of canonical JSON: a short rule parameter that changes whenever ``data`` does."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str)) if value is not None else None


def _node_count(entry: Mapping[str, Any]) -> int:
    """The nodes a cluster entry starts: its ``n_nodes``, else its provider's default."""
    return int(entry.get("n_nodes", _provider_default(str(entry.get("provider")), "n_nodes", 1)))


def _provider_default(name: str, argument: str, fallback: int) -> int:
    """A provider's own default for a ``build_nodes`` argument (the provider is its one home)."""
    from qcos.providers.registry import NodeProviderRegistry

    try:
        parameter = inspect.signature(NodeProviderRegistry.get(name).build_nodes).parameters.get(argument)
    except Exception:  # an unknown provider is reported by the config check, not here
        return fallback
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return fallback
    return int(parameter.default)
