//! How async code reaches a database without blocking the runtime (architecture.md, runtime model): each
//! database's one read-write connection lives on a thread of its own and runs the closures sent to it in
//! order (the single writer path of storage.md §2); up to two read connections serve readers on tokio's
//! blocking pool.

use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{Semaphore, oneshot};

use super::open::{self, Create};
use super::{DbName, Result, StoreError};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Read connections per database besides the writer (storage.md §2).
pub const READERS_PER_DATABASE: usize = 2;

/// The writer thread of one database.
pub struct DbWriter {
    name: DbName,
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl DbWriter {
    /// Moves the writer connection onto its own thread.
    pub fn spawn(name: DbName, mut conn: Connection) -> DbWriter {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name(format!("db-{name}"))
            .spawn(move || {
                for job in inbox {
                    job(&mut conn);
                }
            })
            .expect("spawning a database thread");
        DbWriter { name, jobs: Some(jobs), thread: Some(thread) }
    }

    /// Runs `f` on the writer connection, after every job sent before it.
    pub async fn call<T: Send + 'static>(&self, f: impl FnOnce(&mut Connection) -> T + Send + 'static) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        let gone = || StoreError::invalid(format!("{}.db", self.name), "its database thread has stopped");
        self.jobs.as_ref().ok_or_else(gone)?.send(job).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())
    }
}

impl Drop for DbWriter {
    /// Lets queued jobs finish, then joins the thread (the connection closes there).
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The read connections of one database.
pub struct DbReaders {
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

impl DbReaders {
    pub fn open(dir: &Path, name: DbName, count: usize) -> Result<DbReaders> {
        let conns = (0..count).map(|_| open::open_reader(dir, name.spec())).collect::<Result<Vec<_>>>()?;
        Ok(DbReaders { permits: Arc::new(Semaphore::new(conns.len())), idle: Arc::new(Mutex::new(conns)) })
    }

    /// Runs `f` on a free read connection on the blocking pool.
    pub async fn read<T: Send + 'static>(&self, f: impl FnOnce(&Connection) -> T + Send + 'static) -> T {
        let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
        let conn = self.idle.lock().expect("reader pool").pop().expect("a permit guarantees a connection");
        let idle = Arc::clone(&self.idle);
        tokio::task::spawn_blocking(move || {
            let value = f(&conn);
            idle.lock().expect("reader pool").push(conn);
            value
        })
        .await
        .expect("a read closure panicked")
    }
}

/// One database reachable from async code: its writer thread and its readers.
pub struct AsyncDb {
    pub writer: DbWriter,
    pub readers: DbReaders,
}

impl AsyncDb {
    /// Opens an existing database by the procedure of storage.md §3.2.
    pub fn open(dir: &Path, name: DbName) -> Result<AsyncDb> {
        let opened = open::open_writer(dir, name.spec(), Create::Never)?;
        Ok(AsyncDb {
            writer: DbWriter::spawn(name, opened.conn),
            readers: DbReaders::open(dir, name, READERS_PER_DATABASE)?,
        })
    }
}
