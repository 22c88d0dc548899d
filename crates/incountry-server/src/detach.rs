//! Running work to its end whatever becomes of the caller.
//!
//! A future stops at whichever `.await` it has reached when it is dropped. hyper drops a
//! request's handler future when its client disconnects, and sqlx's futures are not safe to
//! drop halfway. Two cases, both seen as a `find` answering 500 after a client was killed
//! mid-write (sqlx 0.8):
//!
//! - Cancelled while the pool checks an idle connection before handing it out
//!   (`test_before_acquire`, a ping), the connection is closed instead of returned. For a
//!   file or PostgreSQL a new one is opened and nothing is lost, but an in-memory SQLite
//!   database lives in its one connection: the replacement opens an empty database, and
//!   every later statement fails with "no such table".
//! - Cancelled between SQLite's `BEGIN IMMEDIATE` and sqlx's check that it opened a
//!   transaction, no `Transaction` exists yet to roll back on drop: the connection goes back
//!   to the pool inside a transaction that nothing ends. Its next `BEGIN` fails; a database
//!   file stays write-locked for every other connection.
//!
//! So nothing that changes state is left to a future a client can drop: the stores run each
//! operation on a task of its own ([`detached`]), and the HTTP layer runs each request's
//! handling, audit entry included, on one too. Dropping the waiting future then only drops
//! the answer.

use std::future::Future;

/// The runtime cancelled detached work before it finished (it is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Interrupted;

/// Runs `work` on a task of its own and waits for its output. Dropping the returned future
/// leaves `work` running to its end. A panic in `work` resumes in the caller.
pub(crate) async fn detached<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, Interrupted> {
    match tokio::spawn(work).await {
        Ok(output) => Ok(output),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Interrupted),
    }
}
