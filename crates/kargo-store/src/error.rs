//! Store errors, each mapping onto a Kubernetes `Status` reason.

use thiserror::Error;

/// What can go wrong in the store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// No such object (404).
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// Lowercase plural resource, as Kubernetes reports it.
        kind: String,
        /// Object name.
        name: String,
    },
    /// An object with that name exists (409).
    #[error("{kind} {name:?} already exists")]
    AlreadyExists {
        /// Resource.
        kind: String,
        /// Name.
        name: String,
    },
    /// Optimistic-concurrency conflict (409).
    #[error("{0}")]
    Conflict(String),
    /// A watch asked for history that was compacted (410).
    #[error("{0}")]
    Gone(String),
    /// The request cannot be applied (422).
    #[error("{0}")]
    Invalid(String),
    /// The database (or its disk) is full: writes are refused until space
    /// is freed, reads go on (507).
    #[error("{0}")]
    InsufficientStorage(String),
    /// The database failed (500).
    #[error("storage error: {0}")]
    Internal(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            return StoreError::InsufficientStorage(format!(
                "the database is full ({e}): writes are refused until disk space is freed; reads still work"
            ));
        }
        StoreError::Internal(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Internal(format!("corrupt object: {e}"))
    }
}

/// Store result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
