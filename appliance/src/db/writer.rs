//! The writer: one std thread owns the database's only write connection and runs write
//! jobs sent to it over a channel, with group commit.
//!
//! The thread takes the first queued job, then up to [`MAX_GROUP`]` - 1` more that are
//! already waiting, and runs them in one `BEGIN IMMEDIATE` transaction, each inside its
//! own `SAVEPOINT`: a job that fails (or panics) rolls back only its own changes and gets
//! its own error. The transaction is committed once, and only then is every job answered;
//! if the commit fails, every job of the group gets that error. An answer `Ok` therefore
//! means the job's changes are committed (durable across a crash of the process; with
//! `synchronous=NORMAL`, a power cut may lose the last commits but never corrupts).
//! If SQLite rolls the whole transaction back by itself (it may on a full disk), the jobs
//! already run get that error and the jobs not yet run go into the next group.
//! The thread stops when every sender is gone, closing the connection.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::error::{DbError, DbErrorKind};

/// The most jobs committed by one transaction.
pub(crate) const MAX_GROUP: usize = 64;

/// Where write jobs are sent; the writer stops when every clone is dropped.
pub(crate) type JobSender = mpsc::Sender<Box<dyn WriteJob>>;

/// A job sent to the writer, not yet run.
pub(crate) trait WriteJob: Send {
    /// Runs the job inside the group's transaction; the result is kept until the commit.
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Box<dyn RanJob>;
    /// Answers the job with `error` without running it.
    fn fail(self: Box<Self>, error: DbError);
}

/// A job that ran, waiting for its group's commit.
pub(crate) trait RanJob: Send {
    /// Whether the job succeeded (its savepoint is released, not rolled back).
    fn succeeded(&self) -> bool;
    /// The job's own error, if it failed.
    fn error(&self) -> Option<&DbError>;
    /// Answers the job: its own result if the commit succeeded, else the commit's error.
    fn finish(self: Box<Self>, commit: Result<(), &DbError>);
}

/// A caller's closure and where to send its answer.
pub(crate) struct Pending<F, T> {
    job: F,
    answer: oneshot::Sender<Result<T, DbError>>,
}

impl<F, T> Pending<F, T> {
    /// A job for the writer, and the receiver of its answer.
    pub(crate) fn new(job: F) -> (Pending<F, T>, oneshot::Receiver<Result<T, DbError>>) {
        let (answer, receiver) = oneshot::channel();
        (Pending { job, answer }, receiver)
    }
}

impl<F, T> WriteJob for Pending<F, T>
where
    F: FnOnce(&Transaction<'_>) -> Result<T, DbError> + Send,
    T: Send + 'static,
{
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Box<dyn RanJob> {
        let result = (self.job)(tx);
        Box::new(Ran {
            result,
            answer: self.answer,
        })
    }

    fn fail(self: Box<Self>, error: DbError) {
        let _ = self.answer.send(Err(error));
    }
}

struct Ran<T> {
    result: Result<T, DbError>,
    answer: oneshot::Sender<Result<T, DbError>>,
}

impl<T: Send> RanJob for Ran<T> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn error(&self) -> Option<&DbError> {
        self.result.as_ref().err()
    }

    fn finish(self: Box<Self>, commit: Result<(), &DbError>) {
        let answer = match commit {
            Ok(()) => self.result,
            Err(error) => Err(error.clone()),
        };
        // The caller may have stopped waiting; its job is committed all the same.
        let _ = self.answer.send(answer);
    }
}

/// What the caller gets when the writer dropped its answer: the job panicked, or the
/// writer thread is gone.
pub(crate) fn writer_gone(path: &Path) -> DbError {
    DbError::new(
        DbErrorKind::Other,
        "write to the database: the write job panicked or the writer thread stopped",
    )
    .at(path)
}

/// Starts the writer thread on `conn`; jobs sent on the returned channel run in order.
/// `commits` counts the transactions committed (the checkpointer watches it).
pub(crate) fn spawn(
    conn: Connection,
    path: PathBuf,
    commits: Arc<AtomicU64>,
) -> Result<(JobSender, std::thread::JoinHandle<()>), DbError> {
    let (sender, receiver) = mpsc::channel::<Box<dyn WriteJob>>();
    let handle = std::thread::Builder::new()
        .name("db-writer".into())
        .spawn(move || run(conn, &path, &receiver, &commits))
        .map_err(|e| DbError::io(e, "start the database writer thread"))?;
    Ok((sender, handle))
}

