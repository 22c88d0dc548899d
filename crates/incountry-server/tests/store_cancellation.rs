#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Store operations dropped at every await point (the first 1 to 12 polls) leave the store
//! working: on in-memory SQLite, file SQLite and (when `INCOUNTRY_TEST_POSTGRES_URL` is set)
//! PostgreSQL.
//!
//! This is what a handler does when its client disconnects. sqlx 0.8 futures dropped
//! halfway used to lose an in-memory database ("no such table") or leave a `BEGIN IMMEDIATE`
//! open that write-locked a database file.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::Utc;
use incountry_model::{FindFilter, SearchKey, StringField, WireRecord};
use incountry_server::{PostgresStore, SqliteStore, Store};
use incountry_test_support::postgres;

const ENV: &str = "env-cut";
/// Long enough for any operation of these tests; a store left locked waits far longer.
const WAIT: Duration = Duration::from_secs(20);

/// Polls a future at most `polls` times, then drops it (`None`) unless it finished.
struct Cut<F> {
    future: Pin<Box<F>>,
    polls: usize,
}

impl<F: Future> Future for Cut<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polls == 0 {
            return Poll::Ready(None);
        }
        self.polls -= 1;
        self.future.as_mut().poll(cx).map(Some)
    }
}

async fn cut<F: Future>(future: F, polls: usize) -> Option<F::Output> {
    Cut {
        future: Box::pin(future),
        polls,
    }
    .await
}

fn record(key: &str) -> WireRecord {
    let mut record = WireRecord::default();
    record.record_key = Some(key.into());
    record.body = Some("2:ciphertext".into());
    record.key1 = Some("cut".into());
    record
}

/// Writes, batch writes, finds and deletes, each dropped after 1 to 12 polls, each followed
/// by a write and a find that must succeed.
async fn cut_operations_leave_the_store_working(store: &dyn Store) {
    for round in 0..48_usize {
        let polls = round % 12 + 1;
        let now = Utc::now();
        let key = format!("cut-{round}");
        match round % 4 {
            0 => drop(cut(store.upsert(ENV, &record(&key), now), polls).await),
            1 => {
                let batch: Vec<WireRecord> =
                    (0..5).map(|i| record(&format!("{key}-{i}"))).collect();
                drop(cut(store.upsert_batch(ENV, &batch, now), polls).await);
            }
            2 => {
                let filter = FindFilter::new().eq(SearchKey::Key1, "cut").limit(100);
                drop(cut(store.find(ENV, &filter, now), polls).await);
            }
            _ => drop(cut(store.delete(ENV, &format!("cut-{}", round - 3), now), polls).await),
        }
        let probe = format!("probe-{round}");
        tokio::time::timeout(WAIT, store.upsert(ENV, &record(&probe), Utc::now()))
            .await
            .unwrap_or_else(|_| panic!("round {round} ({polls} polls): the write hung"))
            .unwrap_or_else(|e| panic!("round {round} ({polls} polls): {e:?}"));
        let filter = FindFilter::new().eq(StringField::RecordKey, probe.as_str());
        let page = tokio::time::timeout(WAIT, store.find(ENV, &filter, Utc::now()))
            .await
            .unwrap_or_else(|_| panic!("round {round} ({polls} polls): the find hung"))
            .unwrap_or_else(|e| panic!("round {round} ({polls} polls): {e:?}"));
        assert_eq!(page.total, 1, "round {round} ({polls} polls)");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_operations_leave_in_memory_sqlite_working() {
    let store = SqliteStore::in_memory().await.unwrap();
    cut_operations_leave_the_store_working(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_operations_leave_a_sqlite_file_working() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("records.sqlite3"))
        .await
        .unwrap();
    cut_operations_leave_the_store_working(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_operations_leave_postgresql_working() {
    let Some(url) = postgres::url("store_cancellation::cut_operations_leave_postgresql_working")
    else {
        return;
    };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let schema = postgres::unique_name("incountry_cut_store_");
    let store = PostgresStore::open(pool.clone(), &schema).await.unwrap();
    cut_operations_leave_the_store_working(&store).await;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
}
