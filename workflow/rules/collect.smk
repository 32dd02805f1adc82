# Check that every planned circuit has a valid counts file for this config.


rule collect:
    input:
        counts=PLAN.all_counts(),
    output:
        f"{PLAN.root}/collected.json",
    log:
        PLAN.log("collect"),
    conda:
        ENV
    params:
        ids=PLAN.ids,
    script:
        "../scripts/collect.py"
