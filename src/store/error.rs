//! The store's one error type. Every variant names the file and says what to do, because
//! the person reading it is usually looking at a log on a Raspberry Pi, not at the code.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a store operation failed.
#[derive(Debug)]
pub enum StoreError {
    /// The file could not be opened or created.
    Open {
        /// The store file.
        path: PathBuf,
        /// What redb or the OS said.
        detail: String,
    },
    /// Another process holds the file for writing (only one daemon may write).
    Locked {
        /// The store file.
        path: PathBuf,
    },
    /// The file was written by a newer hmm; it is left untouched.
    NewerSchema {
        /// The store file.
        path: PathBuf,
        /// Schema version in the file.
        found: u32,
        /// Newest version this build understands.
        supported: u32,
    },
    /// A read-only open found a file that needs crash recovery, which only a writer can do.
    NeedsRecovery {
        /// The store file.
        path: PathBuf,
    },
    /// A write was asked of a store opened read-only.
    ReadOnly {
        /// The store file.
        path: PathBuf,
        /// The refused operation.
        operation: &'static str,
    },
    /// A stored value could not be decoded.
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// Table and key of the bad value.
        place: String,
        /// What was wrong with it.
        detail: &'static str,
    },
    /// redb or the OS failed during an operation.
    Database {
        /// The store file.
        path: PathBuf,
        /// The operation that failed.
        operation: &'static str,
        /// What redb or the OS said.
        detail: String,
    },
}

impl StoreError {
    /// Wraps any redb error raised while doing `operation` on the file at `path`.
    pub(crate) fn db(path: &Path, operation: &'static str, error: impl fmt::Display) -> StoreError {
        StoreError::Database {
            path: path.to_path_buf(),
            operation,
            detail: error.to_string(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Open { path, detail } => write!(
                f,
                "{}: cannot open the store ({detail}); check that the directory exists and \
                 is writable by hmm, and that the file is an hmm store",
                path.display()
            ),
            StoreError::Locked { path } => write!(
                f,
                "{}: another hmm process is already writing this store; stop it first or use \
                 a different data_dir",
                path.display()
            ),
            StoreError::NewerSchema {
                path,
                found,
                supported,
            } => write!(
                f,
                "{}: store schema version {found} was written by a newer hmm (this build \
                 understands up to {supported}); the file was not changed: upgrade hmm or \
                 point data_dir elsewhere",
                path.display()
            ),
            StoreError::NeedsRecovery { path } => write!(
                f,
                "{}: the store was not closed cleanly and needs recovery, which a read-only \
                 open cannot do; start the daemon (`hmm run`) once and it repairs the file",
                path.display()
            ),
            StoreError::ReadOnly { path, operation } => write!(
                f,
                "{}: {operation} needs write access but the store was opened read-only",
                path.display()
            ),
            StoreError::Corrupt {
                path,
                place,
                detail,
            } => write!(
                f,
                "{}: corrupt value at {place} ({detail}); restore the file from a backup or \
                 move it aside to start a fresh store",
                path.display()
            ),
            StoreError::Database {
                path,
                operation,
                detail,
            } => write!(
                f,
                "{}: {operation} failed: {detail}; check free disk space and the storage device",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {}
