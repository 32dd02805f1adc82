"""The cluster belongs to the Snakemake profile: find it from ``--profile`` so ``--config`` cannot drop it."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from qcos.exceptions import ConfigError

logger = logging.getLogger(__name__)

#: the file next to a profile's config.yaml that holds its cluster list
CLUSTER_FILE = "cluster.yaml"
PROFILE_ENV = "SNAKEMAKE_PROFILE"


@dataclass(frozen=True)
class ClusterChoice:
    """Where the run's cluster comes from: ``source`` is "profile", "cluster_file" or "config"."""

    source: str
    path: Path | None = None
    profile: Path | None = None

    def describe(self) -> str:
        if self.source == "profile":
            return f"the cluster of profile {self.profile} ({self.path})"
        if self.source == "cluster_file":
            return f"cluster_file {self.path}"
        return "the config's 'cluster' list"


def profile_arguments(argv: Sequence[str]) -> list[str]:
    """Every ``--profile X`` / ``--profile=X`` value on a snakemake command line, in order."""
    found: list[str] = []
    args = list(argv)
    for index, arg in enumerate(args):
        if arg == "--profile" and index + 1 < len(args):
            found.append(args[index + 1])
        elif arg.startswith("--profile="):
            found.append(arg.split("=", 1)[1])
    return found


def profile_dir(name: str) -> Path | None:
    """Resolve a profile as Snakemake does (a path, or a name under ./, ~/.config/snakemake, /etc/xdg)."""
    try:
        from snakemake.cli import get_profile_dir
    except ImportError:  # pragma: no cover - the workflow always runs under snakemake
        path = Path(name)
        return path if path.is_dir() else None
    entry = get_profile_dir(name)
    return Path(entry[0]).resolve() if entry is not None else None


def active_profiles(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> list[Path]:
    """The profile directories of this snakemake run (``--profile`` or ``$SNAKEMAKE_PROFILE``)."""
    env = os.environ if environ is None else environ
    names = profile_arguments(argv) or ([env[PROFILE_ENV]] if env.get(PROFILE_ENV) else [])
    dirs = []
    for name in names:
        if name == "none":
            continue
        found = profile_dir(name)
        if found is not None:
            dirs.append(found)
    return dirs


def profile_cluster(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> tuple[Path, Path] | None:
    """(profile dir, its cluster.yaml) of the last profile that has one, as Snakemake's later profiles win."""
    for directory in reversed(active_profiles(argv, environ)):
        candidate = directory / CLUSTER_FILE
        if candidate.is_file():
            return directory, candidate
    return None


def default_cluster(default_config: str | Path) -> Any:
    """The ``cluster`` of the workflow's own config file (what a config that says nothing gets)."""
    try:
        data = yaml.safe_load(Path(default_config).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    return data.get("cluster") if isinstance(data, dict) else None


def choose_cluster(config: dict[str, Any], *, argv: Sequence[str], default_config: str | Path,
                   environ: Mapping[str, str] | None = None) -> ClusterChoice:
    """Point ``config`` at the profile's cluster unless the user chose one; return the choice.

    A profile's ``cluster.yaml`` wins over the ``cluster`` of the workflow's own config file,
    whatever ``--config``/``--configfile`` replaced. An explicit ``cluster_file`` is the
    user's choice and is kept. A ``cluster`` list from ``--config``/``--configfile`` that
    differs from the default while a profile brings its own is a conflict: it stops the
    run instead of dispatching somewhere other than the profile says.
    """
    found = profile_cluster(argv, environ)
    if config.get("cluster_file"):
        path = Path(str(config["cluster_file"]))
        if found is not None and path.resolve() != found[1].resolve():
            logger.info("cluster_file %s replaces the cluster of profile %s", path, found[0])
        return ClusterChoice("cluster_file", path)
    if found is None:
        return ClusterChoice("config")
    directory, path = found
    given = config.get("cluster")
    if given is not None and given != default_cluster(default_config):
        raise ConfigError(
            f"config: cluster: the config names its own cluster but profile {directory} dispatches to "
            f"{path}; choose one: edit {path}, set cluster_file=PATH, or run without that profile")
    config["cluster_file"] = str(path)
    return ClusterChoice("profile", path, directory)
