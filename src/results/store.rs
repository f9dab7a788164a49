//! Safety of one results folder shared by several writers (shards of a job array, two
//! terminals, a rerun after a crash):
//!
//! - **Temp files** are named after their owner (`.<name>.<random>.tmp-<pid>.<host>`, created
//!   exclusively by `safe::Staged`), and a process
//!   removes only those that are provably stale: written on this host by a process that is
//!   no longer alive. A live writer's temp file is never touched.
//! - **Claims**: a run is claimed before it is solved, by creating
//!   `<out>/<experiment>/claims/<run-id>.claim` exclusively (it holds the owner's pid, host and
//!   process start time). A second process that finds a live claim skips the run; a claim whose
//!   owner is dead (same host) is taken over, under a lock so that one process wins.
//! - **Interruption**: the files a process is writing (temp files, its claims) are registered
//!   here, so that a SIGINT/SIGTERM handler can remove them before it exits
//!   (`remove_live_files`).

use super::safe;
pub use super::safe::Staged;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// A process, as a claim file records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub host: String,
    /// The process start time (`/proc/<pid>/stat`, field 22), so that a reused pid is not
    /// mistaken for the owner. None where unknown.
    pub start: Option<u64>,
}

impl Owner {
    /// This process.
    pub fn me() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            host: host().to_string(),
            start: start_time(pid),
        }
    }

    /// `pid host start` (start `-` when unknown).
    fn to_line(&self) -> String {
        let start = self.start.map_or("-".to_string(), |s| s.to_string());
        format!("{} {} {}\n", self.pid, self.host, start)
    }

    fn parse(text: &str) -> Option<Owner> {
        let mut it = text.split_whitespace();
        let pid = it.next()?.parse().ok()?;
        let host = it.next()?.to_string();
        let start = it.next().and_then(|s| s.parse().ok());
        Some(Owner { pid, host, start })
    }

    /// Provably dead: on this host, and no such process (or the pid now belongs to a process
    /// started at another time). A claim from another host is never provably dead.
    pub fn is_dead(&self) -> bool {
        if self.host != host() || !proc_available() {
            return false;
        }
        if self.pid == std::process::id() {
            return false;
        }
        if !Path::new(&format!("/proc/{}", self.pid)).exists() {
            return true;
        }
        match (self.start, start_time(self.pid)) {
            (Some(recorded), Some(now)) => recorded != now,
            _ => false,
        }
    }
}

/// The host name, sanitized to `[A-Za-z0-9.-]` (it is part of file names).
pub fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".into());
        let clean: String = raw
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if clean.is_empty() {
            "unknown".into()
        } else {
            clean
        }
    })
}

/// Whether `/proc` can answer liveness questions (Linux). Elsewhere nothing is ever stale.
fn proc_available() -> bool {
    Path::new("/proc/self/stat").exists()
}

/// Field 22 of `/proc/<pid>/stat`: the start time in clock ticks since boot.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

// ---------------------------------------------------------------------------------------
// Files this process is writing, removed on SIGINT/SIGTERM.

fn live() -> MutexGuard<'static, Vec<PathBuf>> {
    static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `create` (which makes `path`) and, when it succeeds, registers `path` as ours, both
/// under the registry's lock: an interrupt never leaves a file created but unregistered, nor
/// removes a file that another process created.
pub(crate) fn create_registered<T>(
    path: &Path,
    create: impl FnOnce() -> std::io::Result<T>,
) -> std::io::Result<T> {
    let mut files = live();
    let made = create()?;
    files.push(path.to_path_buf());
    Ok(made)
}

/// Like `create_registered`, for a file whose name is known only once it exists (a temp file
/// with a random name): `path_of` names it.
pub(crate) fn create_registered_as<T>(
    create: impl FnOnce() -> std::io::Result<T>,
    path_of: impl FnOnce(&T) -> PathBuf,
) -> std::io::Result<T> {
    let mut files = live();
    let made = create()?;
    files.push(path_of(&made));
    Ok(made)
}

/// Runs `finish` (which renames or removes `path`) and forgets `path`, under the same lock.
pub(crate) fn finish_registered<T>(path: &Path, finish: impl FnOnce() -> T) -> T {
    let mut files = live();
    let result = finish();
    files.retain(|p| p != path);
    result
}

/// Held while a run's new files replace its old ones (`run::sweep::store`: the old summary
/// removed, the staged trace and model renamed into place, the new summary written). The
/// interrupt handler takes it before removing our temp files, so that a Ctrl-C in the middle
/// waits for the few renames to finish instead of leaving neither the old result nor the new
/// one (`--force` would lose the finished run). Always taken before the registry's lock.
pub fn commit_section() -> MutexGuard<'static, ()> {
    static COMMIT: Mutex<()> = Mutex::new(());
    COMMIT.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes every temp file and claim this process holds, and returns with the registry
/// locked, so that no new file appears before the caller exits.
pub fn remove_live_files() -> MutexGuard<'static, Vec<PathBuf>> {
    let mut files = live();
    for p in files.drain(..) {
        let _ = std::fs::remove_file(p);
    }
    files
}

// ---------------------------------------------------------------------------------------
// Temp files.

/// The owner of a temp file name (`.<name>[.<random>].tmp-<pid>[.<host>]`, `safe::Staged`;
/// names without a host are from older versions and count as this host's). None when `name`
/// is not a temp file.
pub(crate) fn temp_owner(name: &str) -> Option<(u32, String)> {
    if !name.starts_with('.') {
        return None;
    }
    let tail = &name[name.rfind(".tmp-")? + 5..];
    let digits = tail
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(tail.len());
    let pid = tail[..digits].parse().ok()?;
    let host = match &tail[digits..] {
        "" => host().to_string(),
        h => h.strip_prefix('.')?.to_string(),
    };
    Some((pid, host))
}

