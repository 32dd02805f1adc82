"""Snakemake script: check every planned circuit has a valid counts file; write the index."""

from qcos.workflow.joblog import job_log


def main(smk) -> None:
    with job_log(smk.log[0]):
        from qcos.results.collect import collect_to

        collect_to(smk.output[0], smk.params.ids, list(smk.input.counts), config=smk.config)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
