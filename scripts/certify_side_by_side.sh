#!/usr/bin/env bash
# Seconds to a certified relative gap on one problem, side by side in one invocation: Clarabel
# (CVXPY, an interior point on the n x 2P constraint rows) at tolerances 1e-6 and 1e-10, then
# admm-runner's dense interior point, ADMM alone and ADMM with its finish (examples/certify.rs)
# (BENCHMARKS.md, "A primal-dual interior point").
#
#   scripts/certify_side_by_side.sh [MANIFEST] [RUN_ID_SUBSTRING] [SECONDS]
#
# Defaults: experiments/fig1.yaml exact-flex-s0 60. Needs python3 with cvxpy and clarabel
# (pip install cvxpy clarabel) and CIFAR10_DIR (default ../shared/data/cifar10).
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=${1:-experiments/fig1.yaml}
pick=${2:-exact-flex-s0}
secs=${3:-60}
export CIFAR10_DIR="${CIFAR10_DIR:-$(cd .. && pwd)/shared/data/cifar10}"
target=${CARGO_TARGET_DIR:-target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build -q --example dump_problem --example certify
"$target/debug/examples/dump_problem" "$manifest" "$pick" "$work" >/dev/null
for tol in 1e-6 1e-10; do
  CLARABEL_TOL=$tol python3 scripts/reference_optimum.py "$work" |
    python3 -c '
import json, sys
o = json.load(sys.stdin)
print("Clarabel (tolerances %s): optimum %.10f, %s, %d iterations, %.1f s with CVXPY, %.1f s in Clarabel"
      % (sys.argv[1], o["optimum"], o["status"], o["iterations"], o["seconds"], o["clarabel_seconds"]))' "$tol"
done
"$target/debug/examples/certify" "$manifest" "$pick" "$secs"
