"""Snakemake script: generate one batch's circuits and write them as transpiled OpenQASM 3."""

from qcos.workflow.joblog import job_log


def main(smk) -> None:
    with job_log(smk.log[0]):
        from qcos.workflow.plan import Plan
        from qcos.workflow.steps import transpile_batch

        batch = Plan.from_config(smk.config).batch(smk.params.batch, smk.params.digest)
        transpile_batch(batch.specs, list(smk.output), seed=smk.params.seed, transpile=smk.params.transpile)


if __name__ == "__main__":  # guard: local nodes start worker processes that re-import this file
    main(snakemake)  # noqa: F821 - injected by Snakemake
