//! The one loop owner of every method (ADMM iterations and Adam epochs alike), as argmin's
//! `Executor`: a method only knows how to take one step; the executor applies the stop rules
//! (divergence, target, convergence, time limit, iteration budget) in one order for all, and
//! hands each step's record to observers that only observe (trace writer, progress bar).

/// Seconds spent in each part of the algorithm, cumulative. Metric evaluation is not included.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Times {
    pub precompute: f64,
    pub u: f64,
    /// The v-step and the slack (s) step.
    pub v: f64,
    pub dual: f64,
}

impl Times {
    pub fn total(&self) -> f64 {
        self.precompute + self.u + self.v + self.dual
    }
}

/// What one inner solve did, recorded in the trace.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct InnerStats {
    pub iters: usize,
    /// ||A u - b|| / ||b|| when the solver tracks it (NaN otherwise).
    pub rel_residual: f64,
}

/// Everything known after one step (an ADMM iteration or an Adam epoch).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct IterRecord {
    /// 1-based step number.
    pub iter: usize,
    pub times: Times,
    /// Wall-clock seconds since the solver started, metric evaluation included.
    pub wall: f64,
    pub metrics: crate::metrics::Metrics,
    pub primal_residual: f64,
    pub dual_residual: f64,
    pub eps_primal: f64,
    pub eps_dual: f64,
    pub inner: InnerStats,
    /// The penalty this step used.
    pub rho: f64,
    /// A certified lower bound on the optimal objective (NaN where the method has none).
    pub lower_bound: f64,
    /// The objective of a feasible point (ADMM: v restored to the cone constraints): an
    /// upper bound on the optimum (NaN where the method has none).
    pub upper_bound: f64,
    /// (upper_bound - lower_bound) / |upper_bound|: a certified relative gap, never negative
    /// (up to rounding) and never below the feasible point's relative suboptimality.
    pub rel_gap: f64,
    /// The primal residual relative to the iterates' size: the objective is an upper bound
    /// on the optimum only at a feasible point, so a gap counts only where this is small too.
    pub rel_primal: f64,
    /// How often rho has changed so far.
    pub rho_changes: usize,
}

/// Why the loop ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// The method's own convergence test passed (ADMM: Boyd's residual test) and, for a
    /// method with a certificate, its certified gap is within tolerance
    /// (`solver.admm.converged_gap`).
    Converged,
    /// The residual test passed but the certified gap is above the tolerance: small
    /// residuals alone, no proof of how close the optimum is.
    Residuals,
    /// The planned iteration budget is spent.
    MaxIters,
    /// The target train accuracy was reached and the rules ask to stop there.
    TargetReached,
    /// The time limit was reached: recorded as a failure.
    TimeLimit(f64),
    /// NaN or infinity appeared: recorded as a failure.
    Diverged(String),
    /// The convergence test passed but nothing moved (the iterates stayed exactly where they
    /// started): not convergence, recorded as a failure with what happened.
    NothingMoved(String),
    /// The method's certified relative duality gap reached its tolerance (ADMM's
    /// `solver.admm.tol_gap`): converged, with a proof of how close.
    GapReached,
}

impl Stop {
    /// A short label for the summary's `stop_reason` column.
    pub fn label(&self) -> &'static str {
        match self {
            Stop::Converged => "converged",
            Stop::Residuals => "residuals",
            Stop::MaxIters => "max_iters",
            Stop::TargetReached => "target_reached",
            Stop::TimeLimit(_) => "time_limit",
            Stop::Diverged(_) => "diverged",
            Stop::NothingMoved(_) => "nothing_moved",
            Stop::GapReached => "gap_reached",
        }
    }

    /// Failure reason, if this stop is a failure.
    pub fn failure(&self) -> Option<String> {
        match self {
            Stop::TimeLimit(s) => Some(format!("time limit of {s} s reached before convergence")),
            Stop::Diverged(why) => Some(format!("diverged: {why}")),
            Stop::NothingMoved(why) => Some(format!("nothing moved: {why}")),
            _ => None,
        }
    }
}

