"""The ``qcos`` command line: providers, run, results, bridge and tunnel subcommands."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from qcos import __version__
from qcos.exceptions import QcosError

logger = logging.getLogger("qcos.cli")

#: Subcommand groups contributed by subpackages: (module, function, parent group).
#: Each function takes an argparse subparsers object and adds parsers whose
#: ``func`` default is ``handler(args) -> int``. Modules must import cheaply.
_PLUGINS: tuple[tuple[str, str, str], ...] = (
    ("qcos.bridge.cli", "add_bridge_commands", "bridge"),
    ("qcos.tunnels.cli", "add_tunnel_command", "root"),
    ("qcos.profiles", "add_profiles_command", "root"),
    ("qcos.results.cli", "add_results_command", "root"),
)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (the usage itself is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="qcos",
        description="Orchestrate quantum-circuit experiments over Aer, Slurm and REST bridges.",
    )
    parser.add_argument("--version", action="version", version=f"qcos {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    providers = sub.add_parser("providers", help="list registered node providers")
    providers.add_argument("--json", action="store_true", help="print {name: display name} as JSON")
    providers.set_defaults(func=_cmd_providers)

    run = sub.add_parser("run", help="run one OpenQASM file on a cluster and print its counts as JSON")
    run.add_argument("qasm", help="an OpenQASM 2 or 3 file")
    run.add_argument("--shots", type=int, default=1024, help="total shots (default 1024)")
    run.add_argument("--seed", type=int, default=None, help="run seed; the same seed gives the same counts")
    run.add_argument("--cluster", default=None,
                     help="cluster YAML: a list of {provider: NAME, ...kwargs} (default: one local_cpu node)")
    run.add_argument("--chunk-shots", type=_chunk_shots, default=None,
                     help="'auto' (default: one chunk for ideal circuits, shared chunks for noisy ones) or shots per chunk")
    run.add_argument("--full", action="store_true", help="print the whole result (chunks, nodes, timings)")
    run.set_defaults(func=_cmd_run)

    groups = {"root": sub}
    bridge = sub.add_parser("bridge", help="run, deploy and manage REST bridges")
    groups["bridge"] = bridge.add_subparsers(dest="bridge_command", required=True, metavar="ACTION")
    for module_name, function_name, group in _PLUGINS:
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            logger.debug("CLI plugin %s not available: %s", module_name, error)
            continue
        add = getattr(module, function_name, None)
        if add is not None:
            add(groups[group])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from qcos.redact import redact_handlers

    redact_handlers()
    try:
        return int(args.func(args) or 0)
    except QcosError as error:
        print(f"qcos: error: {one_line(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qcos: interrupted", file=sys.stderr)
        return 130
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as error:  # noqa: BLE001 - a user sees one line, never a traceback
        logger.debug("unexpected error", exc_info=True)
        print(f"qcos: error: unexpected {type(error).__name__}: {one_line(str(error))} "
              "(run with -vv for the traceback)", file=sys.stderr)
        return 2


def one_line(text: str) -> str:
    """A message on one line: its lines joined with '; ' (blank ones dropped)."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) or "no details"


def _cmd_providers(args: argparse.Namespace) -> int:
    from qcos.providers import NodeProviderRegistry

    listing = NodeProviderRegistry.list()
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    width = max(map(len, listing), default=0)
    for name, display in listing.items():
        print(f"{name:<{width}}  {display}")
    return 0


def _chunk_shots(text: str) -> int | str:
    """argparse type of --chunk-shots: 'auto' or a positive integer."""
    from qcos.workers.chunking import parse_chunk_shots

    try:
        return parse_chunk_shots(text if text.strip().lower() == "auto" else int(text), "--chunk-shots")
    except (ValueError, QcosError) as error:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a positive integer, got {text!r}") from error


def _cmd_run(args: argparse.Namespace) -> int:
    from qcos.cli_input import load_qasm_quietly
    from qcos.providers.cluster import ClusterBuilder, load_cluster_file
    from qcos.qvm import DistributedQVM

    if args.shots < 1:
        raise QcosError(f"--shots must be a positive integer, got {args.shots}")
    circuit = load_qasm_quietly(args.qasm)
    builder = load_cluster_file(args.cluster) if args.cluster else ClusterBuilder().add("local_cpu")
    options = {} if args.chunk_shots is None else {"chunk_shots": args.chunk_shots}
    with builder.build() as registry:
        qvm = DistributedQVM(registry, shots=args.shots, seed=args.seed, **options)
        result = qvm.run_batch([circuit])[0]
    print(json.dumps(result.to_dict() if args.full else result.counts, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
