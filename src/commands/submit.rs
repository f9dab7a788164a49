//! `admm-runner submit MANIFEST --slurm`: writes a SLURM job-array script, one array task per
//! shard, every task running `admm-runner run MANIFEST --shard slurm --out DIR` into one
//! shared results folder (the claims of `results::store` keep concurrent tasks apart), and
//! with `--now` hands it to `sbatch`. Resources come from the manifest's `launcher:` section,
//! overridden by flags; the section is not part of any run id.

pub use crate::manifest::Launcher;
use crate::manifest::ManifestError;
use std::path::{Path, PathBuf};

/// Why no script was written or submitted: the manifest, the selection, the resources, or
/// the file system and `sbatch`, each named.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("--only {only:?} matches none of the {count} planned runs of {manifest}")]
    NoMatch {
        only: String,
        count: usize,
        manifest: PathBuf,
    },
    #[error("{manifest}: no runs")]
    NoRuns { manifest: PathBuf },
    #[error("{manifest}: key `launcher.{key}` (or --{key}): {reason}")]
    Launcher {
        manifest: PathBuf,
        key: String,
        reason: String,
    },
    #[error("{what} {path}: not valid UTF-8, which the SLURM script cannot name exactly")]
    NotUtf8 { what: &'static str, path: PathBuf },
    #[error(
        "{what} {text:?} holds the control character {c:?}, which the SLURM script cannot hold \
         safely: rename it"
    )]
    ControlCharacter {
        what: &'static str,
        text: String,
        c: char,
    },
    #[error(transparent)]
    Results(#[from] crate::results::ResultsError),
    #[error(
        "--out {out}: the tasks' log folder {logs} holds white space, which an #SBATCH line \
         cannot"
    )]
    LogFolder { out: PathBuf, logs: PathBuf },
    // `reason`, not `source`: the message holds it already (a source would print it twice).
    #[error("{what}: {reason}")]
    Process {
        what: &'static str,
        reason: std::io::Error,
    },
    #[error(
        "--now: `sbatch` is not on PATH (is this a SLURM login node?); the script is written: \
         submit it where SLURM is with `sbatch {script}`"
    )]
    NoSbatch { script: PathBuf },
    #[error(
        "{script}: an earlier submit wrote a different script there (its tasks may still be \
         queued and read it); pass --force to replace it (the old one is kept, numbered)"
    )]
    ScriptExists { script: PathBuf },
    #[error("{path}: {reason}")]
    Keep { path: PathBuf, reason: String },
    #[error("--now: cannot start sbatch: {0}")]
    Sbatch(std::io::Error),
    #[error("--now: `sbatch {script}` failed ({status}): {stderr}")]
    SbatchFailed {
        script: PathBuf,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

/// Everything the script needs, resolved: absolute paths, the runs and the resources.
#[derive(Debug, Clone)]
pub struct Job {
    pub experiment: String,
    /// The number of runs selected (after `--only`).
    pub runs: usize,
    pub launcher: Launcher,
    /// The runner to call (absolute): the binary that writes the script.
    pub binary: PathBuf,
    /// The folder the tasks start in (where `submit` ran), so that relative paths in the
    /// manifest and CIFAR10_DIR mean what they meant here.
    pub workdir: PathBuf,
    pub manifest: PathBuf,
    pub out: PathBuf,
    /// `--set KEY=VALUE` and `--only TEXT`, passed on as given: they select the runs, so every
    /// task must see the same list to take its share.
    pub set: Vec<String>,
    pub only: Vec<String>,
    /// CIFAR10_DIR at submit time, if set.
    pub cifar10_dir: Option<String>,
}

impl Job {
    /// Array tasks: the launcher's shards (default one per run), at most one per run.
    pub fn shards(&self) -> usize {
        self.launcher
            .shards
            .unwrap_or(self.runs)
            .min(self.runs)
            .max(1)
    }

    /// `<out>/<experiment>/slurm/`: the script and the tasks' logs.
    pub fn dir(&self) -> PathBuf {
        self.out.join(&self.experiment).join("slurm")
    }

    /// The script's path.
    pub fn script_path(&self) -> PathBuf {
        self.dir().join("array.sbatch")
    }
}

/// What `submit` was asked.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub manifest: PathBuf,
    /// `--set` as typed (passed on to the tasks) and parsed (to plan here).
    pub set: Vec<String>,
    /// `--only` filters (all must match).
    pub only: Vec<String>,
    pub out: PathBuf,
    /// Resources given as flags (over the manifest's `launcher:`).
    pub flags: Launcher,
}

