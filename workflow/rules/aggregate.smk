# The run's results: summary table, run times, plots and provenance.


rule aggregate:
    input:
        plan=f"{PLAN.root}/plan.json",
        collected=f"{PLAN.root}/collected.json",
        counts=PLAN.all_counts(),
        qasm=PLAN.all_qasm(),
        records=PLAN.all_run_records(),
    output:
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
    log:
        PLAN.log("aggregate"),
    conda:
        ENV
    params:
        fidelity_max_qubits=config["aggregate"]["fidelity_max_qubits"],
    script:
        "../scripts/aggregate.py"


rule provenance:
    input:
        f"{PLAN.root}/collected.json",
    output:
        f"{PLAN.root}/provenance.json",
    log:
        PLAN.log("provenance"),
    conda:
        ENV
    params:
        workflow_dir=workflow.basedir,
        n_circuits=len(PLAN.ids),
    script:
        "../scripts/provenance.py"
