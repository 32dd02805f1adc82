"""``qcos profiles``: install the bundled Snakemake profiles so ``snakemake --profile lumi`` works by name."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from qcos.atomic import atomic_write_text
from qcos.exceptions import ConfigError

logger = logging.getLogger(__name__)

#: the profiles shipped with the workflow (a checkout installed with ``pip install -e .``)
BUNDLED = Path(__file__).resolve().parents[2] / "profiles"


def snakemake_config_dir(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """Where Snakemake looks for profiles by name: ``$XDG_CONFIG_HOME/snakemake`` (``~/.config/snakemake``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".config")
    return Path(base) / "snakemake"


def bundled_profiles(source: Path = BUNDLED) -> list[str]:
    """Names of the bundled profiles (folders holding a config.yaml)."""
    if not source.is_dir():
        raise ConfigError(f"the bundled profiles are not at {source}: install qcos from a checkout (pip install -e .)")
    return sorted(p.name for p in source.iterdir() if (p / "config.yaml").is_file())


def _header(source: Path) -> str:
    from qcos import __version__

    return (f"# Installed by `qcos profiles install` (qcos {__version__}) from {source}.\n"
            "# Update with `qcos profiles install --force` (changed files are kept as *.bak).\n")


def install(names: Sequence[str] = (), *, target: Path | None = None, force: bool = False,
            source: Path = BUNDLED) -> list[Path]:
    """Copy profiles into ``target`` (default: Snakemake's user profile folder); returns their folders."""
    known = bundled_profiles(source)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown profile(s) {', '.join(unknown)}; bundled profiles: {', '.join(known)}")
    root = target or snakemake_config_dir()
    installed = []
    for name in names or known:
        origin, destination = (source / name).resolve(), root / name
        files = sorted(p for p in origin.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))
        texts = {p.name: _header(origin / p.name) + p.read_text(encoding="utf-8") for p in files}
        existing = [destination / n for n in texts if (destination / n).exists()]
        differing = [p for p in existing if p.read_text(encoding="utf-8") != texts[p.name]]
        if differing and not force:
            raise ConfigError(f"profile {name!r} is already installed in {destination} and differs "
                              f"({', '.join(p.name for p in differing)}); use --force to update it")
        destination.mkdir(parents=True, exist_ok=True)
        for path in differing:
            atomic_write_text(path.with_name(path.name + ".bak"), path.read_text(encoding="utf-8"))
        for filename, text in texts.items():
            atomic_write_text(destination / filename, text)
        installed.append(destination)
        logger.info("installed profile %s into %s", name, destination)
    return installed


def add_profiles_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``qcos profiles install [NAME...] [--force] [--dir DIR]`` and ``qcos profiles list``."""
    profiles = sub.add_parser("profiles", help="install the bundled Snakemake profiles (local, slurm, lumi, lumi-c)")
    actions = profiles.add_subparsers(dest="profiles_command", required=True, metavar="ACTION")
    install_cmd = actions.add_parser("install", help="copy profiles to ~/.config/snakemake so --profile NAME works")
    install_cmd.add_argument("names", nargs="*", metavar="NAME", help="profiles to install (default: all)")
    install_cmd.add_argument("--force", action="store_true", help="update installed profiles (old files kept as .bak)")
    install_cmd.add_argument("--dir", default=None, help="target folder (default: $XDG_CONFIG_HOME/snakemake)")
    install_cmd.set_defaults(func=_cmd_install)
    listing = actions.add_parser("list", help="show the bundled profiles and where they are installed")
    listing.set_defaults(func=_cmd_list)


def _cmd_install(args: argparse.Namespace) -> int:
    for folder in install(args.names, target=Path(args.dir) if args.dir else None, force=args.force):
        print(f"installed {folder.name}: {folder}  (snakemake --profile {folder.name})")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    root = snakemake_config_dir()
    for name in bundled_profiles():
        where = root / name
        state = f"installed in {where}" if (where / "config.yaml").is_file() else "not installed"
        print(f"{name:<8} {state}")
    return 0
