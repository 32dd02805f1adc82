# The run's results. aggregate first checks that every planned circuit has exactly one valid
# record in the batch tables (collected.json; a missing or foreign row stops it with the batch
# to delete), then writes the summary table, run times and plots; provenance runs beside it.


rule aggregate:
    input:
        plan=f"{PLAN.root}/plan.json",
        tables=PLAN.all_paths("table"),
        records=PLAN.all_paths("run"),
    output:
        collected=f"{PLAN.root}/collected.json",
        summary=report(
            f"{PLAN.root}/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
        ),
        runtimes=report(
            f"{PLAN.root}/runtimes.csv",
            caption="../report/runtimes.rst",
            category="Tables",
        ),
        fidelity=report(
            plot_paths()["fidelity"],
            caption="../report/fidelity.rst",
            category="Plots",
        ),
        top_outcome=report(
            plot_paths()["top_outcome"],
            caption="../report/top_outcome.rst",
            category="Plots",
        ),
        runtime=report(
            plot_paths()["runtime"],
            caption="../report/runtime.rst",
            category="Plots",
        ),
        parameters=report(
            plot_paths()["parameters"],
            caption="../report/parameters.rst",
            category="Plots",
        ),
        qaoa_landscape=report(
            plot_paths()["qaoa_landscape"],
            caption="../report/qaoa_landscape.rst",
            category="Plots",
        ),
        ideal_vs_measured=report(
            plot_paths()["ideal_vs_measured"],
            caption="../report/ideal_vs_measured.rst",
            category="Plots",
        ),
    log:
        PLAN.log("aggregate"),
    conda:
        ENV
    script:
        "../scripts/aggregate.py"


rule provenance:
    input:
        plan=f"{PLAN.root}/plan.json",
        tables=PLAN.all_paths("table"),
    output:
        f"{PLAN.root}/provenance.json",
    log:
        PLAN.log("provenance"),
    conda:
        ENV
    params:
        workflow_dir=workflow.basedir,
        n_circuits=len(PLAN.specs),
    script:
        "../scripts/provenance.py"
