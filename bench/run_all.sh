#!/usr/bin/env bash
# `make bench`: run every bench/bench_*.py and write bench/RESULTS.md, the one home of the
# benchmark figures the docs quote. Each benchmark's full output goes in; its last line is its ratio.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
out=bench/RESULTS.md
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
  echo "# Benchmark results"
  echo
  echo "Written by \`make bench\` on $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores, load average at start $(cut -d' ' -f1-3 /proc/loadavg),"
  echo "qcos $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $($PY -c 'import qiskit, qiskit_aer; print("qiskit", qiskit.__version__, "/ qiskit-aer", qiskit_aer.__version__)')."
  echo "Each benchmark measures its own baseline in the same run; the last line of each block is its ratio."
} > "$tmp"
status=0
for b in bench/bench_*.py; do
  echo "== $b"
  started=$(date +%s)
  log=$(mktemp)
  "$PY" "$b" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  { echo; echo "## $(basename "$b") ($(( $(date +%s) - started )) s, exit $rc)"; echo; echo '```'; cat "$log"; echo '```'; } >> "$tmp"
  rm -f "$log"
  [ "$rc" = 0 ] || status=1
done
mv "$tmp" "$out"
echo "wrote $out"
exit $status
