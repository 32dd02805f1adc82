"""Snakemake script: check every planned circuit has one valid record (collected.json), then write
summary.csv, runtimes.csv and the plots of the finished run from the batch tables."""

from qcos.workflow.joblog import job_log


def main(smk) -> None:
    with job_log(smk.log[0]):
        from qcos.results.plots import PLOT_NAMES
        from qcos.workflow.settings import RunSettings
        from qcos.workflow.steps import aggregate_run, collect

        settings = RunSettings.from_config(smk.config)
        tables = list(smk.input.tables)
        collect(smk.input.plan, tables, smk.output.collected, settings=settings)
        aggregate_run(
            tables,
            list(smk.input.records),
            summary_path=smk.output.summary,
            runtimes_path=smk.output.runtimes,
            plots={name: smk.output[name] for name in PLOT_NAMES},
            settings=settings,
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
