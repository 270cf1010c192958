//! The io_uring thread: one std thread running a `tokio-uring` runtime, serving commands.
//!
//! `tokio-uring` needs a runtime of its own and its files cannot leave its thread, so the
//! cache talks to it over a bounded channel of [`Command`]s with oneshot replies. Creating
//! a file spawns a task on that thread that owns the file and serves its own bounded channel
//! of writes, syncs and the close; dropping the [`UringFile`] handle closes the file. Write
//! buffers are owned `Vec`s (the kernel reads them after the call returns) and come back in
//! the reply, so a writer reuses one buffer for its whole life.
//!
//! The runtime is built with `tokio_uring::Runtime::new`, which returns an error where the
//! kernel or a seccomp filter forbids io_uring (`tokio_uring::start` would panic). When the
//! [`Uring`] handle is dropped the command channel closes, the thread waits for its tasks
//! and ends, and the drop joins it. So every [`UringFile`] must be dropped before its
//! [`Uring`] (a writer holds its file in a field declared before the cache it belongs to),
//! or the drop would wait for a file server that waits for that handle.

use std::{
    io,
    path::{Path, PathBuf},
    thread::JoinHandle,
};

use tokio::sync::{mpsc, oneshot};

/// Commands waiting for the thread; senders wait when it is this far behind.
const COMMAND_QUEUE: usize = 64;

/// The running io_uring thread.
#[derive(Debug)]
pub(super) struct Uring {
    commands: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
    #[cfg(test)]
    exited: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// A file open on the io_uring thread.
#[derive(Debug)]
pub(super) struct UringFile {
    ops: mpsc::Sender<FileOp>,
}

#[derive(Debug)]
enum Command {
    /// Opens `path` for writing: a new file when `create_new`, else an existing one.
    Open {
        path: PathBuf,
        create_new: bool,
        reply: oneshot::Sender<io::Result<UringFile>>,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        reply: oneshot::Sender<io::Result<()>>,
    },
    SyncDir {
        path: PathBuf,
        reply: oneshot::Sender<io::Result<()>>,
    },
    Remove {
        path: PathBuf,
        reply: oneshot::Sender<io::Result<()>>,
    },
}

#[derive(Debug)]
enum FileOp {
    WriteAt {
        buf: Vec<u8>,
        offset: u64,
        reply: oneshot::Sender<(io::Result<()>, Vec<u8>)>,
    },
    Sync {
        reply: oneshot::Sender<io::Result<()>>,
    },
    Close {
        reply: oneshot::Sender<io::Result<()>>,
    },
}

impl Uring {
    /// Starts the thread; fails with the kernel's reason when io_uring cannot be set up.
    pub(super) async fn start() -> io::Result<Uring> {
        let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
        let (ready_tx, ready_rx) = oneshot::channel();
        #[cfg(test)]
        let exited = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        #[cfg(test)]
        let exited_on_thread = exited.clone();
        let thread = std::thread::Builder::new()
            .name("cache-uring".to_owned())
            .spawn(move || {
                match tokio_uring::Runtime::new(&tokio_uring::builder()) {
                    Ok(runtime) => {
                        if ready_tx.send(Ok(())).is_ok() {
                            runtime.block_on(serve(receiver));
                        }
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
                #[cfg(test)]
                exited_on_thread.store(true, std::sync::atomic::Ordering::SeqCst);
            })?;
        match ready_rx.await {
            Ok(Ok(())) => Ok(Uring {
                commands: Some(commands),
                thread: Some(thread),
                #[cfg(test)]
                exited,
            }),
            // The thread is ending by itself; nothing to join for.
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("the io_uring thread ended while starting")),
        }
    }

    /// Opens `path` for writing on the thread (see [`Command::Open`]).
    pub(super) async fn open(&self, path: &Path, create_new: bool) -> io::Result<UringFile> {
        let path = path.to_owned();
        self.call(|reply| Command::Open {
            path,
            create_new,
            reply,
        })
        .await?
    }

    pub(super) async fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.call(|reply| Command::Rename { from, to, reply })
            .await?
    }

