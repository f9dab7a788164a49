//! The `admm-runner` binary: parse the command line, call the library, map errors to exit codes
//! (0 all runs ok, 1 some run failed, 2 bad input).

mod cli;

use admm_runner::manifest::{self, PlannedRun};
use admm_runner::results::Status;
use admm_runner::run::memory;
use admm_runner::run::shard;
use admm_runner::run::sweep::{self, RunOptions};
use clap::Parser;
use cli::{Cli, Command, Select};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// One arm per subcommand (its length is the number of subcommands: each arm only unpacks
/// its flags and calls the library or a helper below).
fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Info => {
            println!("admm-runner {}", env!("CARGO_PKG_VERSION"));
            for line in admm_runner::backend::describe() {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Condition { manifest, set, out } => {
            let overrides = manifest::parse_overrides(&set)?;
            let (file, k) = admm_runner::commands::condition::run(&manifest, &overrides, &out)?;
            print_kappas(&k);
            println!("written {}", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            select,
            gap: Some(budget),
        } => {
            let runs = planned(&select)?;
            let rows =
                admm_runner::commands::bench::gap_race(&runs, budget, |line| eprintln!("{line}"));
            print!(
                "{}",
                admm_runner::commands::bench::gap_markdown(&rows, budget)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { select, gap: None } => {
            let runs = planned(&select)?;
            let report = admm_runner::commands::bench::run(&runs, |line| eprintln!("{line}"));
            print!("{}", admm_runner::commands::bench::markdown(&report));
            Ok(ExitCode::SUCCESS)
        }
        Command::Plot {
            manifests,
            all,
            set,
            results,
            plots,
        } => plot(manifests, all, &set, results, plots),
        Command::Regress {
            select,
            baseline,
            update,
            reps,
            time_factor,
            suite_time_factor,
        } => regress(
            &select,
            baseline,
            update,
            reps,
            (time_factor, suite_time_factor),
        ),
        Command::Predict {
            model,
            data,
            out,
            backend,
            set,
        } => predict(&model, &data, &out, backend.as_deref(), &set),
        Command::Show {
            target,
            set,
            results,
            only,
            sort,
            reverse,
            format,
            group_by,
        } => {
            let opts = admm_runner::commands::show::Options {
                target,
                overrides: manifest::parse_overrides(&set)?,
                results,
                only,
                sort,
                reverse,
                format,
                group_by,
            };
            print!("{}", admm_runner::commands::show::show(&opts)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Submit {
            manifest,
            slurm: _,
            now,
            set,
            only,
            out,
            shards,
            time,
            cpus,
            mem,
            partition,
            account,
            gpus,
            force,
        } => {
            let flags = admm_runner::commands::submit::Launcher {
                shards,
                time,
                cpus,
                mem,
                partition,
                account,
                gpus,
                ..Default::default()
            };
            submit(
                admm_runner::commands::submit::Request {
                    manifest,
                    set,
                    only,
                    out,
                    flags,
                },
                now,
                force,
            )
        }
        Command::Plan {
            select,
            memory,
            config,
        } => match config {
            Some(id) => plan_config(&select, &id),
            None => plan(&select, memory),
        },
        Command::Run {
            select,
            out,
            force,
            keep_failed,
            retry_failed: _,
            quiet,
        } => run(
            &select,
            RunOptions {
                out,
                force,
                keep_failed,
                quiet,
            },
        ),
    }
}

/// `run`: executes the selected runs (a run with a `beta_path:` as a regularization path);
/// exit 1 when any failed.
fn run(select: &Select, opts: RunOptions) -> anyhow::Result<ExitCode> {
    let (paths, runs): (Vec<PlannedRun>, Vec<PlannedRun>) = planned(select)?
        .into_iter()
        .partition(|r| r.beta_path.is_some());
    check_writable(&opts.out)?;
    check_data(&paths, &runs, &opts)?;
    sweep::install_interrupt_cleanup()?;
    let mut path_failed = 0;
    for r in admm_runner::run::path::run_paths(&paths, &opts).map_err(anyhow::Error::msg)? {
        path_failed += r.rows.iter().filter(|p| p.status != Status::Ok).count();
    }
    if runs.is_empty() {
        return Ok(if path_failed > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    let report = sweep::run_sweep(&runs, &opts);
    println!(
        "{} runs: {} ok, {} failed, {} skipped (finished earlier), {} claimed by another process; results in {}",
        runs.len(),
        report.ok,
        report.failed,
        report.skipped,
        report.claimed,
        opts.out.display()
    );
    Ok(if report.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Checks every distinct data section of the runs still to compute (all with --force) once,
/// before any run starts: a wrong path or `CIFAR10_DIR` is one error (exit 2), not a failed
/// summary per run.
fn check_data(paths: &[PlannedRun], runs: &[PlannedRun], opts: &RunOptions) -> anyhow::Result<()> {
    // Compared as located: the same text beside two manifests may name two files.
    let mut seen: Vec<admm_runner::data::DataConfig> = Vec::new();
    for run in paths.iter().chain(runs) {
        let files = admm_runner::results::RunPaths::new(&opts.out, &run.config.experiment, &run.id);
        let todo = opts.force || !sweep::is_finished(&files, opts.keep_failed);
        let located = run.config.data.located();
        if !todo || seen.contains(&located) {
            continue;
        }
        seen.push(located.clone());
        if let Err(e) = admm_runner::data::check(&located) {
            let cwd = std::env::current_dir().unwrap_or_default();
            anyhow::bail!(
                "{}: {e}\n  nothing was run (the data is checked before the first run); \
                 a relative data path is read beside the manifest ({}) when the file is there, \
                 else from the current directory, {}",
                run.manifest.display(),
                run.manifest
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."))
                    .display(),
                cwd.display()
            );
        }
    }
    Ok(())
}

/// `submit --slurm`: writes the job-array script and, with `now`, hands it to sbatch.
fn submit(
    req: admm_runner::commands::submit::Request,
    now: bool,
    force: bool,
) -> anyhow::Result<ExitCode> {
    use admm_runner::commands::submit;
    let job = submit::prepare(&req)?;
    let written = submit::write(&job, force)?;
    let path = written.script;
    if let Some(old) = &written.kept {
        println!("kept the earlier script as {}", old.display());
    }
    println!(
        "written {}: {} runs of {} in {} array tasks, results into {}; the manifest as submitted: {}",
        path.display(),
        job.runs,
        job.experiment,
        job.shards(),
        job.out.display(),
        written.manifest.display()
    );
    if now {
        println!("{}", submit::sbatch(&path)?);
    } else {
        println!("submit it with: sbatch {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `predict`: a saved model's outputs on DATA, written to `out`; prints the accuracy.
fn predict(
    model: &std::path::Path,
    data: &[std::path::PathBuf],
    out: &std::path::Path,
    backend: Option<&str>,
    set: &[String],
) -> anyhow::Result<ExitCode> {
    use admm_runner::commands::predict;
    use admm_runner::run::model::SavedModel;
    let inputs: Vec<&std::path::Path> = std::iter::once(model)
        .chain(data.iter().map(|p| p.as_path()))
        .collect();
    predict::check_output(out, &inputs)?;
    let saved = SavedModel::read(model)?;
    let backend = match backend {
        None => saved.backend,
        Some(name) => serde_json::from_value(serde_json::Value::String(name.into()))
            .map_err(|_| anyhow::anyhow!("--backend {name}: expected flex, ndarray or cuda"))?,
    };
    let examples = predict::examples(&saved, data, &manifest::parse_overrides(set)?)?;
    let labels = examples.y.clone();
    let p = predict::predict(&saved, examples, backend)?;
    predict::write(out, &p, &labels)?;
    let acc = if p.scored.accuracy.is_nan() {
        "no labels, accuracy unknown".to_string()
    } else {
        format!("accuracy {:.4}", p.scored.accuracy)
    };
    println!(
        "{} ({}): {} examples from {}, {acc} (the run recorded test accuracy {:.4}); {} on {}; outputs in {}",
        saved.run_id,
        saved.method,
        p.examples,
        p.what,
        saved.test_acc,
        admm_runner::run::model::labels(&saved.data),
        p.backend,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// kappa(A), kappa(diag), and kappa_nys at rank 1, every multiple of 10, and the last rank.
fn print_kappas(k: &admm_runner::commands::condition::Kappas) {
    println!("kappa(A)            {:.4e}", k.kappa_a);
    println!("kappa(D^-1/2 A D^-1/2) {:.4e}", k.kappa_diag);
    let last = k.ranks.last().copied().unwrap_or(0);
    for (i, &r) in k.ranks.iter().enumerate() {
        if r == 1 || r % 10 == 0 || r == last {
            let reference = k
                .kappa_nys_ref
                .as_ref()
                .map(|v| format!("  reference variant {:.4e}", v[i]))
                .unwrap_or_default();
            println!("rank {r:>4}  kappa_nys {:.4e}{reference}", k.kappa_nys[i]);
        }
    }
}

/// `plot`: renders each manifest's figures; one failing manifest does not stop the others.
/// With `--all`, a manifest that was never run (no results at all) is skipped with a note, as
/// `make` skips what has no inputs yet; it is an error only when nothing at all was plotted.
fn plot(
    manifests: Vec<std::path::PathBuf>,
    all: bool,
    set: &[String],
    results: std::path::PathBuf,
    plots: std::path::PathBuf,
) -> anyhow::Result<ExitCode> {
    use admm_runner::plots;
    let overrides = manifest::parse_overrides(set)?;
    let manifests = if all {
        let found = plots::manifests_with_plots(std::path::Path::new("experiments"))?;
        anyhow::ensure!(
            !found.is_empty(),
            "experiments/: no manifest has a `plot:` section"
        );
        found
    } else {
        manifests
    };
    let opts = plots::PlotOptions { results, plots };
    let (mut failed, mut not_run) = (0, Vec::new());
    // Figures are named after the experiment: a second manifest with the same name would
    // silently replace the first one's figures.
    let mut names: std::collections::HashMap<String, &std::path::Path> = Default::default();
    for m in &manifests {
        if let Ok((_, experiment, _)) = manifest::plot_plan(m, &overrides) {
            if let Some(first) = names.get(&experiment) {
                eprintln!(
                    "error: {}: its experiment name {experiment:?} is also that of {}, whose \
                     figures it would replace: give one of them another `name:`",
                    m.display(),
                    first.display()
                );
                failed += 1;
                continue;
            }
            names.insert(experiment, m);
        }
        match plots::plot_manifest(m, &overrides, &opts) {
            Ok(report) => {
                for w in &report.warnings {
                    eprintln!("warning: {w}");
                }
                for f in &report.files {
                    println!("written {}", f.display());
                }
            }
            Err(e @ (plots::PlotError::Missing { .. } | plots::PlotError::MissingKappa { .. }))
                if all =>
            {
                not_run.push(e)
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    if not_run.len() == manifests.len() {
        for e in &not_run {
            eprintln!("error: {e}");
        }
        return Ok(ExitCode::from(2));
    }
    for e in &not_run {
        eprintln!("skipped (not run yet): {e}");
    }
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// `regress`: runs the suite, prints the comparison table; exit 1 on a regression.
fn regress(
    select: &Select,
    baseline: std::path::PathBuf,
    update: bool,
    reps: usize,
    (time_factor, suite_time_factor): (f64, f64),
) -> anyhow::Result<ExitCode> {
    use admm_runner::regress;
    // Timings are taken with one worker thread unless RAYON_NUM_THREADS says otherwise: on a
    // shared machine a parallel section waits for its slowest thread, so a multi-threaded time
    // measures the neighbours as much as the code. Set before anything starts the pool.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    // --only is applied by regress (it also matches baseline keys), --shard here.
    let all = Select {
        manifests: select.manifests.clone(),
        set: select.set.clone(),
        sweep: select.sweep.clone(),
        only: Vec::new(),
        shard: select.shard.clone(),
    };
    let all_runs = planned(&all)?;
    let count = all_runs.len();
    let runs = regress::select(all_runs, &select.only)?;
    if !select.only.is_empty() {
        anyhow::ensure!(!runs.is_empty(), "{}", no_match(&select.only, count));
    }
    anyhow::ensure!(!runs.is_empty(), "no run selected");
    let manifests: Vec<String> = select
        .manifests
        .iter()
        .map(|m| m.display().to_string())
        .collect();
    let opts = regress::Options {
        baseline,
        update,
        reps,
        tolerances: regress::Tolerances {
            time_factor,
            suite_time_factor,
            ..Default::default()
        },
        complete: select.only.is_empty() && select.shard.is_none(),
        manifest: manifests.join(" "),
        u_step_delay: None,
    };
    let report = regress::run(&runs, &opts, |line| eprintln!("{line}"))?;
    print!("{}", report.table());
    println!("{}", report.summary().trim_end());
    Ok(
        if report.written.is_some() || report.regressions().is_empty() {
            ExitCode::SUCCESS
        } else {
            println!(
                "if the change is intended, accept it: rerun this command with --update (with \
             --only, only those runs are rewritten) and commit {}",
                opts.baseline.display()
            );
            ExitCode::from(1)
        },
    )
}

/// Expands all manifests, then applies --only and --shard.
/// `plan`: one line per run, with its memory estimate when asked.
fn plan(select: &Select, with_memory: bool) -> anyhow::Result<ExitCode> {
    // The varied keys of the whole plan, so that a selected line still names them.
    let varied = manifest::plan_varied(&expanded(select)?);
    let runs = planned(select)?;
    if with_memory {
        match memory::available().map_err(anyhow::Error::msg)? {
            Some(a) => println!(
                "available memory: {} ({})",
                memory::human(a.bytes),
                a.source
            ),
            None => println!("available memory: not known (no check)"),
        }
    }
    // Each line ends with the run's estimated time at most (`run::estimate`); the total goes
    // to stderr, so that stdout stays one line per run for scripts.
    let gflops = admm_runner::run::estimate::rate();
    let (mut total, mut unknown) = (0.0, 0);
    let count = runs.len();
    for run in runs {
        let est = match admm_runner::run::estimate::estimate(&run, gflops) {
            Ok(e) => {
                total += e.seconds;
                admm_runner::run::estimate::human(e.seconds)
            }
            Err(_) => {
                unknown += 1;
                "?".to_string()
            }
        };
        println!("{}  est<={est}", run.describe_varied(&varied));
        if with_memory {
            match memory::estimate(&run.config) {
                Ok(e) => println!(
                    "  estimated memory: {} MiB: {}",
                    e.bytes() >> 20,
                    e.describe()
                ),
                Err(e) => println!("  estimated memory: unknown ({e})"),
            }
        }
    }
    let unknown = match unknown {
        0 => String::new(),
        k => format!(", {k} run(s) not estimated (data not readable)"),
    };
    eprintln!(
        "estimated time: at most {} for {count} run(s){unknown} (an estimate: each run's flops \
         at max_iters at {gflops} GFLOP/s plus a cost per iteration; runs that stop at a \
         tolerance or target take less; {} sets the rate)",
        admm_runner::run::estimate::human(total),
        admm_runner::run::estimate::RATE_VAR
    );
    Ok(ExitCode::SUCCESS)
}

fn planned(select: &Select) -> anyhow::Result<Vec<PlannedRun>> {
    let runs = expanded(select)?;
    let shard = match &select.shard {
        Some(text) => Some(shard::parse_shard(text, |k| std::env::var(k).ok())?),
        None => None,
    };
    let count = runs.len();
    let only = &select.only;
    if !only.is_empty() {
        let matched = shard::select(runs.clone(), only, None).len();
        anyhow::ensure!(matched > 0, "{}", no_match(only, count));
    }
    Ok(shard::select(runs, only, shard))
}

/// Every run of the manifests with the overrides and sweeps, before --only and --shard.
fn expanded(select: &Select) -> anyhow::Result<Vec<PlannedRun>> {
    let overrides = manifest::parse_overrides(&select.overrides()?)?;
    let mut runs = Vec::new();
    for path in &select.manifests {
        runs.extend(manifest::plan(path, &overrides)?);
    }
    Ok(runs)
}

/// The error for `--only` filters that together select nothing.
fn no_match(only: &[String], planned: usize) -> String {
    let given: Vec<String> = only.iter().map(|o| format!("--only {o:?}")).collect();
    format!(
        "{} matches none of the {planned} planned runs (KEY=VALUE is exact on a resolved key or \
         a field of the lines `admm-runner plan` prints; TEXT matches the start of a field)",
        given.join(" ")
    )
}

/// `plan --config RUN_ID`: every resolved key of one run, `key = value` a line.
fn plan_config(select: &Select, id: &str) -> anyhow::Result<ExitCode> {
    let runs = planned(select)?;
    let found: Vec<&PlannedRun> = runs.iter().filter(|r| r.id.starts_with(id)).collect();
    let run = match found[..] {
        [run] => run,
        [] => anyhow::bail!(
            "--config {id}: no planned run has this id (`admm-runner plan` lists them)"
        ),
        _ => anyhow::bail!(
            "--config {id}: {} planned runs start with it ({}, ...): give more of the id",
            found.len(),
            found[0].id
        ),
    };
    println!("# {} ({})", run.id, run.manifest.display());
    for (key, value) in manifest::settings(&run.config) {
        println!("{key} = {value}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates the results folder and writes (then removes) a probe file in it, so that an
/// output folder that cannot be written is found before the first solve, not after it.
fn check_writable(out: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(out)
        .with_context(|| format!("--out {}: cannot create the results folder", out.display()))?;
    // An exclusively created temp file with a random name, removed when dropped: a link
    // planted in the folder is never written through.
    tempfile::Builder::new()
        .prefix(".admm-runner-probe-")
        .tempfile_in(out)
        .with_context(|| {
            format!(
                "--out {}: cannot write in the results folder",
                out.display()
            )
        })?;
    Ok(())
}
