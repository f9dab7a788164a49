//! The identity of a run's data files, recorded in its summary so that data replaced at the
//! same path is never taken for the data a finished run was computed on (`run::sweep`).
//!
//! Per file: its size, its modification time (nanoseconds) and an FNV-1a hash of its first and
//! last 64 KiB (every `.npy` header and CIFAR-10's first and last records): at most 128 KiB
//! read per file, where hashing all of CIFAR-10 (180 MB) for every run of a sweep would cost
//! more than loading it. An edit that keeps size and mtime and touches only the middle of a
//! large file is the one change it misses.

use super::{DataConfig, DataSource};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Bytes hashed at each end of a file.
const EDGE: u64 = 64 * 1024;

/// The data's identity (None for synthetic data, or when a file cannot be read: the run then
/// fails on its own).
pub fn fingerprint(cfg: &DataConfig) -> Option<String> {
    let cfg = &cfg.located();
    let files: Vec<PathBuf> = match cfg.source {
        DataSource::Synthetic => return None,
        DataSource::Npy => [&cfg.x, &cfg.y, &cfg.x_test, &cfg.y_test]
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
        DataSource::Cifar10 => {
            let (train, test) = super::cifar10::resolve_files(cfg).ok()?;
            train.into_iter().chain(test).collect()
        }
    };
    let parts: Option<Vec<String>> = files.iter().map(|f| file_identity(f)).collect();
    Some(parts?.join(","))
}

/// `size:mtime_ns:hash` of one regular file.
fn file_identity(path: &Path) -> Option<String> {
    let mut file = crate::results::safe::open_regular(path).ok()?;
    let meta = file.metadata().ok()?;
    let len = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut head = Vec::new();
    file.by_ref().take(EDGE).read_to_end(&mut head).ok()?;
    let mut tail = Vec::new();
    if len > 2 * EDGE {
        file.seek(SeekFrom::Start(len - EDGE)).ok()?;
        file.take(EDGE).read_to_end(&mut tail).ok()?;
    } else {
        file.read_to_end(&mut tail).ok()?;
    }
    let hash = fnv1a64(&tail, fnv1a64(&head, FNV_OFFSET));
    Some(format!("{len}:{mtime}:{hash:016x}"))
}

/// FNV-1a's starting value: `fnv1a64(bytes, FNV_OFFSET)` hashes `bytes` from scratch.
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, continued from `h`: tiny, stable across platforms and releases (unlike std's
/// `DefaultHasher`), so it also names runs (`manifest::sweep::run_id`).
pub(crate) fn fnv1a64(bytes: &[u8], h: u64) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
