#!/usr/bin/env bash
# Measures each solver's peak memory (max RSS of a fresh process, /usr/bin/time) at the fig1,
# table1-mid and table1 sizes, beside the runner's own estimate (the `mem_estimate_bytes`
# summary column, printed by `admm-runner plan --memory`): the table in the README's
# "Memory" section (SIZES="table1" limits the sizes). Each run does 3 iterations (1 epoch for Adam): memory peaks in the
# precomputation and the first iterations. Usage: scripts/memory-table.sh [BACKEND] > table.md
set -euo pipefail
backend=${1:-flex}
runner=${RUNNER:-target/debug/admm-runner}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "| size | solver | backend | estimate (MiB) | measured peak RSS (MiB) | estimate / measured |"
echo "|---|---|---|---|---|---|"
for size in ${SIZES:-fig1 table1-mid table1}; do
  for solver in exact cg diag-pcg nys-pcg bj-pcg rbcd adam; do
    m="$work/$size-$solver.yaml"
    python3 - "experiments/$size.yaml" "$m" "$solver" "$backend" <<'PY'
import sys, yaml
src, dst, solver, backend = sys.argv[1:]
m = yaml.safe_load(open(src))
m.pop("sweep", None); m.pop("variants", None); m.pop("plot", None)
m["name"] = "mem"
m["backend"] = backend
s = m["solver"]
s["name"] = solver
s["max_iters"] = 1 if solver == "adam" else 3
s["stop_at_target"] = False
s.pop("time_limit", None)
yaml.safe_dump(m, open(dst, "w"))
PY
    est=$("$runner" plan "$m" --memory | awk '/estimated memory/ {print $3}' | head -1 || true)
    peak_kib=$( { /usr/bin/time -f "%M" "$runner" run "$m" --out "$work/out-$size-$solver" >/dev/null 2>"$work/err" || true; } ; tail -1 "$work/err")
    status=$(grep -o "failed.*" "$work/err" | head -1 || true)
    peak=$(awk -v k="$peak_kib" 'BEGIN {printf "%.0f", k/1024}')
    ratio=$(awk -v e="$est" -v p="$peak" 'BEGIN {if (p > 0 && e != "") printf "%.2f", e/p; else print "-"}')
    echo "| $size | $solver | $backend | $est | $peak | $ratio ${status:+($status)} |"
  done
done
