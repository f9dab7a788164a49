//! Regularization paths (`beta_path:`): a planned run solved at a decreasing sequence of betas,
//! each from the previous beta's solution, with beta chosen on a validation split of the
//! training set.
//!
//! For each planned run with a `beta_path:` section: hold out `validation` of the training set
//! (before standardization, whose statistics come from the rest), build the problem once,
//! compute beta_max (`admm_engine::betamax`), and solve at betas from beta_max down (or the listed
//! ones, largest first). Every point is a run of its own (its id hashes the path and its
//! place on it) with a summary (with `val_acc`), trace and model, written as `run` writes
//! them; the path table `<out>/<experiment>/paths/<path-id>.parquet`, written last, is the
//! path's commit marker. With `compare_cold`, the same path is solved again from zero at
//! every beta, and both total times are printed.

use crate::backend::{self, BackendTask};
use crate::data::{self, Dataset, Holdout, Standardization};
use crate::manifest::{run_id, Algorithm, BetaPath, PathPoint, PlannedRun};
use crate::results::schema::{read_path, write_path, PathRow};
use crate::results::{RunPaths, Status};
use crate::run::single::{catch_panic, fill_result, Outcome, Recorder, Session, Solved};
use crate::run::sweep::{store, RunOptions};
use admm_engine::adam::Network;
use admm_engine::admm::{self, usolve, WarmStart};
use admm_engine::betamax;
use burn::tensor::backend::Backend;
use std::path::PathBuf;
use std::time::Instant;

/// What one solved path (warm or cold) came to.
#[derive(Debug, Clone, PartialEq)]
pub struct PathResult {
    pub path_id: String,
    pub table: PathBuf,
    pub rows: Vec<PathRow>,
    /// Solver seconds summed over the points.
    pub total_s: f64,
    /// Wall-clock seconds of the whole path, beta_max and metrics included.
    pub wall_s: f64,
}

impl PathResult {
    /// The row the validation accuracy chose.
    pub fn chosen(&self) -> Option<&PathRow> {
        self.rows.iter().find(|r| r.chosen)
    }
}

/// The id of a path as a whole (its table's name): a run id with no point index.
pub fn path_id(base: &PlannedRun, spec: &BetaPath, warm: bool) -> String {
    let mut cfg = base.config.clone();
    cfg.problem.beta = 0.0;
    cfg.path = Some(PathPoint::new(spec, warm, None));
    format!("path-{}", run_id(&cfg))
}

/// `<out>/<experiment>/paths/<path-id>.parquet`.
pub fn table_path(out: &std::path::Path, base: &PlannedRun, id: &str) -> PathBuf {
    out.join(&base.config.experiment)
        .join("paths")
        .join(format!("{id}.parquet"))
}

/// Solves the path of every run in `bases` (each has a `beta_path`): warm-started, cold, or
/// both (`compare_cold`), skipping paths whose table exists unless `force`. Prints one line
/// per point and the choice; returns each path solved or read back.
pub fn run_paths(bases: &[PlannedRun], opts: &RunOptions) -> Result<Vec<PathResult>, String> {
    let mut out = Vec::new();
    let session = Session::new();
    for base in bases {
        let Some(spec) = &base.beta_path else {
            continue;
        };
        let mut done = Vec::new();
        for warm in modes(spec) {
            let id = path_id(base, spec, warm);
            let table = table_path(&opts.out, base, &id);
            let result = match read_path(&table) {
                Ok(rows) if !opts.force && !rows.is_empty() => {
                    say(
                        opts,
                        &format!("{id}: finished earlier, read back (--force reruns)"),
                    );
                    finished(id, table, rows)
                }
                _ => solve_path(base, spec, warm, opts, &session, (id, table))?,
            };
            report(opts, base, &result);
            done.push(result);
        }
        if let [warm, cold] = &done[..] {
            compare(warm, cold, base.config.solver.stop.max_iters);
        }
        out.extend(done);
    }
    Ok(out)
}

/// The paths a `beta_path:` section solves: warm-started, cold, or warm then cold
/// (`compare_cold`); `show` lists the same tables `run` writes.
pub fn modes(spec: &BetaPath) -> Vec<bool> {
    match (spec.warm_start, spec.compare_cold) {
        (true, true) => vec![true, false],
        (warm, _) => vec![warm],
    }
}

