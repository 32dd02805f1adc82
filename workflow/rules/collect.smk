# Check that every planned circuit has exactly one valid record in the batch tables.


rule collect:
    input:
        plan=f"{PLAN.root}/plan.json",
        tables=PLAN.all_paths("table"),
    output:
        f"{PLAN.root}/collected.json",
    log:
        PLAN.log("collect"),
    conda:
        ENV
    script:
        "../scripts/collect.py"