/// Removes the temp files in `dir` whose owner is provably dead (same host, process gone).
/// Temp files of live processes, of other hosts, and every finished file are kept. Only what
/// we could have created is removed: regular files with a temp name, in a real folder (never
/// through a link to another folder, never a link itself).
pub fn clean_stale_temp(dir: &Path) {
    if !std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((pid, host)) = temp_owner(&name) else {
            continue;
        };
        let owner = Owner {
            pid,
            host,
            start: None,
        };
        if owner.is_dead() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Claims.

/// A run this process holds: removed when dropped (after the summary is written, or on any
/// failure path).
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
}

impl Claim {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        finish_registered(&self.path, || std::fs::remove_file(&self.path).ok());
    }
}

/// The outcome of trying to claim a run.
#[derive(Debug)]
pub enum ClaimResult {
    /// Ours now; `taken_over` names the dead owner whose claim was replaced.
    Claimed {
        claim: Claim,
        taken_over: Option<Owner>,
    },
    /// Another live process (or one on another host, or whose claim is unreadable) holds it.
    Held(Option<Owner>),
}

/// The claim file of a run: `<experiment dir>/claims/<run-id>.claim`.
pub fn claim_path(experiment_dir: &Path, run_id: &str) -> PathBuf {
    experiment_dir
        .join("claims")
        .join(format!("{run_id}.claim"))
}

/// Claims `path` for this process. The claim is created exclusively and whole: its content is
/// written to a temp file that is then hard-linked to `path` (like `O_EXCL`, `link` fails when
/// the name exists, and a reader never sees a half-written claim). A claim whose owner is
/// provably dead is taken over under an exclusive lock on `claims/.lock`, after reading it
/// again, so that of several processes finding the same dead claim exactly one wins.
pub fn claim(path: &Path) -> std::io::Result<ClaimResult> {
    let dir = safe::parent_dir(path);
    safe::own_dir(dir)?;
    if let Some(claim) = try_link(path)? {
        return Ok(ClaimResult::Claimed {
            claim,
            taken_over: None,
        });
    }
    let mut holder = read_owner(path);
    if holder.is_none() && std::fs::symlink_metadata(path).is_err() {
        // Released between our try and our read: try once more.
        if let Some(claim) = try_link(path)? {
            return Ok(ClaimResult::Claimed {
                claim,
                taken_over: None,
            });
        }
        holder = read_owner(path);
    }
    if !holder.as_ref().is_some_and(Owner::is_dead) {
        return Ok(ClaimResult::Held(holder));
    }
    let lock = open_lock(&dir.join(".lock"))?;
    lock.lock()?;
    // Read again under the lock: another process may have taken it over meanwhile.
    let again = read_owner(path);
    if again != holder {
        return match try_link(path)? {
            Some(claim) => Ok(ClaimResult::Claimed {
                claim,
                taken_over: None,
            }),
            None => Ok(ClaimResult::Held(read_owner(path))),
        };
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let result = match try_link(path)? {
        Some(claim) => ClaimResult::Claimed {
            claim,
            taken_over: holder,
        },
        None => ClaimResult::Held(read_owner(path)),
    };
    drop(lock);
    Ok(result)
}

/// The owner a claim file records; None when it cannot be read or is not a claim.
fn read_owner(path: &Path) -> Option<Owner> {
    let bytes = safe::read_regular(path, 4096).ok()?;
    Owner::parse(std::str::from_utf8(&bytes).ok()?)
}

/// Opens (creating) the claims folder's lock file without following a link at its name.
fn open_lock(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW);
    }
    opts.open(path)
}

/// Creates the claim at `path` (None when the name exists): written whole to a temp file,
/// then linked to `path` only if that name is free.
fn try_link(path: &Path) -> std::io::Result<Option<Claim>> {
    let mut tmp = safe::Staged::new(path)?;
    tmp.file().write_all(Owner::me().to_line().as_bytes())?;
    match tmp.commit_new(path) {
        Ok(()) => Ok(Some(Claim {
            path: path.to_path_buf(),
        })),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_carry_their_owner() {
        let dir = tempfile::tempdir().unwrap();
        let staged = safe::Staged::new(&dir.path().join("a.parquet")).unwrap();
        let name = staged
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with(".a.parquet."), "{name}");
        assert_eq!(
            temp_owner(&name),
            Some((std::process::id(), host().to_string()))
        );
        assert_eq!(
            temp_owner(".a.parquet.tmp-42"),
            Some((42, host().to_string()))
        );
        assert_eq!(
            temp_owner(".a.parquet.tmp-42.node-7.example"),
            Some((42, "node-7.example".to_string()))
        );
        assert_eq!(temp_owner("a.parquet"), None);
        assert_eq!(temp_owner(".a.parquet.tmp-x"), None);
    }

    #[test]
    fn owners_round_trip_and_we_are_alive() {
        let me = Owner::me();
        assert_eq!(Owner::parse(&me.to_line()), Some(me.clone()));
        assert!(!me.is_dead());
        let elsewhere = Owner {
            host: "another-host".into(),
            pid: u32::MAX,
            start: None,
        };
        assert!(!elsewhere.is_dead(), "another host's process is never dead");
    }
}
