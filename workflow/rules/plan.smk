# The circuit manifest: every planned circuit with its family, parameters and batch.


rule plan:
    output:
        f"{PLAN.root}/plan.json",
    log:
        PLAN.log("plan"),
    conda:
        ENV
    params:
        digest=PLAN.digest(),
    script:
        "../scripts/plan.py"
