"""Snakemake script: check every planned circuit has one valid record in the batch tables; write the index."""

from qcos.workflow.joblog import job_log


def main(smk) -> None:
    with job_log(smk.log[0]):
        from qcos.workflow.settings import RunSettings
        from qcos.workflow.steps import collect

        collect(smk.input.plan, list(smk.input.tables), smk.output[0], settings=RunSettings.from_config(smk.config))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
