//! Embeds the git commit this binary is built from as `ADMM_RUNNER_GIT_COMMIT` ("unknown"
//! outside a git checkout), so that a summary records the code that produced it, not the
//! repository the user happens to run in.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `git -C <source dir> ARGS`, trimmed; None where git or the repository is missing.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// Asks cargo to rerun this script when `name` (a path inside the git directory) changes,
/// if it exists (a missing file would rerun it on every build).
fn watch(dir: &Path, name: &str) {
    if let Some(rel) = git(dir, &["rev-parse", "--git-path", name]) {
        let path = dir.join(PathBuf::from(rel));
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let commit = git(&dir, &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ADMM_RUNNER_GIT_COMMIT={commit}");
    // HEAD moves on a checkout (the HEAD file) and on a commit (the branch's ref, loose or
    // packed).
    watch(&dir, "HEAD");
    if let Some(branch) = git(&dir, &["symbolic-ref", "-q", "HEAD"]) {
        watch(&dir, &branch);
    }
    watch(&dir, "packed-refs");
}
