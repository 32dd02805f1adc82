# One job per batch: run the batch through DistributedQVM on the configured cluster and
# write its result table, counts/<batch>.parquet. Every finished chunk is appended to
# journal/<batch>.jsonl as it lands (not an output: it survives a failed or killed job),
# so a rerun simulates only chunks that are not there yet, and raising shots runs only
# the new chunks. threads = the local nodes the cluster starts in the job (one Aer process
# each); override per cluster with `set-resources: dispatch: ...` / `set-threads: dispatch=N`.


rule dispatch:
    input:
        PLAN.pattern("qasm"),
    output:
        table=PLAN.pattern("table"),
        record=PLAN.pattern("run"),
    log:
        PLAN.log("dispatch", "{batch}"),
    conda:
        ENV
    threads: SETTINGS.dispatch_threads()
    resources:
        local_nodes=SETTINGS.local_nodes()[0],
        gpus=DISPATCH_GPUS,
    params:
        counts=SETTINGS.counts_digest(),
        fidelity_max_qubits=SETTINGS.fidelity_max_qubits,
        journal=PLAN.pattern("journal"),
    script:
        "../scripts/dispatch.py"
