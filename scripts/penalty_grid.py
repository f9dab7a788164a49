#!/usr/bin/env python3
"""How much can any choice of ADMM penalties buy? (issue "ADMM that converges like the best
solvers do", BENCHMARKS.md "Penalty grid").

An independent NumPy implementation of the ADMM of docs/method.md sec. 2 with an exact u-step,
generalized to two penalties: rho for u = v and sigma * rho for G u = s (sigma = 1 is
admm-runner's ADMM). It counts the iterations to reach a relative suboptimality and a relative
cone violation below `tol`, against the optimum computed by CVXPY + Clarabel, for every
(rho, sigma) of a grid: the best static pair bounds what any rule that picks the penalties
(residual balancing, spectral) could gain over today's default (rho = 0.01, sigma = 1), short of
changing the penalties while it runs.

Data: a synthetic ReLU teacher (n = 200, d = 10, P = 8 patterns), as in examples/defaults.rs but
drawn by NumPy. Takes a few minutes on 2 cores.

    python3 scripts/penalty_grid.py [--tol 1e-4] [--iters 8000]
"""
import argparse

import cvxpy as cp
import numpy as np

RHOS = [1e-3, 1e-2, 1e-1, 1.0, 10.0]
SIGMAS = [1e-2, 1e-1, 1.0, 10.0, 100.0]


def teacher_data(n, d, p, seed):
    """Features N(0, 1), labels the sign of a 3-unit ReLU teacher minus 1, every 20th flipped;
    P gates N(0, 1) and the 0/1 pattern mask."""
    rng = np.random.default_rng(seed)
    teacher = rng.standard_normal((3, d))
    x = rng.standard_normal((n, d))
    y = np.sign(np.maximum(x @ teacher.T, 0).sum(1) - 1)
    y[::20] *= -1
    gates = np.random.default_rng(seed + 1).standard_normal((d, p))
    mask = (x @ gates >= 0).astype(float)
    return x, y, mask


def optimum(x, y, mask, beta):
    """The convex program of method.md sec. 1 by an interior-point method, to 1e-12."""
    d, p = x.shape[1], mask.shape[1]
    v, w = cp.Variable((d, p)), cp.Variable((d, p))
    pred = cp.sum(cp.multiply(mask, x @ (v - w)), axis=1)
    s = 2 * mask - 1
    obj = 0.5 * cp.sum_squares(pred - y) + beta * (
        cp.sum(cp.norm(v, axis=0)) + cp.sum(cp.norm(w, axis=0))
    )
    cons = [cp.multiply(s, x @ v) >= 0, cp.multiply(s, x @ w) >= 0]
    prob = cp.Problem(cp.Minimize(obj), cons)
    prob.solve(solver=cp.CLARABEL, tol_gap_rel=1e-12, tol_feas=1e-12, tol_gap_abs=1e-12)
    return prob.value


def operators(x, mask):
    """Dense F (n x 2dP) and G (2nP x 2dP) of method.md sec. 2, for a problem this small."""
    n, d = x.shape
    p = mask.shape[1]
    f = np.hstack([mask[:, [i]] * x for i in range(p)] + [-mask[:, [i]] * x for i in range(p)])
    g = np.zeros((2 * n * p, 2 * d * p))
    for j in range(2 * p):
        i = j % p
        g[j * n:(j + 1) * n, j * d:(j + 1) * d] = (2 * mask[:, [i]] - 1) * x
    return f, g


def iterations(f, g, y, d, beta, rho, sigma, fstar, tol, max_iters):
    """ADMM with an exact u-step; the first iteration (checked every 10) at which v is within
    `tol` of the optimum and its cone violation within `tol` of the constraint's scale."""
    gs = g * np.sqrt(sigma)  # G u = s with penalty sigma * rho, written as sqrt(sigma) G
    dim = f.shape[1]
    a_inv = np.linalg.inv(np.eye(dim) + f.T @ f / rho + gs.T @ gs)
    fty = f.T @ y / rho
    u, v, lam = np.zeros(dim), np.zeros(dim), np.zeros(dim)
    s, nu = np.zeros(g.shape[0]), np.zeros(g.shape[0])
    for k in range(1, max_iters + 1):
        u = a_inv @ (fty + (v - lam) + gs.T @ (s - nu))
        blocks = (u + lam).reshape(-1, d)
        norms = np.linalg.norm(blocks, axis=1, keepdims=True)
        v = (np.maximum(0.0, 1.0 - (beta / rho) / np.maximum(norms, 1e-300)) * blocks).ravel()
        gu = gs @ u
        s = np.maximum(0.0, gu + nu)
        lam += u - v
        nu += gu - s
        if k % 10 == 0:
            gv = g @ v
            obj = 0.5 * np.sum((f @ v - y) ** 2) + beta * np.linalg.norm(v.reshape(-1, d), axis=1).sum()
            viol = np.maximum(0.0, -gv).max() / max(np.abs(gv).max(), 1e-300)
            if abs(obj - fstar) / fstar <= tol and viol <= tol:
                return k
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--iters", type=int, default=8000)
    args = ap.parse_args()
    n, d, p = 200, 10, 8
    x, y, mask = teacher_data(n, d, p, 0)
    f, g = operators(x, mask)
    print(f"Iterations to relative suboptimality and cone violation {args.tol:g} "
          f"(n {n}, d {d}, P {p}; at most {args.iters}; default: rho 0.01, sigma 1)\n")
    for beta in [1e-3, 1e-1]:
        fstar = optimum(x, y, mask, beta)
        print(f"beta {beta:g} (optimum {fstar:.6f})\n")
        print("| rho \\ sigma | " + " | ".join(f"{s:g}" for s in SIGMAS) + " |")
        print("|---" * (len(SIGMAS) + 1) + "|")
        for rho in RHOS:
            cells = []
            for sigma in SIGMAS:
                k = iterations(f, g, y, d, beta, rho, sigma, fstar, args.tol, args.iters)
                cells.append(f">{args.iters}" if k is None else str(k))
            print(f"| {rho:g} | " + " | ".join(cells) + " |", flush=True)
        print()


if __name__ == "__main__":
    main()
