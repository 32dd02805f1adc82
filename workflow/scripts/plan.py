"""Snakemake script: write plan.json, the manifest of every circuit and its batch."""

from qcos.workflow.joblog import job_log
from qcos.workflow.steps import write_plan


def main(smk) -> None:
    with job_log(smk.log[0]):
        write_plan(smk.output[0], smk.params.manifest)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