    /// fsyncs the directory `path`, making renames and creations in it durable.
    pub(super) async fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let path = path.to_owned();
        self.call(|reply| Command::SyncDir { path, reply }).await?
    }

    pub(super) async fn remove(&self, path: &Path) -> io::Result<()> {
        let path = path.to_owned();
        self.call(|reply| Command::Remove { path, reply }).await?
    }

    /// A flag the thread sets as it ends (tests check the shutdown with it).
    #[cfg(test)]
    pub(super) fn exited(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.exited.clone()
    }

    async fn call<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> io::Result<T> {
        let (reply, answer) = oneshot::channel();
        let sender = self.commands.as_ref().ok_or_else(stopped)?;
        sender.send(command(reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        drop(self.commands.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("disk cache: the io_uring thread panicked");
        }
    }
}

impl UringFile {
    /// Writes all of `buf` at `offset`; hands `buf` back for reuse.
    pub(super) async fn write_at(&self, buf: Vec<u8>, offset: u64) -> (io::Result<()>, Vec<u8>) {
        let (reply, answer) = oneshot::channel();
        if self
            .ops
            .send(FileOp::WriteAt { buf, offset, reply })
            .await
            .is_err()
        {
            return (Err(stopped()), Vec::new());
        }
        answer
            .await
            .unwrap_or_else(|_| (Err(stopped()), Vec::new()))
    }

    /// fsyncs the file.
    pub(super) async fn sync(&self) -> io::Result<()> {
        self.file_call(|reply| FileOp::Sync { reply }).await
    }

    /// Closes the file, reporting what the close reports.
    pub(super) async fn close(self) -> io::Result<()> {
        self.file_call(|reply| FileOp::Close { reply }).await
    }

    async fn file_call(
        &self,
        op: impl FnOnce(oneshot::Sender<io::Result<()>>) -> FileOp,
    ) -> io::Result<()> {
        let (reply, answer) = oneshot::channel();
        self.ops.send(op(reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> io::Error {
    io::Error::other("the io_uring thread has stopped")
}

/// The thread's main loop: runs each command as a task until the channel closes, then waits
/// for the tasks left.
async fn serve(mut commands: mpsc::Receiver<Command>) {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => {
                    tasks.spawn_local(run(command));
                }
                None => break,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    while tasks.join_next().await.is_some() {}
}

async fn run(command: Command) {
    match command {
        Command::Open {
            path,
            create_new,
            reply,
        } => {
            let opened = tokio_uring::fs::OpenOptions::new()
                .write(true)
                .create_new(create_new)
                .open(&path)
                .await;
            match opened {
                Ok(file) => {
                    let (ops, receiver) = mpsc::channel(1);
                    if reply.send(Ok(UringFile { ops })).is_ok() {
                        serve_file(file, receiver).await;
                    } else {
                        let _ = file.close().await;
                    }
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            }
        }
        Command::Rename { from, to, reply } => {
            let _ = reply.send(tokio_uring::fs::rename(&from, &to).await);
        }
        Command::SyncDir { path, reply } => {
            let _ = reply.send(sync_dir(&path).await);
        }
        Command::Remove { path, reply } => {
            let _ = reply.send(tokio_uring::fs::remove_file(&path).await);
        }
    }
}

/// Serves one file until its handle closes it or is dropped.
async fn serve_file(file: tokio_uring::fs::File, mut ops: mpsc::Receiver<FileOp>) {
    while let Some(op) = ops.recv().await {
        match op {
            FileOp::WriteAt { buf, offset, reply } => {
                let _ = reply.send(file.write_all_at(buf, offset).await);
            }
            FileOp::Sync { reply } => {
                let _ = reply.send(file.sync_all().await);
            }
            FileOp::Close { reply } => {
                let _ = reply.send(file.close().await);
                return;
            }
        }
    }
    let _ = file.close().await;
}

async fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = tokio_uring::fs::OpenOptions::new()
        .read(true)
        .open(path)
        .await?;
    let synced = dir.sync_all().await;
    let closed = dir.close().await;
    synced.and(closed)
}
