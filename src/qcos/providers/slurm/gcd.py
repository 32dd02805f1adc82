"""standard-g: one whole-node array task runs one worker process per GCD, each bound to its die and cores."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from qcos.counts import Counts
from qcos.exceptions import RetryDecision
from qcos.providers.slurm.task import ChunkRunner, ChunkSpec, TaskFailure

logger = logging.getLogger(__name__)

#: LUMI-G: the cores closest to each GCD (LUMI's documented CPU mask; core 0 of each CCD is reserved)
GCD_CORES: tuple[tuple[int, ...], ...] = tuple(
    tuple(range(first, first + 7)) for first in (49, 57, 17, 25, 1, 9, 33, 41)
)
CORES_ENV = "QCOS_GCD_CORES"


def gcd_environment(gcd: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of GCD ``gcd``'s worker: only that die visible, its cores named for binding."""
    env = dict(os.environ if base is None else base)
    env["ROCR_VISIBLE_DEVICES"] = str(gcd)
    env.pop("HIP_VISIBLE_DEVICES", None)
    env[CORES_ENV] = ",".join(map(str, GCD_CORES[gcd % len(GCD_CORES)]))
    env["OMP_NUM_THREADS"] = str(len(GCD_CORES[gcd % len(GCD_CORES)]))
    return env


def bind_to_cores(spec: str | None) -> None:
    """Pin this process to the listed cores where this machine has them (no-op elsewhere)."""
    if not spec or not hasattr(os, "sched_setaffinity"):
        return
    allowed = os.sched_getaffinity(0)
    wanted = {int(c) for c in spec.split(",") if c.strip()} & allowed
    if wanted:
        os.sched_setaffinity(0, wanted)
    else:
        logger.debug("cores %s are not available here (%s); not binding", spec, sorted(allowed))


def run_on_gcds(chunks: Sequence[Any], aer_options: Mapping[str, Any], results_dir: str | None,
                gcds: int) -> list[Counts] | TaskFailure:
    """Run ``chunks`` (ChunkSpecs) split round-robin over ``gcds`` worker processes; counts in order.

    A worker's qcos error comes back as the TaskFailure it reported (its retry decision kept).
    """
    parts = [list(range(g, len(chunks), gcds)) for g in range(gcds)]
    parts = [p for p in parts if p]
    counts: list[Counts | None] = [None] * len(chunks)
    failure: TaskFailure | None = None
    with tempfile.TemporaryDirectory(prefix="qcos-gcd-") as tmp:
        running = []
        for gcd, indices in enumerate(parts):
            job = Path(tmp) / f"gcd{gcd}.json"
            job.write_text(json.dumps({"chunks": [asdict(chunks[i]) for i in indices],
                                       "aer_options": dict(aer_options), "results_dir": results_dir}))
            out = Path(tmp) / f"gcd{gcd}.out.json"
            proc = subprocess.Popen([sys.executable, "-m", "qcos.providers.slurm.gcd", str(job), str(out)],
                                    env=gcd_environment(gcd), stderr=subprocess.PIPE, text=True)
            running.append((gcd, indices, proc, out))
        problems = []
        for gcd, indices, proc, out in running:
            _, err = proc.communicate()
            if proc.returncode != 0 or not out.exists():
                tail = " | ".join(line for line in err.strip().splitlines()[-3:])
                problems.append(f"GCD {gcd} worker exited {proc.returncode}: {tail}")
                continue
            results = json.loads(out.read_text())
            if isinstance(results, dict):  # {"failure": ..., "retry": ...}: wait for the others, then report it
                failure = failure or TaskFailure(f"GCD {gcd}: {results['failure']}", RetryDecision(results["retry"]))
                continue
            for index, result in zip(indices, results, strict=True):
                counts[index] = {str(k): int(v) for k, v in result.items()}
    if failure is not None:
        return failure
    if problems:
        raise RuntimeError("; ".join(problems))
    return [c for c in counts if c is not None]


def _worker(job_path: str, out_path: str) -> None:
    bind_to_cores(os.environ.get(CORES_ENV))
    job = json.loads(Path(job_path).read_text())
    runner = ChunkRunner([ChunkSpec(**c) for c in job["chunks"]], job["aer_options"], job["results_dir"],
                         report_failures=True)
    result = runner()
    if isinstance(result, TaskFailure):
        Path(out_path).write_text(json.dumps({"failure": result.error, "retry": result.retry.value}))
    else:
        Path(out_path).write_text(json.dumps(result))


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