/// The budget and stop rules every method shares (the manifest's `solver.max_iters`,
/// `time_limit`, `target_train_acc`, `stop_at_target`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StopRules {
    /// Steps at most (ADMM iterations, Adam epochs): reaching it is a normal stop.
    pub max_iters: usize,
    /// Algorithm seconds after which the run stops as failed (checked after each step).
    pub time_limit: Option<f64>,
    /// Train accuracy whose first crossing is timed (Table 1's "seconds to 97%").
    pub target_train_acc: Option<f64>,
    /// Stop as soon as the target is reached.
    pub stop_at_target: bool,
}

impl Default for StopRules {
    fn default() -> Self {
        StopRules {
            max_iters: 100,
            time_limit: None,
            target_train_acc: None,
            stop_at_target: false,
        }
    }
}

impl StopRules {
    /// Ranges the types cannot express: the first bad rule and why.
    pub fn validate(&self) -> Result<(), crate::InvalidOption> {
        use crate::InvalidOption as Bad;
        if self.max_iters == 0 {
            return Err(Bad::new("max_iters", "must be at least 1"));
        }
        if let Some(t) = self.target_train_acc.filter(|t| !(0.0..=1.0).contains(t)) {
            return Err(Bad::new(
                "target_train_acc",
                format!("is a fraction in [0, 1], got {t}"),
            ));
        }
        if self.time_limit.is_some_and(|t| t <= 0.0 || t.is_nan()) {
            return Err(Bad::new("time_limit", "must be > 0 seconds"));
        }
        Ok(())
    }
}

/// Receives every step's record. Observers only observe: stopping is the executor's business.
pub trait Observer {
    fn observe(&mut self, record: &IterRecord);

    /// Asked after a step the run goes on from (no stop rule fired, budget left): whether the
    /// observer wants the method's state now (`checkpoint`). The runner says yes every minute
    /// or so and on an interrupt, so that a long run that is stopped loses little.
    fn checkpoint_due(&mut self, _record: &IterRecord) -> bool {
        false
    }

    /// The method's state after the step `checkpoint_due` asked for (methods that cannot
    /// resume, such as Adam, have none and this is not called).
    fn checkpoint(&mut self, _state: &crate::admm::Checkpoint) {}
}

/// An observer that does nothing (for callers that only want the outcome).
impl Observer for () {
    fn observe(&mut self, _: &IterRecord) {}
}

/// One step of a method and whether its own convergence test passed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub record: IterRecord,
    pub converged: bool,
}

/// A method the executor can drive: one step at a time.
pub trait Iterate {
    /// Why a step could not be taken (not divergence: that is a stop, not an error).
    type Error;

    /// What a step is called in messages ("iteration", "epoch").
    fn unit(&self) -> &'static str;

    /// Takes step `k` (0-based) and reports it.
    fn step(&mut self, k: usize) -> Result<Step, Self::Error>;

    /// The first quantity of `record` that shows divergence (NaN or infinite), by name.
    fn divergence(&self, record: &IterRecord) -> Option<String> {
        let obj = record.metrics.objective;
        (!obj.is_finite()).then(|| format!("objective is {obj}"))
    }

    /// Asked only when the convergence test passed: why that pass is not convergence (the
    /// iterates never left their start, so the residuals are zero because nothing moved).
    fn nothing_moved(&self) -> Option<String> {
        None
    }

    /// Whether `record`'s certified optimality gap is small enough to stop.
    fn gap_reached(&self, _record: &IterRecord) -> bool {
        false
    }

    /// Asked only when the convergence test passed: whether the record's certificate backs
    /// it up (else the stop is `Residuals`). Methods without a certificate say yes.
    fn certified(&self, _record: &IterRecord) -> bool {
        true
    }

