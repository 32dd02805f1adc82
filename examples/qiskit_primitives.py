"""Qiskit's SamplerV2, EstimatorV2 and BackendV2 on a qcos cluster: run with `python qiskit_primitives.py`."""

import numpy as np
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Parameter
from qiskit.primitives import BackendSamplerV2
from qiskit.quantum_info import SparsePauliOp

from qcos import ClusterBuilder, QcosBackend
from qcos.primitives import Estimator, Sampler


def main() -> None:
    theta = Parameter("theta")
    ansatz = QuantumCircuit(2, name="ansatz")
    ansatz.ry(theta, 0)
    ansatz.cx(0, 1)

    measured = ansatz.copy()
    measured.measure_all()
    sweep = np.linspace(0, np.pi, 5)

    with ClusterBuilder().add("local_cpu", n_nodes=2).build() as registry:
        # SamplerV2: one PUB, five parameter points -> one BitArray of shape (5,)
        sampler = Sampler(registry, seed=1234)
        result = sampler.run([(measured, sweep)], shots=2000).result()[0]
        print("sampler shape", result.data.meas.shape, "nodes", result.metadata["nodes"])
        for value, index in zip(sweep, range(len(sweep)), strict=True):
            print(f"  theta={value:.2f}  {result.data.meas.get_counts(index)}")

        # EstimatorV2: two observables x five points broadcast to shape (2, 5)
        observables = [[SparsePauliOp("ZZ")], [SparsePauliOp.from_list([("XX", 1.0), ("IZ", 0.5)])]]
        estimate = Estimator(registry, seed=1234).run([(ansatz, observables, sweep)], precision=0.02).result()[0]
        print("estimator evs\n", np.round(estimate.data.evs, 3))
        print("estimator stds\n", np.round(estimate.data.stds, 3))

        # BackendV2: transpile against the cluster's target, run, read counts
        backend = QcosBackend(registry)
        bell = QuantumCircuit(2, name="bell")
        bell.h(0)
        bell.cx(0, 1)
        bell.measure_all()
        counts = backend.run(transpile(bell, backend), shots=1000, seed_simulator=7).result().get_counts()
        print("backend.run counts", counts)

        # and Qiskit's own BackendSamplerV2 on top of it, unchanged
        pub_result = BackendSamplerV2(backend=backend).run([transpile(bell, backend)], shots=1000).result()[0]
        print("BackendSamplerV2 counts", pub_result.data.meas.get_counts())


if __name__ == "__main__":
    main()
