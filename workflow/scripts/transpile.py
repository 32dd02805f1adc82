"""Snakemake script: build one batch's circuits and write them, transpiled, to qasm/<batch>.parquet."""

from qcos.workflow.joblog import job_log


def main(smk) -> None:
    with job_log(smk.log[0]):
        from qcos.workflow.settings import RunSettings
        from qcos.workflow.steps import transpile_batch

        settings = RunSettings.from_config(smk.config)
        transpile_batch(smk.params.specs, smk.output[0], settings=settings, batch=smk.wildcards.batch)


if __name__ == "__main__":  # guard: local nodes start worker processes that re-import this file
    main(snakemake)  # noqa: F821 - injected by Snakemake
