//! The state directory of `orders local` (`--state-dir`): one owner at a time, and only
//! files this version can read.
//!
//! - **One owner.** `orders local` holds an exclusive OS lock (`flock` on Linux, `LockFileEx`
//!   on Windows, through [`File::try_lock`]) on [`LOCK_FILE`] for its whole life. The kernel
//!   releases it when the process ends, however it ends: a `kill -9` leaves no stale lock to
//!   clean up. The file says who holds it ([`Owner`]: pid and API address), so the next
//!   process that finds it locked can name the holder, and `orders dlq redrive` can go
//!   through the holder's API instead of writing under it.
//! - **Known files.** Before anything is opened for writing, each state file is checked: a
//!   file that is not a SQLite database, a SQLite database of some other program, or a queue
//!   file of a newer layout is refused with the path and what to do, and left as it was.
//!   A directory that holds other files and none of ours is refused too (`--state-dir ~`).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The lock file; its content is the [`Owner`] as JSON.
pub const LOCK_FILE: &str = "orders-local.lock";
/// The embedded queue pair.
pub const QUEUE_FILE: &str = "queue.sqlite";
/// Dynoxide's table file.
pub const TABLE_FILE: &str = "table.sqlite";

/// SQLite's file header: a database starts with these 16 bytes.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Who holds (or last held) a state directory, as its lock file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The process id.
    pub pid: u32,
    /// Its API (`http://127.0.0.1:3000`), once it listens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.api {
            Some(api) => write!(f, "pid {}, API {api}", self.pid),
            None => write!(f, "pid {}, still starting", self.pid),
        }
    }
}

/// Why a state directory cannot be used. Each message names the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another process holds the lock.
    #[error(
        "the state directory {} is in use by another `orders local` ({}). Stop that one first, \
         or give this one another --state-dir (or --in-memory)",
        dir.display(),
        owner.as_ref().map_or_else(|| "its pid is not recorded yet".to_owned(), Owner::to_string)
    )]
    InUse {
        /// The directory.
        dir: PathBuf,
        /// Its holder, when the lock file says.
        owner: Option<Owner>,
    },
    /// No permission, or a read-only file system.
    #[error(
        "cannot write to {}: {cause}. Give --state-dir a directory you can write \
         (or use --in-memory)",
        path.display()
    )]
    NotWritable {
        /// The directory or file.
        path: PathBuf,
        /// What the OS said.
        cause: io::Error,
    },
    /// The device is full.
    #[error(
        "no space left for the state directory {} ({detail}). Free some space, or give \
         --state-dir a directory on another disk (or use --in-memory)",
        dir.display()
    )]
    DiskFull {
        /// The directory.
        dir: PathBuf,
        /// What failed.
        detail: String,
    },
    /// A state file this version cannot read: not a database, or another program's.
    #[error(
        "{} is not a file `orders local` can read: {reason}. It was left as it was: move it \
         away, or give --state-dir another directory",
        file.display()
    )]
    UnknownLayout {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A state file written by a newer version.
    #[error(
        "{} was written by a newer version: {reason}. It was left as it was: run the newer \
         `orders`, or give --state-dir another directory",
        file.display()
    )]
    NewerLayout {
        /// The file.
        file: PathBuf,
        /// Which layout it has and which this version reads.
        reason: String,
    },
    /// The directory holds other files and no state of ours.
    #[error(
        "{} holds other files ({sample}) and no `orders local` state; give --state-dir a new \
         or empty directory",
        dir.display()
    )]
    NotAStateDir {
        /// The directory.
        dir: PathBuf,
        /// A few of its entries.
        sample: String,
    },
    /// Any other I/O failure.
    #[error(
        "cannot use {}: {cause}. Give --state-dir a directory you can create and write (or \
         use --in-memory)",
        path.display()
    )]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// What the OS said.
        cause: io::Error,
    },
}

