"""One solver of the authors' code (github.com/zachary-shah/admmNN, unmodified, checked out at
$ADMMNN_DIR) on torch CPU with 2 threads, on a problem dumped by examples/dump_problem; 3 ADMM
iterations; prints its own solve_time_breakdown and the RBCD block steps as one JSON line.
Called by scripts/reference_side_by_side.sh, which runs admm-runner beside it."""
import json
import os
import sys
import time

sys.path.insert(0, os.environ.get('ADMMNN_DIR', 'admmNN'))
import numpy as np, torch
torch.set_num_threads(2)
import utils.math_utils as mnp
from relu_solver import CReLU_MLP
from utils.relu_utils import binary_classifcation_accuracy

d_dir = sys.argv[1]; which = sys.argv[2]
meta = json.load(open(f'{d_dir}/meta.json'))
n, d = meta['n'], meta['d']
X = np.fromfile(f'{d_dir}/x.f32', dtype=np.float32).reshape(n, d)[:, :-1].copy()  # their code appends the bias
y = np.fromfile(f'{d_dir}/y.f32', dtype=np.float32).copy()
X, y = torch.from_numpy(X), torch.from_numpy(y)

# RBCD block steps: the reference draws each step's block with mnp.random_choice.
steps = [0]
orig = mnp.random_choice
def counting(*a, **k):
    steps[0] += 1
    return orig(*a, **k)
mnp.random_choice = counting

base = dict(datatype_backend='torch', device='cpu', loss_type='mse', standardize_data=False, P_S=20,
            acc_func=binary_classifcation_accuracy, bias=True, seed=0)
cfg = {
    'cg': dict(optimizer_mode='ADMM', admm_solve_type='cg', cg_max_iters=10, cg_eps=1e-6),
    'diag-pcg': dict(optimizer_mode='ADMM', admm_solve_type='cg', cg_max_iters=10, cg_eps=1e-6, cg_preconditioner='jacobi'),
    'nys-pcg': dict(optimizer_mode='ADMM', admm_solve_type='cg', cg_max_iters=10, cg_eps=1e-6, cg_preconditioner='nystrom'),
    'rbcd': dict(optimizer_mode='ADMM-RBCD'),
}[which]
m = CReLU_MLP(X, y, **base, **cfg)
t = time.perf_counter()
metrics = m.optimize(max_iter=3, max_time=100000)
b = {k: float(v) for k, v in metrics['solve_time_breakdown'].items()}
b['wall'] = time.perf_counter() - t
b['rbcd_steps'] = steps[0]
print(json.dumps({'solver': which, **b}))
