"""User programs for the subprocess tests: the README tour and the provider spec's snippets.

The spec snippets are copied verbatim (imports changed to qcos, ``...  # as above`` filled
in); the README tour is read from README.md so that the test follows the page.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def readme_tour() -> str:
    """The Python block the README asks users to save as ``tour.py``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"save this as `tour\.py`.*?```python\n(.*?)```", text, re.DOTALL)
    assert match is not None, "README.md lost its tour.py example"
    return match.group(1)


SPEC_IMPORTS = """\
from typing import Dict, List, Optional
from qiskit import QuantumCircuit
from qcos.network.node_providers import NodeProvider, NodeProviderRegistry, ClusterBuilder
from qcos.network.distributed_qvm import DistributedQVM, QPUNodeSpec, NodeType, QVMMode
"""

APPROACH1 = '''
class MyGPUProvider(NodeProvider):
    """On-premise NVIDIA DGX cluster."""
    DISPLAY_NAME = "My DGX Cluster"

    def build_nodes(self, **kwargs) -> List[QPUNodeSpec]:
        n_nodes = kwargs.get("n_nodes", 1)
        return [
            QPUNodeSpec(
                node_id=f"dgx-node-{i}",
                node_type=NodeType.GPU_AER,
                max_qubits=30,
                tags=["dgx", "on-premise"],
                credentials={"host": kwargs.get("host", "dgx-001.internal")},
            )
            for i in range(n_nodes)
        ]

# Register in the global registry
NodeProviderRegistry.register("my_dgx", MyGPUProvider)

registry = (
    ClusterBuilder()
    .add("my_dgx", n_nodes=4, host="dgx-001.internal")
    .add("local_cpu", n_nodes=2)
    .build()
)
'''

EXECUTE_AND_HEALTH = '''
def parse_result(stdout):
    return {key: int(value) for key, value in (line.split("=") for line in stdout.split())}


class MyGPUProvider(NodeProvider):
    DISPLAY_NAME = "My DGX Cluster"
    _last_host = None

    def build_nodes(self, **kwargs) -> List[QPUNodeSpec]:
        n_nodes = kwargs.get("n_nodes", 1)
        return [
            QPUNodeSpec(
                node_id=f"dgx-node-{i}",
                node_type=NodeType.GPU_AER,
                max_qubits=30,
                tags=["dgx", "on-premise"],
                credentials={"host": kwargs.get("host", "dgx-001.internal")},
            )
            for i in range(n_nodes)
        ]

    def execute(
        self,
        circuit: QuantumCircuit,
        shots: int,
        node_spec: QPUNodeSpec,
    ) -> Optional[Dict[str, int]]:
        """Custom execution — return counts dict or None to fall through."""
        host = node_spec.credentials.get("host")
        # run your custom GPU job here...
        import subprocess
        result = subprocess.run(
            ["dgx-runner", "--shots", str(shots), "--host", host],
            capture_output=True, text=True,
        )
        counts = parse_result(result.stdout)
        return counts  # e.g. {"0000": 512, "1111": 512}

    def health_check(self) -> bool:
        """Return False if cluster is unreachable."""
        import socket
        host = self._last_host or "dgx-001.internal"
        try:
            socket.create_connection((host, 22), timeout=3)
            return True
        except OSError:
            return False


NodeProviderRegistry.register("my_dgx", MyGPUProvider)
dgx = ClusterBuilder().add("my_dgx", n_nodes=2).add("local_cpu", n_nodes=2).build()
node = MyGPUProvider().build_nodes(n_nodes=1)[0]
assert MyGPUProvider().execute(QuantumCircuit(4), 1024, node) == {"0000": 512, "1111": 512}
assert isinstance(MyGPUProvider().health_check(), bool)
'''

