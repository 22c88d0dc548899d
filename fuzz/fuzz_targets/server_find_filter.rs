//! Fuzzes the server's find path past the HTTP layer: a body that parses as a find request
//! and passes filter validation must run against the SQLite store without a store error
//! (which the API would answer with a 5xx), whatever its operators, values, paging and sort.

#![no_main]

use std::sync::OnceLock;

use chrono::Utc;
use incountry_model::FindRequest;
use incountry_server::store::{SqliteStore, Store};
use libfuzzer_sys::fuzz_target;

/// One runtime and one in-memory store with a few records, for the whole fuzzing process.
fn fixture() -> &'static (tokio::runtime::Runtime, SqliteStore) {
    static FIXTURE: OnceLock<(tokio::runtime::Runtime, SqliteStore)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let store = runtime.block_on(async {
            let store = SqliteStore::in_memory().await.expect("an in-memory store");
            store.migrate().await.expect("the schema");
            store
        });
        (runtime, store)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<FindRequest>(data) else {
        return;
    };
    let Ok(filter) = request.to_find_filter() else {
        return;
    };
    if filter.validate().is_err() {
        return;
    }
    let (runtime, store) = fixture();
    if let Err(error) = runtime.block_on(store.find("env", &filter, Utc::now())) {
        panic!("a valid filter failed in the store: {error}\nfilter: {filter:?}");
    }
});