    /// The state after `iterations` steps, from which the method can go on in another
    /// process (`admm::resume`); None for a method that cannot resume.
    fn checkpoint(&self, _iterations: usize) -> Option<crate::admm::Checkpoint> {
        None
    }
}

/// The end of an executed loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    pub stop: Stop,
    /// Steps completed.
    pub iterations: usize,
    pub last: Option<IterRecord>,
    /// The first record whose train accuracy reached the target (None: never, or no target).
    pub reached: Option<IterRecord>,
}

impl Executed {
    /// Nothing done yet: where a fresh run starts.
    pub fn start() -> Self {
        Executed {
            stop: Stop::MaxIters,
            iterations: 0,
            last: None,
            reached: None,
        }
    }

    /// Cumulative times at the end (zero when no step ran).
    pub fn times(&self) -> Times {
        self.last.map(|r| r.times).unwrap_or_default()
    }
}

/// Drives `method` until a stop rule fires. After each step: the observer sees the record;
/// then divergence, the target (when it stops the run), the method's convergence test, its
/// certified gap and the time limit are checked, in that order.
pub fn execute<M: Iterate + ?Sized>(
    method: &mut M,
    rules: &StopRules,
    observer: &mut dyn Observer,
) -> Result<Executed, M::Error> {
    execute_from(method, rules, observer, Executed::start())
}

/// `execute`, going on from `done` (the steps an interrupted run had taken, its last record
/// and its target crossing): the steps are numbered on from `done.iterations`, so a resumed
/// run counts, stops and reports as one uninterrupted run. After every step the run goes on
/// from, the observer may ask for the method's state (`Observer::checkpoint_due`).
pub fn execute_from<M: Iterate + ?Sized>(
    method: &mut M,
    rules: &StopRules,
    observer: &mut dyn Observer,
    done: Executed,
) -> Result<Executed, M::Error> {
    let mut out = Executed {
        stop: Stop::MaxIters,
        ..done
    };
    for k in out.iterations..rules.max_iters {
        let step = method.step(k)?;
        let r = step.record;
        out.iterations = k + 1;
        out.last = Some(r);
        observer.observe(&r);
        let hit = rules
            .target_train_acc
            .is_some_and(|t| r.metrics.train_acc >= t);
        if hit && out.reached.is_none() {
            out.reached = Some(r);
        }
        if let Some(stop) = stop_after(method, rules, &step, out.reached.is_some()) {
            out.stop = stop;
            break;
        }
        if k + 1 < rules.max_iters && observer.checkpoint_due(&r) {
            if let Some(state) = method.checkpoint(k + 1) {
                observer.checkpoint(&state);
            }
        }
    }
    Ok(out)
}