/// A path read back from its table.
fn finished(path_id: String, table: PathBuf, rows: Vec<PathRow>) -> PathResult {
    let total_s = rows
        .iter()
        .map(|r| r.solve_s)
        .filter(|s| s.is_finite())
        .sum();
    PathResult {
        path_id,
        table,
        rows,
        total_s,
        wall_s: f64::NAN,
    }
}

fn say(opts: &RunOptions, line: &str) {
    if !opts.quiet {
        eprintln!("{line}");
    }
}

/// The data of a path: the training set less the validation split, standardized with the
/// statistics of what is left; the split and the test set transformed the same way.
pub fn path_data(
    base: &PlannedRun,
    validation: f64,
) -> Result<(Dataset, Holdout, Option<Standardization>), String> {
    let cfg = &base.config;
    let mut ds = data::load_raw(&cfg.data, cfg.seed).map_err(|e| e.to_string())?;
    let seed = cfg.data.seed.unwrap_or(cfg.seed);
    let (mut holdout, _) = data::split_validation(&mut ds, validation, seed);
    let stats = Standardization::fit(&ds, cfg.data.standardize);
    if let Some(s) = &stats {
        s.apply(&mut ds.x);
        s.apply(&mut ds.x_test);
        s.apply(&mut holdout.x);
    }
    Ok((ds, holdout, stats))
}

/// Solves one path, writing every point's files as it is solved and the table last.
fn solve_path(
    base: &PlannedRun,
    spec: &BetaPath,
    warm: bool,
    opts: &RunOptions,
    session: &Session,
    (path_id, table): (String, PathBuf),
) -> Result<PathResult, String> {
    let wall = Instant::now();
    let t = Instant::now();
    let (ds, holdout, stats) = path_data(base, spec.validation)?;
    let load_s = t.elapsed().as_secs_f64();
    let mut rows = Vec::new();
    let mut failure = None;
    let mut on_point = |point: &PlannedRun, solved: PointSolved| {
        let outcome = point_outcome(session, point, solved, &stats, load_s);
        let paths = RunPaths::new(&opts.out, &point.config.experiment, &point.id);
        let written = store(point, &paths, &outcome);
        if let Err(e) = written {
            failure.get_or_insert(e);
        }
        let row = path_row(point, &outcome);
        say(opts, &point_line(&row, &outcome));
        rows.push(row);
    };
    let task = PathTask {
        base,
        spec,
        warm,
        data: &ds,
        holdout: &holdout,
        on_point: &mut on_point,
    };
    catch_panic(|| backend::dispatch(base.config.backend, task))?.map_err(|e| e.to_string())??;
    if let Some(e) = failure {
        return Err(e);
    }
    choose(&mut rows);
    write_path(&table, &rows).map_err(|e| e.to_string())?;
    let total_s = rows
        .iter()
        .map(|r| r.solve_s)
        .filter(|s| s.is_finite())
        .sum();
    Ok(PathResult {
        path_id,
        table,
        rows,
        total_s,
        wall_s: wall.elapsed().as_secs_f64(),
    })
}

/// Marks the ok point with the best validation accuracy (the larger beta on a tie: the
/// sparser network) as chosen.
pub fn choose(rows: &mut [PathRow]) {
    let best = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == Status::Ok && r.val_acc.is_finite())
        .fold(None, |best: Option<(usize, f64)>, (i, r)| match best {
            Some((_, acc)) if acc >= r.val_acc => best,
            _ => Some((i, r.val_acc)),
        });
    for (i, r) in rows.iter_mut().enumerate() {
        r.chosen = best.is_some_and(|(b, _)| b == i);
    }
}

/// What solving one point produced, before it becomes a summary.
struct PointSolved {
    result: Result<Solved, String>,
    trace: Vec<crate::results::TraceRow>,
    val_acc: Option<f64>,
    beta_max: f64,
    wall_s: f64,
}

/// A point's summary and files, as `Session::execute` would make them.
fn point_outcome(
    session: &Session,
    point: &PlannedRun,
    solved: PointSolved,
    stats: &Option<Standardization>,
    load_s: f64,
) -> Outcome {
    let index = point
        .config
        .path
        .as_ref()
        .and_then(|p| p.index)
        .unwrap_or(0);
    let mut summary = crate::results::Summary {
        load_s: Some(if index == 0 { load_s } else { 0.0 }),
        wall_s: Some(solved.wall_s),
        val_acc: solved.val_acc,
        ..session.identity(point)
    };
    summary.config.push((
        "path.beta_max".into(),
        crate::results::Cell::F64(Some(solved.beta_max)),
    ));
    let network = solved.result.as_ref().ok().and_then(|s| s.network.clone());
    let reached = solved.result.as_ref().ok().and_then(|s| s.reached);
    fill_result(&mut summary, solved.result, &solved.trace, &point.config);
    Outcome {
        summary,
        trace: solved.trace,
        reached,
        network,
        standardization: stats.clone(),
    }
}

