//! A running ADMM solve's state on the host, so that a solve stopped in one process (an
//! interrupt, a preempted job) goes on in another from where it was (`admm::resume`): the
//! iterates and scaled duals, rho and the rho rule's pending proposal, the finish's schedule,
//! the clocks, and what the u-solver carries between u-steps (`USolverState`: RBCD's place in
//! its random stream and its step size).
//!
//! A resumed solve with a fixed rho and the exact, CG or PCG u-solver takes the same
//! iterations as an uninterrupted one (the factorizations and sketches are rebuilt from the
//! problem and seed). Three things restart instead of being saved, so those solves agree only
//! closely: Anderson's history (restarted as a change of rho restarts it), the spectral rule's
//! earlier point (its next proposal comes one interval later), and RBCD's incremental products
//! F u and K u (rebuilt from u, as every ten u-steps anyway, so they differ by rounding).
//!
//! The runner owns the file (src/run/checkpoint.rs); this module checks that a state read
//! back fits the problem, so that a file we did not write never reaches the solver.

use super::usolve::USolverState;
use crate::executor::Times;
use crate::problem::Problem;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// A row-major f32 matrix on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    /// A tensor's values, read back from the device.
    pub fn of<B: Backend>(t: &Tensor<B, 2>) -> Self {
        let [rows, cols] = t.dims();
        let data = t
            .clone()
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap_or_default();
        Matrix { rows, cols, data }
    }

    /// The matrix on `device`.
    pub fn tensor<B: Backend>(&self, device: &B::Device) -> Tensor<B, 2> {
        Tensor::from_data(
            TensorData::new(self.data.clone(), [self.rows, self.cols]),
            device,
        )
    }

    /// Refuses a matrix of other dimensions than `[rows, cols]`, whose data does not fill
    /// it, or with a value that is not finite.
    fn check(&self, name: &str, rows: usize, cols: usize) -> Result<(), String> {
        if (self.rows, self.cols) != (rows, cols) {
            return Err(format!(
                "`{name}` is {} x {}, the problem's is {rows} x {cols}",
                self.rows, self.cols
            ));
        }
        if self.data.len() != rows.saturating_mul(cols) {
            return Err(format!(
                "`{name}` holds {} values for {rows} x {cols}",
                self.data.len()
            ));
        }
        match self.data.iter().position(|x| !x.is_finite()) {
            Some(i) => Err(format!("`{name}` has {} at position {i}", self.data[i])),
            None => Ok(()),
        }
    }
}

/// The numbers of a checkpoint (everything but the matrices).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Counters {
    /// ADMM iterations done: the resumed solve's first iteration is this one (0-based).
    pub iterations: usize,
    /// The penalty the scaled duals belong to.
    pub rho: f64,
    /// The rho rule's proposal, applied at the start of the next iteration.
    pub pending_rho: Option<f64>,
    /// How often rho has changed so far (the trace's `rho_changes`).
    pub rho_changes: usize,
    /// The algorithm's seconds so far, per phase: the resumed solve adds its own, so the time
    /// limit and the reported seconds count the whole run.
    pub times: Times,
    /// Wall-clock seconds so far (the trace's `wall_s`).
    pub wall: f64,
    /// The finish's schedule: the first iteration a polish may be tried at, the rejected
    /// attempts so far, and whether the interior point has had its one try.
    pub finish_next: usize,
    pub finish_fails: u32,
    pub interior_tried: bool,
    pub usolver: USolverState,
}

/// Everything a solve needs to go on from iteration `counters.iterations`.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub counters: Counters,
    pub u: Matrix,
    pub v: Matrix,
    pub lambda: Matrix,
    pub s: Matrix,
    pub nu: Matrix,
    /// The structure at the last finish check (`finish::structure`), which the next check
    /// compares with.
    pub structure: Option<Vec<bool>>,
}

impl Checkpoint {
    /// The matrices by name, in a fixed order.
    pub fn matrices(&self) -> [(&'static str, &Matrix); 5] {
        [
            ("u", &self.u),
            ("v", &self.v),
            ("lambda", &self.lambda),
            ("s", &self.s),
            ("nu", &self.nu),
        ]
    }

    /// Whether this state can be the state of a solve of `prob`: the first thing wrong, in
    /// words. Every size must be the problem's, every value finite and every count in range,
    /// so that a damaged or hand-made file is refused here rather than trusted.
    pub fn check<B: Backend>(&self, prob: &Problem<B>) -> Result<(), String> {
        let c = &self.counters;
        let (d, n, cols) = (prob.d, prob.n, 2 * prob.q());
        for (name, m) in self.matrices() {
            let rows = if matches!(name, "s" | "nu") { n } else { d };
            m.check(name, rows, cols)?;
        }
        if c.iterations == 0 {
            return Err("no iteration done".into());
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(c.rho) || !c.pending_rho.is_none_or(positive) {
            return Err(format!(
                "rho {} (pending {:?}) is not a finite positive number",
                c.rho, c.pending_rho
            ));
        }
        let t = &c.times;
        let secs = [t.precompute, t.u, t.v, t.dual, c.wall];
        if secs.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
            return Err(format!("the seconds {secs:?} are not all finite and >= 0"));
        }
        if !c.usolver.step.is_none_or(positive) {
            return Err(format!(
                "the u-solver's step {:?} is not a finite positive number",
                c.usolver.step
            ));
        }
        let want = cols + n * cols;
        match &self.structure {
            Some(s) if s.len() != want => Err(format!(
                "the finish structure has {} flags, the problem's has {want}",
                s.len()
            )),
            _ => Ok(()),
        }
    }
}