/// Plans the manifest and resolves the job: the runs `--only` keeps, the resources, and
/// absolute paths (the tasks may start anywhere on the cluster's shared file system).
pub fn prepare(req: &Request) -> Result<Job, SubmitError> {
    let overrides = crate::manifest::parse_overrides(&req.set)?;
    let (section, experiment, runs) = crate::manifest::launcher_plan(&req.manifest, &overrides)?;
    let count = runs.len();
    let runs = crate::run::shard::select(runs, &req.only, None);
    if runs.is_empty() {
        return Err(match req.only.is_empty() {
            false => SubmitError::NoMatch {
                only: req.only.join(" "),
                count,
                manifest: req.manifest.clone(),
            },
            true => SubmitError::NoRuns {
                manifest: req.manifest.clone(),
            },
        });
    }
    let launcher = section.unwrap_or_default().overridden_by(req.flags.clone());
    launcher
        .validate()
        .map_err(|(key, reason)| SubmitError::Launcher {
            manifest: req.manifest.clone(),
            key: key.to_string(),
            reason,
        })?;
    let process = |what| move |reason| SubmitError::Process { what, reason };
    let workdir = std::env::current_dir().map_err(process("cannot read the current folder"))?;
    let binary = std::env::current_exe().map_err(process("cannot find this program's path"))?;
    let absolute = |p: &Path| workdir.join(p);
    let job = Job {
        experiment,
        runs: runs.len(),
        launcher,
        binary,
        manifest: absolute(&req.manifest),
        out: absolute(&req.out),
        set: req.set.clone(),
        only: req.only.clone(),
        cifar10_dir: std::env::var("CIFAR10_DIR").ok(),
        workdir: workdir.clone(),
    };
    check_script_values(&job)?;
    let logs = job.dir();
    if logs.to_string_lossy().contains(char::is_whitespace) {
        return Err(SubmitError::LogFolder {
            out: req.out.clone(),
            logs,
        });
    }
    Ok(job)
}

/// Every path and text that goes into the script must be UTF-8 (a lossy conversion would make
/// the tasks name another file) and free of control characters (a newline in a comment or an
/// `#SBATCH` line would start a command, ahead of the resource lines). Quoting takes care of
/// the rest (quotes, `$`, backticks, `;`, spaces).
fn check_script_values(job: &Job) -> Result<(), SubmitError> {
    let paths = [
        ("the manifest path", &job.manifest),
        ("--out", &job.out),
        ("the working folder", &job.workdir),
        ("the runner's path", &job.binary),
    ];
    for (what, path) in paths {
        let text = path.to_str().ok_or_else(|| SubmitError::NotUtf8 {
            what,
            path: path.clone(),
        })?;
        check_line_text(what, text)?;
    }
    let texts = job
        .set
        .iter()
        .map(|v| ("--set", v))
        .chain(job.only.iter().map(|v| ("--only", v)))
        .chain(job.cifar10_dir.iter().map(|v| ("CIFAR10_DIR", v)));
    for (what, text) in texts {
        check_line_text(what, text)?;
    }
    Ok(())
}

/// Refuses a value with a control character (newline, carriage return, escape...).
fn check_line_text(what: &'static str, text: &str) -> Result<(), SubmitError> {
    match text.chars().find(|c| c.is_control()) {
        Some(c) => Err(SubmitError::ControlCharacter {
            what,
            text: text.to_string(),
            c,
        }),
        None => Ok(()),
    }
}

/// Quotes a word for bash: single quotes, with `'` written as `'\''`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The `#SBATCH` lines: the array, the logs, then the resources asked for.
fn directives(job: &Job) -> Vec<String> {
    let l = &job.launcher;
    let mut lines = vec![
        format!("--job-name=admm-{}", job.experiment),
        format!("--array=0-{}", job.shards() - 1),
        format!("--output={}/%A_%a.out", job.dir().display()),
    ];
    let options: [(&str, Option<String>); 6] = [
        ("time", l.time.clone()),
        ("cpus-per-task", l.cpus.map(|c| c.to_string())),
        ("mem", l.mem.clone()),
        ("partition", l.partition.clone()),
        ("account", l.account.clone()),
        ("gpus-per-task", l.gpus.map(|g| g.to_string())),
    ];
    for (name, value) in options {
        if let Some(v) = value {
            lines.push(format!("--{name}={v}"));
        }
    }
    lines.extend(l.sbatch.iter().cloned());
    lines.into_iter().map(|l| format!("#SBATCH {l}")).collect()
}