fn path_row(point: &PlannedRun, o: &Outcome) -> PathRow {
    let s = &o.summary;
    let nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
    let beta_max = s.config.iter().find(|(k, _)| k == "path.beta_max");
    PathRow {
        index: point
            .config
            .path
            .as_ref()
            .and_then(|p| p.index)
            .unwrap_or(0) as i64,
        beta: point.config.problem.beta,
        beta_max: match beta_max {
            Some((_, crate::results::Cell::F64(v))) => nan(*v),
            _ => f64::NAN,
        },
        run_id: point.id.clone(),
        warm_start: point.config.path.as_ref().is_some_and(|p| p.warm_start),
        status: s.status,
        iterations: s.iterations.unwrap_or(0),
        solve_s: nan(s.solve_s),
        objective: nan(s.last.objective),
        train_acc: nan(s.last.train_acc),
        val_acc: nan(s.val_acc),
        test_acc: nan(s.last.test_acc),
        active_neurons: s.last.active_neurons.unwrap_or(0),
        chosen: false,
    }
}

fn point_line(r: &PathRow, o: &Outcome) -> String {
    let state = match o.failure() {
        Some(why) => format!("FAILED: {why}"),
        None => format!(
            "{} iters, {:.2} s, train {:.4} val {:.4} test {:.4}, {} active neurons",
            r.iterations, r.solve_s, r.train_acc, r.val_acc, r.test_acc, r.active_neurons
        ),
    };
    format!(
        "  beta[{}] = {:.4e} ({}): {state}",
        r.index, r.beta, r.run_id
    )
}

/// Prints the choice of a path.
fn report(opts: &RunOptions, base: &PlannedRun, r: &PathResult) {
    // The file a user takes away is the chosen point's model: name it, not only its beta.
    let model = |c: &PathRow| {
        let file = RunPaths::new(&opts.out, &base.config.experiment, &c.run_id).model;
        if file.is_file() {
            format!("; chosen model {}", file.display())
        } else {
            format!(
                "; no model saved for {} (output.save_model is off)",
                c.run_id
            )
        }
    };
    let mode = if r.rows.first().is_some_and(|x| x.warm_start) {
        "warm"
    } else {
        "cold"
    };
    let line = match r.chosen() {
        Some(c) => format!(
            "{} ({mode} start, {} betas, {:.2} s solver total): chosen beta = {:.4e} (val acc {:.4}), test acc {:.4}, {} active neurons; manifest beta {} for comparison; table {}{}",
            r.path_id,
            r.rows.len(),
            r.total_s,
            c.beta,
            c.val_acc,
            c.test_acc,
            c.active_neurons,
            base.config.problem.beta,
            r.table.display(),
            model(c)
        ),
        None => format!("{}: no point finished ok, no beta chosen", r.path_id),
    };
    if !opts.quiet {
        println!("{line}");
    }
}

/// Prints warm against cold: total solver seconds and iterations, and the largest relative
/// difference of the final objectives, apart for the betas where both paths stopped on their
/// residual test and where one of them stopped at `max_iters` (still short of the solution:
/// there the difference measures how far, not a disagreement of two solutions).
fn compare(warm: &PathResult, cold: &PathResult, max_iters: usize) {
    let iters = |r: &PathResult| r.rows.iter().map(|x| x.iterations).sum::<i64>();
    let capped = |r: &PathRow| r.iterations >= max_iters as i64;
    let gap = |both_converged: bool| {
        warm.rows
            .iter()
            .zip(&cold.rows)
            .filter(|(a, b)| (capped(a) || capped(b)) != both_converged)
            .map(|(a, b)| (a.objective - b.objective).abs() / b.objective.abs().max(1e-12))
            .fold(None, |m: Option<f64>, g| Some(m.map_or(g, |m| m.max(g))))
    };
    let cut = |r: &PathResult| r.rows.iter().filter(|x| capped(x)).count();
    let mut line = format!(
        "warm vs cold start, same path: {:.2} s vs {:.2} s solver total ({:.2}x), {} vs {} ADMM \
         iterations, {} vs {} of {} betas stopped at max_iters {max_iters}",
        warm.total_s,
        cold.total_s,
        cold.total_s / warm.total_s.max(1e-12),
        iters(warm),
        iters(cold),
        cut(warm),
        cut(cold),
        warm.rows.len()
    );
    if let Some(g) = gap(true) {
        line += &format!("; objectives agree to {g:.1e} (relative) where both converged");
    }
    if let Some(g) = gap(false) {
        line += &format!("; differ by up to {g:.1e} where a path stopped at max_iters");
    }
    println!("{line}");
}

