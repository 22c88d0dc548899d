//! CPU work (key derivation, AES, hashing) off the async runtime and across cores.
//!
//! Encrypting or decrypting a record costs a PBKDF2 derivation (milliseconds) unless its
//! derived key is cached, so a page of 100 records is real CPU work. [`map_blocking`] runs it
//! on Tokio's blocking pool in one chunk per core, so the runtime's workers keep serving I/O
//! and a find uses every core, and returns the results in input order.

use std::num::NonZeroUsize;
use std::sync::Arc;

use crate::StorageError;

/// Applies `work` to every item on the blocking thread pool, in up to one chunk per core, and
/// returns the results in the order of `items`. Outside a Tokio runtime (a custom transport
/// on another executor), it runs inline.
pub(crate) async fn map_blocking<T, R, F>(items: Vec<T>, work: F) -> Result<Vec<R>, StorageError>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> R + Send + Sync + 'static,
{
    if items.is_empty() {
        return Ok(Vec::new());
    }
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(items.into_iter().map(work).collect());
    }
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let chunk_size = items.len().div_ceil(cores.min(items.len()));
    let work = Arc::new(work);
    let mut tasks = Vec::with_capacity(cores);
    let mut items = items.into_iter();
    loop {
        let chunk: Vec<T> = items.by_ref().take(chunk_size).collect();
        if chunk.is_empty() {
            break;
        }
        let work = Arc::clone(&work);
        tasks.push(tokio::task::spawn_blocking(move || {
            chunk.into_iter().map(|item| work(item)).collect::<Vec<R>>()
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.extend(joined(task.await)?);
    }
    Ok(results)
}

/// Runs `work` once on the blocking thread pool (inline outside a Tokio runtime).
pub(crate) async fn run_blocking<R, F>(work: F) -> Result<R, StorageError>
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(work());
    }
    joined(tokio::task::spawn_blocking(work).await)
}

/// A blocking task's result: its panic goes on unwinding in the caller; a task the runtime
/// dropped while shutting down is an error.
fn joined<R>(result: Result<R, tokio::task::JoinError>) -> Result<R, StorageError> {
    match result {
        Ok(value) => Ok(value),
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => Err(StorageError::Config {
            message: "the async runtime is shutting down; the records were not processed".into(),
            source: Some(Box::new(error)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::map_blocking;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn results_keep_the_input_order_whatever_the_chunking() {
        for len in [0usize, 1, 2, 3, 7, 100, 1001] {
            let items: Vec<usize> = (0..len).collect();
            let doubled = map_blocking(items, |i| i * 2).await.unwrap();
            assert_eq!(doubled, (0..len).map(|i| i * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn outside_a_runtime_it_runs_inline() {
        let squares = futures_util::FutureExt::now_or_never(map_blocking(vec![1, 2, 3], |i| i * i))
            .expect("no await point outside a runtime")
            .unwrap();
        assert_eq!(squares, [1, 4, 9]);
    }

    #[tokio::test]
    async fn work_runs_off_the_runtime_thread() {
        let runtime_thread = std::thread::current().id();
        let threads = map_blocking(vec![(); 4], |()| std::thread::current().id())
            .await
            .unwrap();
        assert!(threads.iter().all(|id| *id != runtime_thread));
    }
}
