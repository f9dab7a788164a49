#!/usr/bin/env python3
"""The exact optimum of a planned run's problem by an interior-point method (CVXPY + Clarabel),
independent of admm-runner's solvers: the reference for relative suboptimality on real data.

    CIFAR10_DIR=... cargo run --example dump_problem -- experiments/fig1.yaml exact-flex-s0 DIR
    python3 scripts/reference_optimum.py DIR
    python3 scripts/reference_optimum.py DIR --traces results/fig1/trace/exact-flex-s0-*.parquet

With --traces (runs of the same problem: same data, seed, patterns and beta; needs polars) it
reuses DIR/optimum.json if present and prints, per trace, the seconds (elapsed_s) to relative
suboptimality 1e-1, 1e-2, 1e-3 and 1e-4 at a nearly feasible iterate (rel_primal <= 1e-3), and
where the run ended.

Squared loss only (the paper's problem, method.md sec. 1). Fits problems the size of fig1 (n
1000, d 101, P 10: about 35 s and 2 GB here); the interior-point method's factorization does
not fit table1-mid or Table 1. Prints the optimum, Clarabel's status and its own residuals, and
writes DIR/optimum.json. CLARABEL_TOL sets Clarabel's gap and feasibility tolerances (default
1e-10); "seconds" includes CVXPY's compilation, "clarabel_seconds" is Clarabel's own.
"""
import json
import os
import sys
import time

import cvxpy as cp
import numpy as np


LEVELS = [1e-1, 1e-2, 1e-3, 1e-4]


def suboptimality_table(optimum, traces):
    """Seconds to each relative suboptimality level, per trace, as a Markdown table."""
    import polars as pl

    print(f"| trace | " + " | ".join(f"to {lv:g} (s)" for lv in LEVELS) + " | iterations | final rel. subopt. | final rel. gap |")
    print("|---|" + "---|" * (len(LEVELS) + 3))
    for path in traces:
        t = pl.read_parquet(path).with_columns(
            ((pl.col("objective") - optimum) / abs(optimum)).alias("subopt")
        )
        cells = []
        for lv in LEVELS:
            hit = t.filter((pl.col("subopt").abs() <= lv) & (pl.col("rel_primal") <= 1e-3))
            cells.append(f"{hit['elapsed_s'][0]:.2f}" if hit.height else "not reached")
        print(f"| {path} | " + " | ".join(cells) + f" | {t['iter'][-1]} | {t['subopt'][-1]:.3e} | {t['rel_gap'][-1]:.3e} |")


def main():
    args = sys.argv[1:]
    traces = args[args.index("--traces") + 1:] if "--traces" in args else []
    args = args[: args.index("--traces")] if "--traces" in args else args
    if len(args) != 1 or ("--traces" in sys.argv and not traces):
        sys.exit(__doc__)
    folder = args[0]
    if traces and os.path.exists(f"{folder}/optimum.json"):
        suboptimality_table(json.load(open(f"{folder}/optimum.json"))["optimum"], traces)
        return
    meta = json.load(open(f"{folder}/meta.json"))
    n, d, p, c, beta = meta["n"], meta["d"], meta["p"], meta["c"], meta["beta"]
    if c != 1:
        sys.exit(f"{folder}: {c} outputs; this script solves the binary squared-loss problem only")
    x = np.fromfile(f"{folder}/x.f32", dtype=np.float32).reshape(n, d).astype(np.float64)
    y = np.fromfile(f"{folder}/y.f32", dtype=np.float32).astype(np.float64)
    mask = np.fromfile(f"{folder}/mask.f32", dtype=np.float32).reshape(n, p).astype(np.float64)
    v, w = cp.Variable((d, p)), cp.Variable((d, p))
    sign = 2 * mask - 1
    pred = cp.sum(cp.multiply(mask, x @ (v - w)), axis=1)
    obj = 0.5 * cp.sum_squares(pred - y) + beta * (
        cp.sum(cp.norm(v, axis=0)) + cp.sum(cp.norm(w, axis=0))
    )
    prob = cp.Problem(cp.Minimize(obj), [cp.multiply(sign, x @ v) >= 0, cp.multiply(sign, x @ w) >= 0])
    started = time.time()
    tol = float(os.environ.get("CLARABEL_TOL", "1e-10"))
    prob.solve(solver=cp.CLARABEL, tol_gap_rel=tol, tol_gap_abs=tol, tol_feas=tol, max_iter=300)
    seconds = time.time() - started
    stats = prob.solver_stats
    vv, ww = v.value, w.value
    violation = max(np.maximum(0, -(sign * (x @ vv))).max(), np.maximum(0, -(sign * (x @ ww))).max())
    active = int((np.linalg.norm(vv, axis=0) > 1e-6).sum() + (np.linalg.norm(ww, axis=0) > 1e-6).sum())
    out = {
        "run": meta.get("run"),
        "optimum": prob.value,
        "status": prob.status,
        "solver": f"CVXPY + Clarabel (interior point), tolerances {tol:g}",
        "iterations": stats.num_iters,
        "seconds": round(seconds, 1),
        "clarabel_seconds": round(stats.solve_time, 1),
        "max_cone_violation": float(violation),
        "active_groups": active,
    }
    json.dump(out, open(f"{folder}/optimum.json", "w"), indent=1)
    print(json.dumps(out, indent=1))
    if traces:
        suboptimality_table(prob.value, traces)


if __name__ == "__main__":
    main()
