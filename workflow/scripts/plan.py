"""Snakemake script: write plan.json, the manifest of every circuit and its batch."""

from qcos.workflow.joblog import job_log


def main(smk) -> None:
    with job_log(smk.log[0]):
        from qcos.workflow.plan import Plan
        from qcos.workflow.steps import write_plan

        plan = Plan.from_config(smk.config)
        if plan.digest() != smk.params.digest:
            raise RuntimeError("the plan changed while the workflow ran (qasm files added?); rerun snakemake")
        write_plan(smk.output[0], plan.manifest())


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
