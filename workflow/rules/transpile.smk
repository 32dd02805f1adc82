# One job per batch: build the batch's circuits, compile them with one pass manager and
# write OpenQASM 3 files. Rules are generated per batch because a job's outputs (one file
# per circuit) differ from batch to batch.
for batch in PLAN:

    rule:
        name:
            f"transpile_{batch.rule_suffix}"
        input:
            PLAN.sources(batch),
        output:
            [PLAN.qasm(i) for i in batch.ids],
        log:
            PLAN.log("transpile", batch),
        conda:
            ENV
        params:
            batch=batch.id,
            digest=batch.digest(),
            seed=config["seed"],
            transpile=config["transpile"],
        script:
            "../scripts/transpile.py"
