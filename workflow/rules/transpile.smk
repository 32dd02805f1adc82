# One job per batch: build the batch's circuits, compile them with one pass manager and
# write them as OpenQASM 3 into one table, qasm/<batch>.parquet. The batch's circuit specs
# are a parameter, so editing a sweep reruns exactly the batches whose circuits changed.


rule transpile:
    input:
        batch_sources,
    output:
        PLAN.pattern("qasm"),
    log:
        PLAN.log("transpile", "{batch}"),
    conda:
        ENV
    params:
        specs=batch_specs,
        transpile=SETTINGS.transpile_digest(),
    script:
        "../scripts/transpile.py"
