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