/// The stop rule that fires after `step`, if any, in the executor's fixed order.
fn stop_after<M: Iterate + ?Sized>(
    method: &M,
    rules: &StopRules,
    step: &Step,
    reached: bool,
) -> Option<Stop> {
    let r = &step.record;
    if let Some(why) = method.divergence(r) {
        return Some(Stop::Diverged(format!(
            "{why} at {} {}",
            method.unit(),
            r.iter
        )));
    }
    if rules.stop_at_target && reached {
        return Some(Stop::TargetReached);
    }
    if step.converged {
        return Some(match method.nothing_moved() {
            Some(why) => Stop::NothingMoved(why),
            None if method.certified(r) => Stop::Converged,
            None => Stop::Residuals,
        });
    }
    if method.gap_reached(r) {
        return Some(Stop::GapReached);
    }
    match rules.time_limit {
        Some(limit) if r.times.total() >= limit => Some(Stop::TimeLimit(limit)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    /// A scripted method: train accuracy, objective and convergence per step, one second each.
    struct Script(Vec<(f64, f64, bool)>);

    impl Iterate for Script {
        type Error = String;
        fn unit(&self) -> &'static str {
            "iteration"
        }
        fn step(&mut self, k: usize) -> Result<Step, String> {
            let (acc, obj, converged) = self.0[k];
            let record = IterRecord {
                iter: k + 1,
                times: Times {
                    u: (k + 1) as f64,
                    ..Times::default()
                },
                wall: 0.0,
                metrics: Metrics {
                    train_acc: acc,
                    objective: obj,
                    ..Metrics::default()
                },
                primal_residual: 0.0,
                dual_residual: 0.0,
                eps_primal: 0.0,
                eps_dual: 0.0,
                inner: InnerStats::default(),
                rho: 1.0,
                ..IterRecord::default()
            };
            Ok(Step { record, converged })
        }
    }

    fn rules(max_iters: usize) -> StopRules {
        StopRules {
            max_iters,
            ..StopRules::default()
        }
    }

    #[test]
    fn budget_target_convergence_time_and_divergence_stop_in_order() {
        let steps = vec![(0.5, 1.0, false), (0.9, 1.0, false), (0.95, 1.0, true)];
        let out = execute(&mut Script(steps.clone()), &rules(2), &mut ()).unwrap();
        assert_eq!((out.stop.clone(), out.iterations), (Stop::MaxIters, 2));

        let mut r = rules(3);
        r.target_train_acc = Some(0.9);
        let out = execute(&mut Script(steps.clone()), &r, &mut ()).unwrap();
        assert_eq!(out.reached.map(|x| x.iter), Some(2), "timed, not stopped");
        assert_eq!(out.stop, Stop::Converged);
        r.stop_at_target = true;
        let out = execute(&mut Script(steps.clone()), &r, &mut ()).unwrap();
        assert_eq!((out.stop, out.iterations), (Stop::TargetReached, 2));

        let mut r = rules(3);
        r.time_limit = Some(2.0);
        let out = execute(&mut Script(steps.clone()), &r, &mut ()).unwrap();
        assert_eq!((out.stop, out.iterations), (Stop::TimeLimit(2.0), 2));

        // Divergence wins over convergence at the same step.
        let bad = vec![(0.5, 1.0, false), (0.5, f64::NAN, true)];
        let out = execute(&mut Script(bad), &rules(5), &mut ()).unwrap();
        assert_eq!(
            out.stop,
            Stop::Diverged("objective is NaN at iteration 2".into())
        );
    }

    #[test]
    fn a_pass_of_the_convergence_test_where_nothing_moved_is_a_failure() {
        struct Still(Script);
        impl Iterate for Still {
            type Error = String;
            fn unit(&self) -> &'static str {
                "iteration"
            }
            fn step(&mut self, k: usize) -> Result<Step, String> {
                self.0.step(k)
            }
            fn nothing_moved(&self) -> Option<String> {
                Some("the iterates stayed at zero".into())
            }
        }
        let out = execute(
            &mut Still(Script(vec![(0.0, 1.0, true)])),
            &rules(3),
            &mut (),
        )
        .unwrap();
        assert_eq!(out.stop.label(), "nothing_moved");
        assert!(out.stop.failure().unwrap().contains("stayed at zero"));
        // Not asked when the test did not pass.
        let out = execute(
            &mut Still(Script(vec![(0.0, 1.0, false)])),
            &rules(1),
            &mut (),
        )
        .unwrap();
        assert_eq!(out.stop, Stop::MaxIters);
    }

    #[test]
    fn observers_see_every_step() {
        struct Count(usize);
        impl Observer for Count {
            fn observe(&mut self, r: &IterRecord) {
                self.0 += 1;
                assert_eq!(r.iter, self.0);
            }
        }
        let mut c = Count(0);
        let steps = vec![(0.5, 1.0, false); 4];
        execute(&mut Script(steps), &rules(4), &mut c).unwrap();
        assert_eq!(c.0, 4);
    }
}
