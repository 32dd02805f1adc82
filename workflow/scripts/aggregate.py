"""Snakemake script: summary.csv, runtimes.csv and the plots of a finished run."""

from qcos.workflow.joblog import job_log


def main(smk) -> None:
    with job_log(smk.log[0]):
        from qcos.workflow.steps import aggregate_run

        aggregate_run(
            smk.input.plan,
            list(smk.input.counts),
            list(smk.input.qasm),
            list(smk.input.records),
            summary_path=smk.output.summary,
            runtimes_path=smk.output.runtimes,
            plots={name: smk.output[name] for name in ("fidelity", "top_outcome", "runtime")},
            fidelity_max_qubits=smk.params.fidelity_max_qubits,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
