"""Dispatch of circuit chunks to batch schedulers; ``qcos.dispatch.slurm`` sends them to Slurm via submitit."""
