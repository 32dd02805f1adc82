# One job per batch: build the batch's circuits, compile them with one pass manager and
# write them as OpenQASM 3 (qasm/<batch>.parquet), then run them through DistributedQVM on
# the configured cluster and write the result table, counts/<batch>.parquet. Compiling in
# the same job costs one Python start-up and one set of Qiskit imports per batch, not two.
# The batch's circuit specs are a parameter, so editing a sweep reruns exactly the batches
# whose circuits changed. Every finished chunk is appended to journal/<batch>.jsonl as it
# lands (not an output: it survives a failed or killed job), so a rerun simulates only
# chunks that are not there yet, and raising shots runs only the new chunks.
# threads = the local nodes the cluster starts in the job (one Aer process each), or for a
# batch of circuits of 14+ qubits a share of --cores (Aer parallelises their gates); override
# per cluster with `set-resources: dispatch: ...` / `set-threads: dispatch=N`.


rule dispatch:
    input:
        batch_sources,
    output:
        qasm=PLAN.pattern("qasm"),
        table=PLAN.pattern("table"),
        record=PLAN.pattern("run"),
    log:
        PLAN.log("dispatch", "{batch}"),
    conda:
        ENV
    threads: dispatch_threads
    resources:
        local_nodes=SETTINGS.local_nodes()[0],
        gpus=DISPATCH_GPUS,
    params:
        specs=batch_specs,
        transpile=SETTINGS.transpile_digest(),
        counts=SETTINGS.counts_digest(),
        fidelity_max_qubits=SETTINGS.fidelity_max_qubits,
        journal=PLAN.pattern("journal"),
    script:
        "../scripts/dispatch.py"