impl StateError {
    /// Classifies an I/O failure on `path` inside the state directory `dir`.
    pub fn from_io(dir: &Path, path: &Path, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                Self::NotWritable {
                    path: path.to_owned(),
                    cause: source,
                }
            }
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Self::DiskFull {
                dir: dir.to_owned(),
                detail: format!("{}: {source}", path.display()),
            },
            _ => Self::Io {
                path: path.to_owned(),
                cause: source,
            },
        }
    }

    /// Classifies a SQLite failure on the state file `file` in `dir`.
    pub fn from_sqlite(dir: &Path, file: &Path, error: &rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match error.sqlite_error_code() {
            Some(C::NotADatabase | C::DatabaseCorrupt) => Self::UnknownLayout {
                file: file.to_owned(),
                reason: error.to_string(),
            },
            Some(C::DiskFull) => Self::DiskFull {
                dir: dir.to_owned(),
                detail: format!("{}: {error}", file.display()),
            },
            Some(C::ReadOnly | C::CannotOpen | C::PermissionDenied) => Self::NotWritable {
                path: file.to_owned(),
                cause: io::Error::new(io::ErrorKind::PermissionDenied, error.to_string()),
            },
            _ => Self::Io {
                path: file.to_owned(),
                cause: io::Error::other(error.to_string()),
            },
        }
    }
}

impl StateError {
    /// Classifies a failure to open the queue file `file` in `dir`.
    pub fn from_queue(dir: &Path, file: &Path, error: crate::queue::local::OpenError) -> Self {
        use crate::queue::local::OpenError;
        match error {
            OpenError::Sqlite(e) => Self::from_sqlite(dir, file, &e),
            e @ OpenError::Newer { .. } => Self::NewerLayout {
                file: file.to_owned(),
                reason: e.to_string(),
            },
            e @ OpenError::Foreign { .. } => Self::UnknownLayout {
                file: file.to_owned(),
                reason: e.to_string(),
            },
        }
    }

    /// Classifies a failure to open the table file `file` in `dir`.
    pub fn from_table(dir: &Path, file: &Path, error: crate::table::TableOpenError) -> Self {
        use crate::table::TableOpenError;
        use dynoxide::DynoxideError;
        match error {
            TableOpenError::Sqlite(e) | TableOpenError::Dynoxide(DynoxideError::SqliteError(e)) => {
                Self::from_sqlite(dir, file, &e)
            }
            // What Dynoxide answers, before writing anything, for a file a newer build wrote.
            TableOpenError::Dynoxide(DynoxideError::InternalServerError(reason)) => {
                Self::NewerLayout {
                    file: file.to_owned(),
                    reason,
                }
            }
            e @ TableOpenError::Foreign { .. } => Self::UnknownLayout {
                file: file.to_owned(),
                reason: e.to_string(),
            },
            e => Self::Io {
                path: file.to_owned(),
                cause: io::Error::other(e.to_string()),
            },
        }
    }
}

/// The outcome of [`StateDir::try_claim`].
#[derive(Debug)]
pub enum Claim {
    /// This process owns the directory now.
    Owned(StateDir),
    /// A running `orders local` owns it.
    Running(Option<Owner>),
}

/// A state directory this process owns: the lock is held until this value is dropped (or
/// the process ends).
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    lock: File,
    previous: Option<Owner>,
}

impl StateDir {
    /// Takes the directory for this process (creating it if needed) and checks its files, or
    /// says who holds it. Changes nothing on disk when another process holds it, nor when a
    /// file is refused (beyond creating the directory and its lock file if they were missing).
    pub fn try_claim(dir: &Path) -> Result<Claim, StateError> {
        std::fs::create_dir_all(dir).map_err(|e| StateError::from_io(dir, dir, e))?;
        check_is_ours(dir)?;
        let path = dir.join(LOCK_FILE);
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StateError::from_io(dir, &path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(Claim::Running(read_owner(&mut lock))),
            Err(TryLockError::Error(e)) => return Err(StateError::from_io(dir, &path, e)),
        }
        let previous = read_owner(&mut lock);
        // Both files are checked before either is opened for writing: opening one would
        // create it, and a refusal must leave the directory as it was.
        check_sqlite_header(dir, QUEUE_FILE, Some(crate::queue::local::LAYOUT))?;
        check_sqlite_header(dir, TABLE_FILE, None)?;
        let queue = dir.join(QUEUE_FILE);
        if queue.exists() {
            crate::queue::local::check_file(&queue)
                .map_err(|e| StateError::from_queue(dir, &queue, e))?;
        }
        let table = dir.join(TABLE_FILE);
        if table.exists() {
            crate::table::check_file(&table).map_err(|e| StateError::from_table(dir, &table, e))?;
        }
        let mut state = StateDir {
            dir: dir.to_owned(),
            lock,
            previous,
        };
        state.write_owner(&Owner {
            pid: std::process::id(),
            api: None,
        })?;
        Ok(Claim::Owned(state))
    }

