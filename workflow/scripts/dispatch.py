"""Snakemake script: run one batch on the configured cluster and write its counts files."""

from qcos.workflow.joblog import job_log


def main(smk) -> None:
    with job_log(smk.log[0]):
        from qcos.workflow.plan import Plan
        from qcos.workflow.steps import dispatch_batch

        batch = Plan.from_config(smk.config).batch(smk.params.batch, smk.params.digest)
        dispatch_batch(
            batch.specs,
            list(smk.input.qasm),
            list(smk.output.counts),
            smk.output.record,
            config=smk.config,
            batch=smk.params.batch,
        )


if __name__ == "__main__":  # guard: local nodes start worker processes that re-import this file
    main(snakemake)  # noqa: F821 - injected by Snakemake
