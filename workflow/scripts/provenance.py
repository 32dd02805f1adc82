"""Snakemake script: provenance.json (config hash, seed, git commit, versions, cluster)."""

from qcos.workflow.joblog import job_log


def main(smk) -> None:
    with job_log(smk.log[0]):
        from qcos.workflow.steps import write_provenance

        write_provenance(
            smk.output[0], smk.config, n_circuits=smk.params.n_circuits, workflow_dir=smk.params.workflow_dir
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