    /// [`StateDir::try_claim`], with a running owner as an error.
    pub fn claim(dir: &Path) -> Result<StateDir, StateError> {
        match Self::try_claim(dir)? {
            Claim::Owned(state) => Ok(state),
            Claim::Running(owner) => Err(StateError::InUse {
                dir: dir.to_owned(),
                owner,
            }),
        }
    }

    /// Records this process's API address in the lock file, for the next process that finds
    /// the directory locked.
    pub fn record_api(&mut self, addr: SocketAddr) -> Result<(), StateError> {
        self.write_owner(&Owner {
            pid: std::process::id(),
            api: Some(format!("http://{addr}")),
        })
    }

    fn write_owner(&mut self, owner: &Owner) -> Result<(), StateError> {
        let path = self.dir.join(LOCK_FILE);
        let text = serde_json::to_string(owner).unwrap_or_default() + "\n";
        (|| {
            self.lock.set_len(0)?;
            self.lock.seek(SeekFrom::Start(0))?;
            self.lock.write_all(text.as_bytes())?;
            self.lock.flush()
        })()
        .map_err(|e| StateError::from_io(&self.dir, &path, e))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// A file in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The process that owned the directory before this one, as its lock file said.
    pub fn previous_owner(&self) -> Option<&Owner> {
        self.previous.as_ref()
    }
}

fn read_owner(lock: &mut File) -> Option<Owner> {
    let mut text = String::new();
    lock.seek(SeekFrom::Start(0)).ok()?;
    lock.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

/// Refuses a directory that holds entries and none of ours: `--state-dir .` in a project, or
/// a home directory.
fn check_is_ours(dir: &Path) -> Result<(), StateError> {
    let entries: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| StateError::from_io(dir, dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let ours = |name: &str| {
        [LOCK_FILE, QUEUE_FILE, TABLE_FILE]
            .iter()
            .any(|ours| name.starts_with(ours))
    };
    if entries.is_empty() || entries.iter().any(|name| ours(name)) {
        return Ok(());
    }
    let mut sample: Vec<_> = entries.into_iter().take(3).collect();
    sample.sort();
    Err(StateError::NotAStateDir {
        dir: dir.to_owned(),
        sample: sample.join(", "),
    })
}

/// Reads a state file's header, and nothing more: it must be empty, missing, or a SQLite
/// database; with `layout`, its `user_version` (bytes 60-63 of the header) must not exceed
/// it. The layout of a database whose last change is still in its WAL is checked again when
/// the file is opened.
fn check_sqlite_header(dir: &Path, name: &str, layout: Option<i64>) -> Result<(), StateError> {
    let file = &dir.join(name);
    let mut header = Vec::with_capacity(100);
    match File::open(file) {
        Ok(f) => {
            f.take(100)
                .read_to_end(&mut header)
                .map_err(|e| StateError::from_io(dir, file, e))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StateError::from_io(dir, file, e)),
    }
    if header.is_empty() {
        return Ok(());
    }
    if header.len() < 100 || !header.starts_with(SQLITE_MAGIC) {
        return Err(StateError::UnknownLayout {
            file: file.to_owned(),
            reason: "it is not a SQLite database".to_owned(),
        });
    }
    if let Some(known) = layout {
        let found = i64::from(i32::from_be_bytes([
            header[60], header[61], header[62], header[63],
        ]));
        if found > known {
            return Err(StateError::NewerLayout {
                file: file.to_owned(),
                reason: format!("layout {found}; this version reads layouts up to {known}"),
            });
        }
    }
    Ok(())
}
