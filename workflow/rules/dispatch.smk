# One job per batch: run the batch through DistributedQVM on the configured cluster and
# write one counts file per circuit. Counts files are update() outputs: Snakemake keeps
# them when a batch reruns, and the script skips every circuit whose counts file already
# matches (same qasm hash, shots, seed, chunking), so only new circuits are simulated.
for batch in PLAN:

    rule:
        name:
            f"dispatch_{batch.rule_suffix}"
        input:
            qasm=[PLAN.qasm(i) for i in batch.ids],
        output:
            counts=[update(PLAN.counts(i)) for i in batch.ids],
            record=update(PLAN.run_record(batch)),
        log:
            PLAN.log("dispatch", batch),
        conda:
            ENV
        resources:
            gpus=DISPATCH_GPUS,
        params:
            batch=batch.id,
            digest=batch.digest(),
            shots=config["shots"],
            seed=config["seed"],
            dispatch=config["dispatch"],
        script:
            "../scripts/dispatch.py"