fn run(
    mut conn: Connection,
    path: &Path,
    receiver: &mpsc::Receiver<Box<dyn WriteJob>>,
    commits: &AtomicU64,
) {
    let mut waiting: VecDeque<Box<dyn WriteJob>> = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match receiver.recv() {
                Ok(job) => waiting.push_back(job),
                Err(mpsc::RecvError) => return,
            }
        }
        while waiting.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => break,
            }
        }
        let count = waiting.len().min(MAX_GROUP);
        let mut group: VecDeque<_> = waiting.drain(..count).collect();
        let leftover = commit_group(&mut conn, path, &mut group);
        commits.fetch_add(1, Ordering::Relaxed);
        // Jobs the group could not run go first in the next one, in their order.
        for job in leftover.into_iter().rev() {
            waiting.push_front(job);
        }
    }
}

/// Runs `group` in one transaction and answers every job it ran. Returns the jobs it did
/// not get to because SQLite rolled the transaction back under them.
fn commit_group(
    conn: &mut Connection,
    path: &Path,
    group: &mut VecDeque<Box<dyn WriteJob>>,
) -> VecDeque<Box<dyn WriteJob>> {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let error = DbError::sqlite(e, "begin a write transaction").at(path);
            for job in group.drain(..) {
                job.fail(error.clone());
            }
            return VecDeque::new();
        }
    };
    let mut ran: Vec<Box<dyn RanJob>> = Vec::with_capacity(group.len());
    while let Some(job) = group.pop_front() {
        if let Err(e) = tx.execute_batch("SAVEPOINT dipper_job") {
            let error = DbError::sqlite(e, "start a write job's savepoint").at(path);
            abandon(ran, &error);
            job.fail(error);
            return std::mem::take(group);
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| job.run(&tx)));
        let succeeded = matches!(&outcome, Ok(done) if done.succeeded());
        if tx.is_autocommit() {
            // SQLite rolled the whole transaction back (e.g. on a full disk): nothing of
            // this group is committed.
            // The failed job's own error says why (e.g. `Full`); every job run so far
            // shares its fate.
            let error = rolled_back(outcome, path);
            abandon(ran, &error);
            return std::mem::take(group);
        }
        let end = if succeeded {
            "RELEASE dipper_job"
        } else {
            "ROLLBACK TO dipper_job; RELEASE dipper_job"
        };
        if let Err(e) = tx.execute_batch(end) {
            let error = DbError::sqlite(e, "end a write job's savepoint").at(path);
            if let Ok(done) = outcome {
                done.finish(Err(&error));
            }
            abandon(ran, &error);
            return std::mem::take(group);
        }
        match outcome {
            Ok(done) => ran.push(done),
            Err(_) => tracing::error!(
                path = %path.display(),
                "a database write job panicked; its changes were rolled back"
            ),
        }
    }
    match tx.commit() {
        Ok(()) => {
            for done in ran {
                done.finish(Ok(()));
            }
        }
        Err(e) => {
            let error = DbError::sqlite(e, "commit a write transaction").at(path);
            abandon(ran, &error);
        }
    }
    VecDeque::new()
}

/// Answers a job during which SQLite rolled the whole transaction back, and returns the
/// error that the jobs run before it share.
fn rolled_back(outcome: std::thread::Result<Box<dyn RanJob>>, path: &Path) -> DbError {
    match outcome {
        Ok(done) => {
            let error = done.error().cloned().unwrap_or_else(|| {
                DbError::new(
                    DbErrorKind::Other,
                    "write to the database: the transaction ended inside a write job",
                )
                .at(path)
            });
            done.finish(Err(&error));
            error
        }
        Err(_) => writer_gone(path),
    }
}

/// Answers jobs whose changes were lost with `error`.
fn abandon(ran: Vec<Box<dyn RanJob>>, error: &DbError) {
    for done in ran {
        done.finish(Err(error));
    }
}
