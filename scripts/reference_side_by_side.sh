#!/usr/bin/env bash
# The authors' code on torch CPU and admm-runner, back to back on the same data, 3 ADMM
# iterations each (BENCHMARKS.md, "Against the reference code, like for like").
#
#   ADMMNN_DIR=/path/to/admmNN REF_PYTHON=/path/to/venv/bin/python scripts/reference_side_by_side.sh
#
# REF_PYTHON needs torch, jax, cvxpy, scikit-learn, pandas and matplotlib (the reference's
# imports); python3 needs polars. The problem is table1-mid's (n 5000, 3 x 18 x 18 pooled + bias,
# P 20), dumped by examples/dump_problem; the reference appends its own bias column and samples
# its own gates. Prints a Markdown table: u-step seconds per ADMM iteration (nys-pcg: plus the
# sketch) and milliseconds per RBCD block step.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ADMMNN_DIR:?set ADMMNN_DIR to a checkout of github.com/zachary-shah/admmNN}"
: "${REF_PYTHON:?set REF_PYTHON to a python with torch, jax and cvxpy}"
export ADMMNN_DIR CIFAR10_DIR="${CIFAR10_DIR:-$(cd .. && pwd)/shared/data/cifar10}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build -q --bin admm-runner --example dump_problem
target/debug/examples/dump_problem experiments/table1-mid.yaml cg-flex "$work/data" >/dev/null
for s in cg diag-pcg nys-pcg rbcd; do
  "$REF_PYTHON" scripts/reference_side_by_side.py "$work/data" "$s" 2>/dev/null | tail -1 >>"$work/reference.jsonl"
  extra=()
  [ "$s" = nys-pcg ] && extra=(--set solver.nys.variant=reference)  # sketch the whole A, as the reference
  target/debug/admm-runner run experiments/table1-mid.yaml --only "solver=$s backend=flex" \
    --out "$work/res" --force -q --set solver.max_iters=3 --set solver.stop_at_target=false "${extra[@]}"
done
python3 - "$work" <<'PY'
import glob, json, sys
import polars as pl
work = sys.argv[1]
ref = {r["solver"]: r for r in map(json.loads, open(f"{work}/reference.jsonl"))}
print("| solver | reference (torch CPU) | admm-runner (flex) | ratio |")
print("|---|---|---|---|")
for s in ["cg", "diag-pcg", "nys-pcg", "rbcd"]:
    (f,) = glob.glob(f"{work}/res/table1-mid/trace/{s}-flex-*.parquet")
    t = pl.read_parquet(f)
    u, r = t["u_s"][-1], ref[s]
    if s == "rbcd":
        steps = int(t["inner_iters"].sum())
        a, b = 1e3 * r["time_u"] / r["rbcd_steps"], 1e3 * u / steps
        print(f"| rbcd, ms per block step ({r['rbcd_steps']} vs {steps} steps) | {a:.1f} | {b:.2f} | {a / b:.1f}x |")
        continue
    a, b = r["time_u"] / 3, u / len(t)
    line = f"| {s}, u s / iteration | {a:.2f} | {b:.3f} | {a / b:.0f}x |"
    if s == "nys-pcg":
        pa, pb = r["time_precomp"], t["precompute_s"][-1]
        line = f"| {s}, u s / iteration (+ sketch s) | {a:.2f} + {pa:.1f} | {b:.3f} + {pb:.2f} | {a / b:.0f}x (sketch {pa / pb:.0f}x) |"
    print(line)
PY