/// The job-array script: task K of N runs every N-th run from K (`--shard slurm`), all tasks
/// writing into one results folder.
pub fn script(job: &Job) -> String {
    let mut s = format!(
        "#!/bin/bash\n\
         # Written by `admm-runner submit` for {} ({} runs in {} array tasks).\n\
         # Submit: sbatch {}\n\
         # Try one task here: SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT={} bash {}\n\
         # The manifest as it was when submitted (the tasks read the original): {}\n",
        quote(&job.manifest.to_string_lossy()),
        job.runs,
        job.shards(),
        quote(&job.script_path().to_string_lossy()),
        job.shards(),
        quote(&job.script_path().to_string_lossy()),
        quote(&manifest_copy_path(job).to_string_lossy()),
    );
    for line in directives(job) {
        s += &line;
        s.push('\n');
    }
    s += "set -euo pipefail\n";
    s += &format!("cd {}\n", quote(&job.workdir.to_string_lossy()));
    if let Some(dir) = &job.cifar10_dir {
        s += &format!("export CIFAR10_DIR={}\n", quote(dir));
    }
    s += "# The solver's threads: the CPUs SLURM gave this task.\n";
    s += "if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ]; then export RAYON_NUM_THREADS=\"$SLURM_CPUS_PER_TASK\"; fi\n";
    for line in &job.launcher.setup {
        s += line;
        s.push('\n');
    }
    let mut cmd = vec![
        quote(&job.binary.to_string_lossy()),
        "run".into(),
        quote(&job.manifest.to_string_lossy()),
        "--shard slurm --out".into(),
        quote(&job.out.to_string_lossy()),
    ];
    for set in &job.set {
        cmd.push(format!("--set {}", quote(set)));
    }
    for only in &job.only {
        cmd.push(format!("--only {}", quote(only)));
    }
    s += &format!("exec {}\n", cmd.join(" "));
    s
}

/// What `write` left on disk: the script, the manifest copy beside it, and the earlier
/// script it kept (renamed) when `--force` replaced a different one.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub script: PathBuf,
    pub manifest: PathBuf,
    pub kept: Option<PathBuf>,
}

/// The copy of the manifest beside the script: `manifest.<ext>` in the script's folder.
pub fn manifest_copy_path(job: &Job) -> PathBuf {
    let ext = job
        .manifest
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "yaml".into());
    job.dir().join(format!("manifest.{ext}"))
}

/// Writes the script (executable) and, beside it, a copy of the manifest as it was at submit
/// time (the tasks read the manifest when they start, maybe hours later: the copy says what
/// was meant). An earlier script with other contents is never overwritten silently: without
/// `force` it is an error; with it, the old script and manifest copy are kept as
/// `array.<k>.sbatch` and `manifest.<k>.<ext>`. Returns the paths. The script is written
/// atomically into a real folder (`results::write_atomically`): a link planted at its name
/// is replaced, never written through nor made executable.
pub fn write(job: &Job, force: bool) -> Result<Written, SubmitError> {
    let path = job.script_path();
    let text = script(job);
    let copy = manifest_copy_path(job);
    let mut kept = None;
    // Only a regular file is an earlier script: a link planted there is replaced, unread.
    let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
    if let Some(old) = regular.then(|| std::fs::read(&path).ok()).flatten() {
        if old != text.as_bytes() {
            if !force {
                return Err(SubmitError::ScriptExists { script: path });
            }
            kept = Some(keep_earlier(&path, &copy)?);
        }
    }
    let manifest = std::fs::read(&job.manifest).map_err(|e| SubmitError::Keep {
        path: job.manifest.clone(),
        reason: format!("cannot read the manifest to copy it: {e}"),
    })?;
    crate::results::write_atomically(&copy, |file| {
        use std::io::Write;
        file.write_all(&manifest).map_err(|e| e.to_string())
    })?;
    crate::results::write_atomically(&path, |file| {
        use std::io::Write;
        file.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        make_executable(file)
    })?;
    Ok(Written {
        script: path,
        manifest: copy,
        kept,
    })
}

/// Renames the earlier script (and its manifest copy, if any) to the first free number:
/// `array.1.sbatch`, `manifest.1.yaml`; returns the script's new name.
fn keep_earlier(script: &Path, copy: &Path) -> Result<PathBuf, SubmitError> {
    let numbered = |p: &Path, k: usize| {
        let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
        let ext = p.extension().map(|s| s.to_string_lossy().into_owned());
        p.with_file_name(format!(
            "{}.{k}.{}",
            stem.unwrap_or_default(),
            ext.unwrap_or_default()
        ))
    };
    let k = (1..)
        .find(|&k| !numbered(script, k).exists() && !numbered(copy, k).exists())
        .unwrap_or(1);
    let rename = |from: &Path, to: &Path| {
        std::fs::rename(from, to).map_err(|e| SubmitError::Keep {
            path: from.to_path_buf(),
            reason: format!("cannot keep it as {}: {e}", to.display()),
        })
    };
    let old = numbered(script, k);
    rename(script, &old)?;
    if copy.is_file() {
        rename(copy, &numbered(copy, k))?;
    }
    Ok(old)
}

/// Sets mode 0755 on the open file (never on whatever a name points to).
fn make_executable(file: &mut std::fs::File) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot make it executable: {e}"))?;
    }
    let _ = file;
    Ok(())
}

/// Hands the script to `sbatch`; returns what sbatch printed ("Submitted batch job N").
pub fn sbatch(script: &Path) -> Result<String, SubmitError> {
    let out = match std::process::Command::new("sbatch").arg(script).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SubmitError::NoSbatch {
                script: script.into(),
            })
        }
        Err(e) => return Err(SubmitError::Sbatch(e)),
    };
    if !out.status.success() {
        return Err(SubmitError::SbatchFailed {
            script: script.into(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
