"""Node descriptions: :class:`NodeType` and :class:`QPUNodeSpec`."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from qcos.checks import require_int


class NodeType(StrEnum):
    """What kind of executor stands behind a node."""

    CPU_AER = "cpu_aer"
    GPU_AER = "gpu_aer"
    GPU_MPS = "gpu_mps"
    REST = "rest"
    SLURM = "slurm"
    QPU = "qpu"
    MOCK = "mock"
    CUSTOM = "custom"

    @classmethod
    def parse(cls, value: NodeType | str) -> NodeType:
        """Accept an enum member, its value or its name (any case)."""
        if isinstance(value, cls):
            return value
        text = str(value).strip()
        for member in cls:
            if text.lower() in (member.value, member.name.lower()):
                return member
        valid = ", ".join(m.name for m in cls)
        raise ValueError(f"unknown node_type {value!r}; valid types: {valid}")


@dataclass
class QPUNodeSpec:
    """One schedulable node: where chunks of shots can run.

    ``credentials`` hold secrets (API keys, hosts, tokens); they are kept out of
    ``repr()`` and therefore out of logs and result files. ``options`` hold the
    non-secret backend settings (Aer method, device, ...). ``capacity`` is how many
    chunks the node runs at once and ``weight`` its relative speed, used to size the
    work it pulls.
    """

    node_id: str
    node_type: NodeType
    max_qubits: int
    tags: list[str] = field(default_factory=list)
    credentials: dict[str, Any] = field(default_factory=dict, repr=False)
    capacity: int = 1
    weight: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)
    online: bool = True
    offline_reason: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.node_id, str) or not self.node_id.strip():
            raise ValueError(f"QPUNodeSpec.node_id must be a non-empty string, got {self.node_id!r}")
        self.node_type = NodeType.parse(self.node_type)
        require_int(f"QPUNodeSpec.max_qubits of node {self.node_id!r}", self.max_qubits)
        require_int(f"QPUNodeSpec.capacity of node {self.node_id!r}", self.capacity, what="an integer >= 1")
        if not self.weight > 0:
            raise ValueError(f"QPUNodeSpec.weight of node {self.node_id!r} must be > 0")
        self.tags = list(self.tags)
        self.credentials = dict(self.credentials or {})

    def mark_offline(self, reason: str) -> None:
        """Take the node out of scheduling, remembering why (shown in status reports)."""
        self.online = False
        self.offline_reason = reason

    def mark_online(self, *reasons: str) -> bool:
        """Bring the node back if it is offline for a reason starting with one of ``reasons``; whether it came back."""
        if self.online or not (self.offline_reason or "").startswith(reasons):
            return False
        self.online, self.offline_reason = True, None
        return True

    def public_dict(self) -> dict[str, Any]:
        """A JSON-ready description without credentials (for logs and provenance)."""
        return {
            "node_id": self.node_id,
            "node_type": self.node_type.value,
            "max_qubits": self.max_qubits,
            "tags": list(self.tags),
            "capacity": self.capacity,
            "weight": self.weight,
            "options": dict(self.options),
            "online": self.online,
            "offline_reason": self.offline_reason,
        }
