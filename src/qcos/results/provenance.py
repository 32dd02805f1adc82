"""Where a result came from: config hash, seed, git commit, package versions, cluster."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: packages whose versions can change counts (recorded in every counts file)
COUNTS_PACKAGES = ("qcos", "qiskit", "qiskit-aer")
#: packages recorded in provenance.json
PROVENANCE_PACKAGES = (*COUNTS_PACKAGES, "snakemake", "numpy", "matplotlib", "submitit", "paramiko", "httpx")


def package_versions(names: Sequence[str] = COUNTS_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (``"not installed"`` for missing ones)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the config as canonical JSON (key order does not matter)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def git_commit(directory: str | Path = ".") -> dict[str, Any]:
    """The commit and dirtiness of the git checkout at ``directory`` (``None`` outside git)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def provenance(
    config: Mapping[str, Any],
    *,
    cluster: Sequence[Mapping[str, Any]],
    n_circuits: int,
    workflow_dir: str | Path | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record of a run (not byte-stable: it carries the creation time)."""
    from qcos.redact import mask

    from qcos.circuits.noise import parse_noise

    # keys, tokens, passwords and URL user-info never reach the file, however deeply nested
    shown = mask(json.loads(json.dumps(config, default=str)))
    noise = parse_noise(config.get("noise"), where="config: noise")
    return {
        "experiment": config.get("experiment"),
        # the noise every circuit ran with (null: ideal), its digest and a readable label
        "noise": None if noise is None else {"spec": noise.to_dict(), "digest": noise.digest,
                                              "description": noise.describe()},
        "config_sha256": config_hash(shown),
        "config": shown,
        "seed": config.get("seed"),
        "shots": config.get("shots"),
        "n_circuits": n_circuits,
        "cluster": [mask(json.loads(json.dumps(entry, default=str))) for entry in cluster],
        "git": git_commit(workflow_dir or "."),
        "packages": package_versions(PROVENANCE_PACKAGES),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **mask(dict(extra or {})),
    }
