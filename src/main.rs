//! The `admm-runner` binary: parse the command line, call the library, map errors to exit codes
//! (0 all runs ok, 1 some run failed, 2 bad input).

use admm_runner::cli::{Cli, Command, Select};
use admm_runner::manifest::{self, PlannedRun};
use admm_runner::runner::{self, RunOptions};
use admm_runner::shard;
use clap::Parser;
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
            let (file, k) = admm_runner::conditioning::run(&manifest, &overrides, &out)?;
            print_kappas(&k);
            println!("written {}", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { select } => {
            let runs = planned(&select)?;
            let report = admm_runner::bench::run(&runs, |line| eprintln!("{line}"));
            print!("{}", admm_runner::bench::markdown(&report));
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { select } => {
            for run in planned(&select)? {
                println!("{}", run.describe());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            select,
            out,
            force,
            retry_failed,
            quiet,
        } => {
            let runs = planned(&select)?;
            let opts = RunOptions {
                out,
                force,
                retry_failed,
                quiet,
            };
            let report = runner::run_sweep(&runs, &opts);
            println!(
                "{} runs: {} ok, {} failed, {} skipped (finished earlier); results in {}",
                runs.len(),
                report.ok,
                report.failed,
                report.skipped,
                opts.out.display()
            );
            Ok(if report.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

/// kappa(A), kappa(diag), and kappa_nys at rank 1, every multiple of 10, and the last rank.
fn print_kappas(k: &admm_runner::conditioning::Kappas) {
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

/// Expands all manifests, then applies --only and --shard.
fn planned(select: &Select) -> anyhow::Result<Vec<PlannedRun>> {
    let overrides = manifest::parse_overrides(&select.set)?;
    let mut runs = Vec::new();
    for path in &select.manifests {
        runs.extend(manifest::plan(path, &overrides)?);
    }
    let shard = match &select.shard {
        Some(text) => Some(shard::parse_shard(text, |k| std::env::var(k).ok())?),
        None => None,
    };
    Ok(shard::select(runs, select.only.as_deref(), shard))
}
