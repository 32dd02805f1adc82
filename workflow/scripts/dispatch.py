"""Snakemake script: compile one batch (its qasm table), run it on the configured cluster, write its result table and run record."""

from qcos.workflow.joblog import job_log


def main(smk) -> None:
    with job_log(smk.log[0]):
        from qcos.workflow.settings import RunSettings
        from qcos.workflow.steps import transpile_and_dispatch

        batch = smk.wildcards.batch
        transpile_and_dispatch(
            smk.params.specs,
            smk.output.qasm,
            smk.output.table,
            smk.output.record,
            smk.params.journal.format(batch=batch),
            settings=RunSettings.from_config(smk.config),
            batch=batch,
            threads=smk.threads,  # local Aer nodes share the cores Snakemake gave this job
        )


if __name__ == "__main__":  # guard: local nodes start worker processes that re-import this file
    main(snakemake)  # noqa: F821 - injected by Snakemake
