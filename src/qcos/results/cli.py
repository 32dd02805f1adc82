"""``qcos results``: read an experiment's batch tables from the shell (counts, listing, JSON export)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

logger = logging.getLogger(__name__)


def add_results_command(sub: Any) -> None:
    """Add ``qcos results EXP [CIRCUIT]`` to the root subcommands."""
    parser = sub.add_parser(
        "results", help="print one circuit's counts, list an experiment's circuits, or export them as JSON files",
        description="Read results/<EXP>/counts/*.parquet. With CIRCUIT: its counts as JSON. Without: one line per "
                    "circuit (id, batch, qubits, shots, top outcome). --export DIR: one <circuit>.json per circuit.",
    )
    parser.add_argument("experiment", metavar="EXP", help="experiment name (or the path of its results folder)")
    parser.add_argument("circuit", metavar="CIRCUIT", nargs="?", help="a circuit id, e.g. ghz-q5")
    parser.add_argument("--results-dir", default="results", help="where experiments live (default: results)")
    parser.add_argument("--full", action="store_true", help="with CIRCUIT: the whole record, not only the counts")
    parser.add_argument("--export", metavar="DIR", help="write the old per-circuit counts JSON files to DIR")
    parser.set_defaults(func=_cmd_results)


def _cmd_results(args: argparse.Namespace) -> int:
    from qcos.results.reader import Results

    results = Results.open(args.experiment, args.results_dir)
    if args.export:
        n = results.export_json(args.export)
        print(f"wrote {n} counts file(s) to {args.export}", file=sys.stderr)
        return 0
    if args.circuit:
        record = results.get(args.circuit)
        data = record.as_dict() if args.full else dict(sorted(record.counts.items()))
        print(json.dumps(data, indent=2, sort_keys=True))
        return 0
    try:
        for record in results.records():
            top = min(record.counts.items(), key=lambda kv: (-kv[1], kv[0]))[0] if record.counts else ""
            print(f"{record.circuit_id}\t{record.batch}\t{record.num_qubits}\t{record.shots}\t{top}")
    except BrokenPipeError:  # `qcos results EXP | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
