//! Writes a planned run's problem (X with bias, T, the mask) as raw little-endian f32 files for
//! an independent solver (`scripts/reference_optimum.py`): DIR/x.f32 (n x d), DIR/y.f32
//! (n x C), DIR/mask.f32 (n x P, after duplicate patterns are dropped) and DIR/meta.json (the
//! run id, n, d, P, C and beta).
//!
//!   CIFAR10_DIR=... cargo run --example dump_problem -- experiments/fig1.yaml exact-flex-s0 DIR
//!
//! Arguments: the manifest, a substring of the run id (the first match is taken), the folder
//! and optional `key=value` overrides.

use admm_runner::run::single::planned_problem;
use std::path::Path;

type Cpu = burn::backend::Flex;

fn write(path: &Path, v: &[f32]) -> Result<(), String> {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [manifest, pick, dir, rest @ ..] = args.as_slice() else {
        return Err("usage: dump_problem MANIFEST RUN_ID_SUBSTRING DIR [key=value ...]".into());
    };
    let (run, prob) = planned_problem::<Cpu>(Path::new(manifest), pick, rest)?;
    let dir = Path::new(dir);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    write(&dir.join("x.f32"), &prob.x_host)?;
    write(&dir.join("y.f32"), &prob.y_host)?;
    write(&dir.join("mask.f32"), &prob.patterns.mask)?;
    let meta = serde_json::json!({
        "run": run.id, "n": prob.n, "d": prob.d, "p": prob.p, "c": prob.c, "beta": prob.beta,
    });
    std::fs::write(dir.join("meta.json"), meta.to_string()).map_err(|e| e.to_string())?;
    println!("{meta}");
    Ok(())
}