/// The betas of a path, largest first: `count` from beta_max down to `ratio` * beta_max,
/// geometrically spaced, or the listed ones sorted.
pub fn betas(spec: &BetaPath, beta_max: f64) -> Vec<f64> {
    if !spec.betas.is_empty() {
        let mut b = spec.betas.clone();
        b.sort_by(|x, y| y.total_cmp(x));
        return b;
    }
    let last = (spec.count.max(2) - 1) as f64;
    (0..spec.count)
        .map(|k| beta_max * spec.ratio.powf(k as f64 / last))
        .collect()
}

/// The planned run of point `index` at `beta`.
fn point_run(
    base: &PlannedRun,
    spec: &BetaPath,
    warm: bool,
    index: usize,
    beta: f64,
) -> PlannedRun {
    let mut config = base.config.clone();
    config.problem.beta = beta;
    config.path = Some(PathPoint::new(spec, warm, Some(index)));
    PlannedRun {
        id: run_id(&config),
        config,
        manifest: base.manifest.clone(),
        save_model: base.save_model,
        beta_path: None,
    }
}

/// The whole path on one backend: the problem and beta_max once, then every point.
struct PathTask<'a> {
    base: &'a PlannedRun,
    spec: &'a BetaPath,
    warm: bool,
    data: &'a Dataset,
    holdout: &'a Holdout,
    on_point: &'a mut dyn FnMut(&PlannedRun, PointSolved),
}

impl BackendTask for PathTask<'_> {
    type Output = Result<(), String>;

    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        let cfg = &self.base.config;
        let Algorithm::Admm(opts, spec) = cfg.solver.method.algorithm() else {
            return Err("a regularization path needs an ADMM method".into());
        };
        let prob = cfg
            .problem
            .build::<B>(self.data, cfg.seed, &device)
            .map_err(|e| e.to_string())?;
        let bmax = betamax::beta_max(&prob, self.spec.beta_max_iters).value;
        let mut start: Option<WarmStart<B>> = None;
        for (k, beta) in betas(self.spec, bmax).into_iter().enumerate() {
            let point = point_run(self.base, self.spec, self.warm, k, beta);
            let t = Instant::now();
            let mut p = prob.clone();
            p.beta = beta;
            if k > 0 {
                p.setup_seconds = 0.0; // built once, charged to the first point
            }
            let mut usolver =
                usolve::make_solver::<B>(&spec, cfg.seed).map_err(|e| e.to_string())?;
            let mut rec = Recorder {
                rows: Vec::new(),
                also: None,
                saver: None,
            };
            let from = if self.warm { start.take() } else { None };
            let solved = admm::solve_from(
                &p,
                &opts,
                &cfg.solver.stop,
                usolver.as_mut(),
                &mut rec,
                from,
            );
            let (result, val_acc) = match solved {
                Ok(out) => {
                    let net = Network::from_convex(&out.v, p.c, p.loss, cfg.problem.bias);
                    let h = self.holdout;
                    let val = net.score::<B>(&h.x, &h.y, h.n, &device).accuracy;
                    let s = Solved {
                        stop: out.stop,
                        times: out.times,
                        reached: out.reached,
                        d: p.d,
                        p: p.p,
                        dropped: p.patterns.dropped,
                        network: Some(net),
                    };
                    start = Some(WarmStart {
                        state: out.state,
                        rho: out.rho,
                    });
                    (Ok(s), Some(val))
                }
                Err(e) => (Err(e.to_string()), None),
            };
            let wall_s = t.elapsed().as_secs_f64();
            let solved = PointSolved {
                result,
                trace: rec.rows,
                val_acc,
                beta_max: bmax,
                wall_s,
            };
            (self.on_point)(&point, solved);
        }
        Ok(())
    }
}
