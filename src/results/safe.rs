//! Creating files without following links: every file we write starts as a temp file created
//! exclusively (`O_EXCL`, so a link planted at its name is never followed) under an
//! unpredictable name in the folder it is for, and is then renamed within that folder (a
//! rename replaces a link at the final name instead of writing through it). Folders we write
//! into must be real folders, not links to somewhere else.
//!
//! Temp names keep their owner (`.<name>.<random>.tmp-<pid>.<host>`) so that
//! `store::clean_stale_temp` can tell a dead writer's leftovers from a live one's.

use super::store;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The folder a file at `path` is written into (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Makes sure `dir` is a real folder we may write into: created when missing, refused when it
/// is a symbolic link (writing there would put files, and cleanup, outside the output folder)
/// or not a folder at all.
pub fn own_dir(dir: &Path) -> io::Result<()> {
    if let Err(e) = std::fs::symlink_metadata(dir) {
        if e.kind() != io::ErrorKind::NotFound {
            return Err(e);
        }
        std::fs::create_dir_all(dir)?;
    }
    check_real_dir(dir)
}

/// Refuses `dir` when it is a symbolic link; a missing `dir`, or anything else, is left to the
/// write that follows (which says what is in the way).
pub fn check_not_link(dir: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => check_real_dir(dir),
        _ => Ok(()),
    }
}

/// Refuses `dir` when it is a link or not a folder (see `own_dir`); a missing `dir` is fine.
pub fn check_real_dir(dir: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(io::Error::other(format!(
            "{} is a symbolic link; refusing to write through it (name the folder it points to, \
             or remove the link)",
            dir.display()
        ))),
        Ok(m) if !m.is_dir() => Err(io::Error::other(format!(
            "{} is not a folder",
            dir.display()
        ))),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A file being written: a temp file created exclusively beside its final name, registered so
/// that an interrupt removes it, and removed when dropped unless committed.
pub struct Staged {
    file: Option<tempfile::NamedTempFile>,
    tmp: PathBuf,
}

impl Staged {
    /// Creates the temp file for `target` in `target`'s folder (which must be a real folder:
    /// `own_dir`).
    pub fn new(target: &Path) -> io::Result<Staged> {
        let dir = parent_dir(target);
        own_dir(dir)?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let suffix = format!(".tmp-{}.{}", std::process::id(), store::host());
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(&suffix).rand_bytes(10);
        set_default_mode(&mut builder);
        let file = store::create_registered_as(
            || builder.tempfile_in(dir),
            |made: &tempfile::NamedTempFile| made.path().to_path_buf(),
        )?;
        let tmp = file.path().to_path_buf();
        Ok(Staged {
            file: Some(file),
            tmp,
        })
    }

    /// The temp file's path.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// The open temp file.
    pub fn file(&mut self) -> &mut File {
        self.file
            .as_mut()
            .expect("a staged file is present until committed or dropped")
            .as_file_mut()
    }

    /// Syncs the temp file and renames it to `target` (in the same folder), replacing what was
    /// there (a link at `target` is replaced, not followed).
    pub fn commit(mut self, target: &Path) -> io::Result<()> {
        let file = self
            .file
            .take()
            .expect("a staged file is present until committed or dropped");
        let tmp = self.tmp.clone();
        store::finish_registered(&tmp, || {
            file.as_file().sync_all()?;
            file.persist(target).map(|_| ()).map_err(|e| e.error)
        })
    }

    /// Syncs the temp file and links it to `target` only when that name is free (like
    /// `O_EXCL`: fails with `AlreadyExists` otherwise, even for a dangling link).
    pub fn commit_new(mut self, target: &Path) -> io::Result<()> {
        let file = self
            .file
            .take()
            .expect("a staged file is present until committed or dropped");
        file.as_file().sync_all()?;
        // Registered as ours only once it exists (the registry's lock is not re-entrant, so
        // the temp file is forgotten after, not around, this step).
        let linked = store::create_registered(target, || {
            file.persist_noclobber(target)
                .map(|_| ())
                .map_err(|e| e.error)
        });
        store::finish_registered(&self.tmp, || ());
        linked
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            store::finish_registered(&self.tmp, || drop(file));
        }
    }
}

/// Result files get the usual mode (0666 less the umask), not tempfile's private 0600.
#[cfg(unix)]
fn set_default_mode(builder: &mut tempfile::Builder) {
    use std::os::unix::fs::PermissionsExt;
    builder.permissions(std::fs::Permissions::from_mode(0o666));
}

#[cfg(not(unix))]
fn set_default_mode(_: &mut tempfile::Builder) {}

/// Syncs a folder, so that a rename in it is on disk before the caller goes on.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Opens `path` for reading only when it is a regular file: a FIFO would block, a device such
/// as `/dev/zero` never ends, a folder is not data. The check is made on the opened file
/// (opened non-blocking, so that a FIFO does not hang the open itself).
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other(format!(
            "not a regular file ({})",
            kind_of(&meta.file_type())
        )));
    }
    Ok(file)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    // Regular files ignore O_NONBLOCK; clear it anyway so reads behave as usual.
    Ok(file)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// Reads a whole regular file of at most `limit` bytes (`open_regular`).
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = open_regular(path)?;
    let len = file.metadata()?.len();
    if len > limit {
        return Err(io::Error::other(format!(
            "{len} bytes, more than the {limit} bytes this reader accepts"
        )));
    }
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(usize::try_from(len).unwrap_or(usize::MAX))
        .map_err(|_| io::Error::other(format!("{len} bytes do not fit in memory")))?;
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::other(format!(
            "more than the {limit} bytes this reader accepts"
        )));
    }
    Ok(bytes)
}

/// What a non-regular file is, in words.
pub fn kind_of(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}
