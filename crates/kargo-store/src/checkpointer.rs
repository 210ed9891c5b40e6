//! Moves the WAL checkpoint off the write path. SQLite's own
//! auto-checkpoint runs inside the commit that crosses its threshold, so
//! that one write waits for the checkpoint's copy and fsyncs (20–40 ms
//! on a virtual disk, against well under a millisecond for a commit).
//! Here the writing connection has auto-checkpoint off and a WAL hook
//! that reports the frames in the WAL after each commit; every [`PAGES`]
//! new frames wake a thread that runs a PASSIVE checkpoint on its own
//! connection, which blocks neither the writer nor readers.
//!
//! The WAL starts over from its beginning (and `journal_size_limit`
//! trims the file) only at a write that begins after a checkpoint copied
//! every frame, which a steady stream of writes may never leave room
//! for. So once the WAL holds [`LIMIT_PAGES`] frames the writer
//! checkpoints inline after all (after the thread's pass, so it copies
//! only what came since): that bounds the WAL as SQLite's own setting
//! would, with one short pause per [`LIMIT_PAGES`] instead of one long
//! pause per [`PAGES`]. The thread ends when the store is dropped.

use crate::{Result, StoreError};
use rusqlite::Connection;
use std::cell::Cell;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// New WAL frames between the thread's checkpoints: SQLite's default
/// auto-checkpoint.
pub const PAGES: i64 = 1_000;

/// WAL frames at which the writer checkpoints inline.
pub const LIMIT_PAGES: i64 = 8 * PAGES;

thread_local! {
    /// Frames in the WAL after the last commit on this thread, as the
    /// WAL hook reported them (-1: no commit wrote any).
    static WAL_FRAMES: Cell<i64> = const { Cell::new(-1) };
}

/// The WAL hook: SQLite calls it on the committing thread, within the
/// commit, with the frames now in the WAL.
fn record_frames(_: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.set(frames.into());
    Ok(())
}

/// The writer's side: watches the WAL grow and wakes the thread.
pub struct Checkpointer {
    /// The WAL's frames at which to wake the thread next.
    next_wake: i64,
    /// The WAL's frames after the previous commit.
    frames: i64,
    /// Held by whoever runs a checkpoint: SQLite answers a second
    /// checkpointer "busy" at once, so the writer waits here instead.
    running: Arc<Mutex<()>>,
    /// Dropped first on drop, which ends the thread.
    wake: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread with a second connection to `path`, set up with
    /// `synchronous` as the writer is (a checkpoint's fsyncs follow the
    /// connection running it), turns auto-checkpoint off on `writer` and
    /// installs the WAL hook there.
    pub fn start(writer: &Connection, path: &Path, synchronous: &str) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "synchronous", synchronous)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let (wake, rx) = mpsc::sync_channel(1);
        let running = Arc::new(Mutex::new(()));
        let lock = running.clone();
        let thread = std::thread::Builder::new()
            .name("kargo-store-checkpoint".into())
            .spawn(move || run(conn, rx, lock))
            .map_err(|e| StoreError::Internal(format!("starting the WAL checkpointer: {e}")))?;
        // Turning auto-checkpoint off replaces the WAL hook, so it goes first.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        writer.wal_hook(Some(record_frames));
        Ok(Checkpointer {
            next_wake: PAGES,
            frames: 0,
            running,
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    /// After a commit on `writer` (on this thread): wakes the thread every
    /// [`PAGES`] new frames, or checkpoints on `writer` once the WAL holds
    /// [`LIMIT_PAGES`] (or the thread is gone).
    pub fn committed(&mut self, writer: &Connection) {
        let frames = WAL_FRAMES.replace(-1);
        if frames < 0 {
            return;
        }
        if frames < self.frames {
            // The WAL started over.
            self.next_wake = PAGES;
        }
        self.frames = frames;
        let mut inline = frames >= LIMIT_PAGES;
        if frames >= self.next_wake {
            self.next_wake = frames + PAGES;
            // Full: a checkpoint is already due; this commit joins it.
            inline |= match &self.wake {
                Some(wake) => matches!(wake.try_send(()), Err(TrySendError::Disconnected(()))),
                None => true,
            };
        }
        if inline {
            let _running = self.exclusive();
            if let Err(e) = passive(writer) {
                tracing::warn!(error = %e, "checkpointing the WAL");
            }
        }
    }

    /// Holds off the thread's checkpoints (for a checkpoint of the
    /// caller's own, which SQLite would answer "busy" during one).
    pub fn exclusive(&self) -> MutexGuard<'_, ()> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Checkpointer {
    /// Ends the thread and waits for it to close its connection: SQLite
    /// 3.51 can deadlock when one thread closes a connection to a file
    /// while another opens one to the same file (a lock-order inversion
    /// in its unix VFS), as reopening a store right after dropping it
    /// would otherwise do.
    fn drop(&mut self) {
        self.wake.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread: a PASSIVE checkpoint per wake-up, until the writer's side
/// is dropped.
fn run(conn: Connection, wake: Receiver<()>, running: Arc<Mutex<()>>) {
    while wake.recv().is_ok() {
        let _running = running.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = passive(&conn) {
            tracing::warn!(error = %e, "checkpointing the WAL");
        }
    }
}

/// One PASSIVE checkpoint.
fn passive(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}