CUSTOM_REST = '''
registry = (
    ClusterBuilder()
    .add("custom_rest",
         endpoints=[
             "http://dgx-001.internal:8888",
             "http://dgx-002.internal:8888",
             "http://dgx-003.internal:8888",
         ],
         max_qubits=30,
         api_key="my-secret-key",   # optional
         timeout_s=60)
    .build()
)

my_circuit = QuantumCircuit(3)
my_circuit.h(0)
my_circuit.cx(0, 1)
my_circuit.cx(1, 2)
my_circuit.measure_all()

# Register the LUMI bridge as custom_rest nodes
registry = (
    ClusterBuilder()
    .add("custom_rest",
         endpoints=["http://localhost:18888"] * 8,   # 8 virtual LUMI workers
         max_qubits=34,
         api_key="my-secret",
         timeout_s=120)
    .add("local_cpu", n_nodes=2)                      # local fallback
    .build()
)
qvm = DistributedQVM(registry, mode=QVMMode.EMULATED, shots=2048)
result = qvm.run(my_circuit)
'''

GLOBAL_REGISTRATION = '''
# In your project's __init__.py or entrypoint
from qcos.network.node_providers import NodeProviderRegistry
from myproject.providers import MyGPUProvider, MyFPGAProvider

NodeProviderRegistry.register("my_dgx", MyGPUProvider)
NodeProviderRegistry.register("my_fpga", MyFPGAProvider)

ClusterBuilder().add("my_dgx", n_nodes=4).build()
ClusterBuilder().add("my_fpga", n_nodes=2).build()
registry = ClusterBuilder().add("my_dgx", n_nodes=4).add("my_fpga", n_nodes=2).add("local_cpu", n_nodes=2).build()
'''

#: The user's own package for the "registering providers globally" snippet.
MYPROJECT_PROVIDERS = '''
from qcos import NodeProvider, NodeType, QPUNodeSpec


class MyGPUProvider(NodeProvider):
    DISPLAY_NAME = "My DGX Cluster"

    def build_nodes(self, n_nodes=1, **kwargs):
        return [QPUNodeSpec(node_id=f"dgx-node-{i}", node_type=NodeType.GPU_AER, max_qubits=30)
                for i in range(n_nodes)]


class MyFPGAProvider(NodeProvider):
    DISPLAY_NAME = "My FPGA"

    def build_nodes(self, n_nodes=1, **kwargs):
        return [QPUNodeSpec(node_id=f"fpga-{i}", node_type=NodeType.QPU, max_qubits=8) for i in range(n_nodes)]
'''

#: Appended to every program: a batch on local_cpu x2 (and on the program's own Aer cluster,
#: if it built one) against QVMMode.LOCAL with the same seed, written as JSON for the test.
FOOTER = '''
import json as _json
import os as _os

from qiskit import QuantumCircuit as _Circuit

from qcos import ClusterBuilder as _Builder
from qcos import DistributedQVM as _QVM
from qcos import QVMMode as _Mode

_circuits = []
for _i in range(12):
    _c = _Circuit(4, name=f"c{_i}")
    _c.h(0)
    for _j in range(1, 4):
        _c.cx(0, _j)
    _c.rx(0.2 * _i, 1)
    _c.measure_all()
    _circuits.append(_c)
_report = {}
_clusters = {"local_cpu x2": _Builder().add("local_cpu", n_nodes=2).build()}
if "registry" in globals() and all(p.uses_builtin_executor() for p in registry.providers):
    _clusters["program"] = registry
for _name, _cluster in _clusters.items():
    _run = _QVM(_cluster, shots=3000, seed=77, chunk_shots=1000).run_batch(_circuits)
    _local = _QVM(_cluster, mode=_Mode.LOCAL, shots=3000, seed=77, chunk_shots=1000).run_batch(_circuits)
    _report[_name] = {
        "counts": [r.counts for r in _run], "local": [r.counts for r in _local],
        "totals": [sum(r.counts.values()) for r in _run],
        "nodes": sorted({c.node_id for r in _run for c in r.chunks}),
    }
with open(_os.environ["QCOS_TEST_OUT"], "w") as _f:
    _json.dump(_report, _f)
'''


def programs() -> dict[str, str]:
    """Name -> full program text."""
    return {
        "readme-tour": readme_tour(),
        "spec-approach1": SPEC_IMPORTS + APPROACH1,
        "spec-execute-health": SPEC_IMPORTS + EXECUTE_AND_HEALTH,
        "spec-custom-rest-lumi": SPEC_IMPORTS + CUSTOM_REST,
        "spec-global-registration": SPEC_IMPORTS + GLOBAL_REGISTRATION,
    }
