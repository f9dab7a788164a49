#!/usr/bin/env bash
# `make figures`: runs what lacks results (finished runs are skipped, interrupted sweeps
# resume), then renders every figure and table from the Parquet results into plots/.
#
#   scripts/figures.sh            the paper's settings (fig3, fig4, table1 take hours on a CPU)
#   QUICK=1 scripts/figures.sh    small synthetic settings (no CIFAR-10 needed, a few minutes on
#                                 2 cores): results/<name>-quick/, plots/<name>-quick.*
#
# RUNNER is how to call admm-runner (the Makefile passes `cargo run --quiet --bin admm-runner --`).
# A run that fails (exit 1: e.g. the cuda rows without a GPU) is recorded as failed and shown
# as such; bad input (exit 2) stops the script.
set -euo pipefail
runner=${RUNNER:-admm-runner}
quick=${QUICK:-}

# Quick settings: the same manifests on a small synthetic teacher problem.
quick_common=(--set data.source=synthetic --set data.dim=10 --set data.n_train=300
  --set data.n_test=300 --set problem.patterns=4 --set solver.nys.rank=20 --set solver.max_iters=8)
quick_extra() {
  case "$1" in
    fig1) echo "--set sweep.seed=[0,1]" ;;
    fig2) echo "--set condition.max_rank=30" ;;
    table1) echo "--set solver.max_iters=40 --set solver.target_train_acc=0.8 --set solver.adam.lr=0.01" ;;
    digits) echo "--set data.classes=[0,1,2,3]" ;;
  esac
}
# The overrides for manifest $1, one per line (so that `[0,1]` is never globbed).
sets() {
  if [ -n "$quick" ]; then
    printf '%s\n' "${quick_common[@]}" --set "name=$1-quick" \
      --set "plot.title=$1, quick synthetic settings (a smoke test, not the paper's setting)"
    local extra
    read -r -a extra <<<"$(quick_extra "$1")"
    [ "${#extra[@]}" -eq 0 ] || printf '%s\n' "${extra[@]}"
  fi
}
name() { if [ -n "$quick" ]; then echo "$1-quick"; else echo "$1"; fi; }

# Runs admm-runner; exit status 1 (some run failed, recorded) is accepted.
run() {
  local rc=0
  $runner "$@" || rc=$?
  if [ "$rc" -gt 1 ]; then
    echo "figures: \`admm-runner $*\` failed (exit $rc)" >&2
    exit "$rc"
  fi
}

for m in fig1 fig3 fig4 table1 losses digits; do
  mapfile -t s < <(sets "$m")
  echo "== run experiments/$m.yaml ${s[*]}"
  run run "experiments/$m.yaml" --quiet "${s[@]}"
done
mapfile -t s < <(sets fig2)
if [ -f "results/$(name fig2)/kappa.parquet" ]; then
  echo "== results/$(name fig2)/kappa.parquet exists (delete it to recompute)"
else
  echo "== condition experiments/fig2.yaml ${s[*]}"
  run condition experiments/fig2.yaml "${s[@]}"
fi
if [ -n "$quick" ]; then
  for m in fig1 fig2 fig3 fig4 table1 losses digits; do
    mapfile -t s < <(sets "$m")
    $runner plot "experiments/$m.yaml" "${s[@]}"
  done
else
  $runner plot --all
fi
