#![allow(clippy::unwrap_used, clippy::expect_used)]
//! One conformance suite for every [`Store`]: run against SQLite always and against
//! PostgreSQL when `INCOUNTRY_TEST_POSTGRES_URL` is set (unset: skipped, or failing when
//! `CI=true`; see `incountry_test_support::postgres`; each test in its own schema,
//! dropped afterwards).

use chrono::{DateTime, Duration, TimeZone, Utc};
use incountry_model::{
    FindFilter, FindRequest, MAX_FILTER_VALUES, MAX_OR_BRANCHES, WIRE_RECORD_FIELDS, WireRecord,
};
use incountry_server::{Store, StoreError, StoredAttachment};
use serde_json::{Value, json};

const ENV: &str = "env-a";

fn t(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(seconds)
}

fn record(value: Value) -> WireRecord {
    let Value::Object(mut map) = value else {
        panic!("not an object")
    };
    map.entry("body").or_insert(json!("2:ciphertext"));
    WireRecord::from_json_map(map).unwrap()
}

fn filter(filter: Value, options: Value) -> FindFilter {
    let request: FindRequest =
        serde_json::from_value(json!({"filter": filter, "options": options})).unwrap();
    request.to_find_filter().unwrap()
}

async fn keys(store: &dyn Store, f: Value, options: Value, now: DateTime<Utc>) -> Vec<String> {
    let page = store.find(ENV, &filter(f, options), now).await.unwrap();
    page.records
        .into_iter()
        .map(|r| r.record.record_key.unwrap())
        .collect()
}

async fn put(store: &dyn Store, records: Vec<Value>, now: DateTime<Utc>) {
    let records: Vec<WireRecord> = records.into_iter().map(record).collect();
    store.upsert_batch(ENV, &records, now).await.unwrap();
}

fn all() -> Value {
    json!({"limit": 100, "offset": 0})
}

mod conformance {
    use super::*;

    pub(super) async fn upsert_keeps_created_at_and_moves_updated_at(store: &dyn Store) {
        let first = store
            .upsert(
                ENV,
                &record(json!({"record_key": "a", "body": "v1", "key1": "k"})),
                t(0),
            )
            .await
            .unwrap();
        assert_eq!(
            first.record.created_at.as_deref(),
            Some("2030-01-01T00:00:00.000+00:00")
        );
        assert_eq!(first.record.updated_at, first.record.created_at);
        let second = store
            .upsert(ENV, &record(json!({"record_key": "a", "body": "v2"})), t(5))
            .await
            .unwrap();
        assert_eq!(
            second.record.created_at.as_deref(),
            Some("2030-01-01T00:00:00.000+00:00")
        );
        assert_eq!(
            second.record.updated_at.as_deref(),
            Some("2030-01-01T00:00:05.000+00:00")
        );
        let read = store.get(ENV, "a", t(6)).await.unwrap().unwrap();
        assert_eq!(read.record.body.as_deref(), Some("v2"));
        assert_eq!(read.record.key1, None, "an upsert replaces every member");
        assert_eq!(read.record.created_at, second.record.created_at);
        assert_eq!(read.record.updated_at, second.record.updated_at);
    }

    pub(super) async fn members_round_trip_and_expires_at_keeps_its_precision(store: &dyn Store) {
        let written = record(json!({
            "record_key": "full", "body": "2:b", "precommit_body": "2:p", "profile_key": "p",
            "parent_key": "parent", "service_key1": "s1", "service_key5": "s5", "key1": "k1",
            "key20": "k20", "range_key1": -5, "range_key10": 9_007_199_254_740_993_i64,
            "expires_at": "2031-02-03T04:05:06.123456+00:00", "version": 3, "is_encrypted": false
        }));
        store.upsert(ENV, &written, t(0)).await.unwrap();
        let read = store.get(ENV, "full", t(1)).await.unwrap().unwrap().record;
        let mut expected = written.clone();
        expected.created_at = Some("2030-01-01T00:00:00.000+00:00".into());
        expected.updated_at = expected.created_at.clone();
        assert_eq!(read, expected);
    }

    pub(super) async fn a_batch_with_an_invalid_record_stores_none(store: &dyn Store) {
        let batch = vec![
            record(json!({"record_key": "good"})),
            record(json!({"record_key": "bad", "body": ""})),
        ];
        let error = store.upsert_batch(ENV, &batch, t(0)).await.unwrap_err();
        assert!(
            matches!(error, StoreError::Invalid { ref field, .. } if field.starts_with("records[1]")),
            "{error:?}"
        );
        assert!(store.get(ENV, "good", t(0)).await.unwrap().is_none());
        let bad_date = vec![
            record(json!({"record_key": "good"})),
            record(json!({"record_key": "late", "expires_at": "tomorrow"})),
        ];
        assert!(store.upsert_batch(ENV, &bad_date, t(0)).await.is_err());
        assert!(store.get(ENV, "good", t(0)).await.unwrap().is_none());
    }

    pub(super) async fn a_batch_writing_one_key_twice_keeps_the_last_and_answers_each(
        store: &dyn Store,
    ) {
        put(
            store,
            vec![json!({"record_key": "old", "body": "before"})],
            t(0),
        )
        .await;
        let batch: Vec<WireRecord> = [
            json!({"record_key": "dup", "body": "first", "key1": "a"}),
            json!({"record_key": "old", "body": "after"}),
            json!({"record_key": "dup", "body": "second", "key2": "b"}),
        ]
        .into_iter()
        .map(record)
        .collect();
        let stored = store.upsert_batch(ENV, &batch, t(5)).await.unwrap();
        // One answer per record sent, in order, each with its timestamps.
        assert_eq!(stored.len(), 3);
        let bodies: Vec<_> = stored
            .iter()
            .map(|s| s.record.body.clone().unwrap())
            .collect();
        assert_eq!(bodies, ["first", "after", "second"]);
        assert!(stored.iter().all(|s| s.record.updated_at.is_some()));
        assert_ne!(stored[1].record.created_at, stored[1].record.updated_at);
        // The last write of a key wins, whole.
        let dup = store.get(ENV, "dup", t(6)).await.unwrap().unwrap().record;
        assert_eq!(dup.body.as_deref(), Some("second"));
        assert_eq!(dup.key1, None);
        assert_eq!(dup.key2.as_deref(), Some("b"));
        let old = store.get(ENV, "old", t(6)).await.unwrap().unwrap().record;
        assert_eq!(old.body.as_deref(), Some("after"));
        assert_eq!(keys(store, json!({}), all(), t(6)).await.len(), 2);
    }

    /// A full batch of 100 records with every member set is one round trip's worth of
    /// parameters on every engine.
    pub(super) async fn a_full_batch_with_every_member_is_stored(store: &dyn Store) {
        let batch: Vec<WireRecord> = (0..100)
            .map(|i| {
                let mut map = serde_json::Map::new();
                map.insert("record_key".into(), json!(format!("full-{i}")));
                for name in incountry_model::WIRE_RECORD_FIELDS {
                    if name.starts_with("key") || name.starts_with("service_key") {
                        map.insert((*name).into(), json!(format!("{name}-{i}")));
                    } else if name.starts_with("range_key") {
                        map.insert((*name).into(), json!(i));
                    }
                }
                map.insert("body".into(), json!("2:body"));
                record(serde_json::Value::Object(map))
            })
            .collect();
        let stored = store.upsert_batch(ENV, &batch, t(0)).await.unwrap();
        assert_eq!(stored.len(), 100);
        let page = keys(store, json!({"key20": "key20-99"}), all(), t(1)).await;
        assert_eq!(page, ["full-99"]);
    }

    pub(super) async fn environments_are_separate(store: &dyn Store) {
        store
            .upsert(ENV, &record(json!({"record_key": "a"})), t(0))
            .await
            .unwrap();
        assert!(store.get("env-b", "a", t(0)).await.unwrap().is_none());
        assert!(store.delete("env-b", "a", t(0)).await.unwrap().is_none());
        let page = store
            .find("env-b", &filter(json!({}), all()), t(0))
            .await
            .unwrap();
        assert_eq!(page.total, 0);
        assert!(store.get(ENV, "a", t(0)).await.unwrap().is_some());
    }

    pub(super) async fn delete_removes_the_record_once(store: &dyn Store) {
        store
            .upsert(ENV, &record(json!({"record_key": "a"})), t(0))
            .await
            .unwrap();
        assert_eq!(store.delete(ENV, "a", t(1)).await.unwrap(), Some(vec![]));
        assert!(store.get(ENV, "a", t(1)).await.unwrap().is_none());
        assert_eq!(store.delete(ENV, "a", t(1)).await.unwrap(), None);
    }

    pub(super) async fn delete_many_skips_absent_keys(store: &dyn Store) {
        put(
            store,
            vec![
                json!({"record_key": "a"}),
                json!({"record_key": "b"}),
                json!({"record_key": "c"}),
            ],
            t(0),
        )
        .await;
        let (deleted, _) = store
            .delete_many(ENV, &["a".into(), "c".into(), "zzz".into()])
            .await
            .unwrap();
        assert_eq!(deleted, 2);
        assert_eq!(keys(store, json!({}), all(), t(1)).await, ["b"]);
    }

    pub(super) async fn string_filters_equality_any_of_and_not(store: &dyn Store) {
        put(
            store,
            vec![
                json!({"record_key": "a", "key1": "x", "profile_key": "p1"}),
                json!({"record_key": "b", "key1": "y", "profile_key": "p1"}),
                json!({"record_key": "c", "profile_key": "p2"}),
            ],
            t(0),
        )
        .await;
        let now = t(1);
        assert_eq!(keys(store, json!({"key1": "x"}), all(), now).await, ["a"]);
        assert_eq!(
            keys(store, json!({"key1": ["x", "y"]}), all(), now).await,
            ["a", "b"]
        );
        assert_eq!(
            keys(store, json!({"key1": {"$not": "x"}}), all(), now).await,
            ["b", "c"]
        );
        assert_eq!(
            keys(store, json!({"key1": {"$not": ["x", "y"]}}), all(), now).await,
            ["c"]
        );
        assert_eq!(
            keys(store, json!({"key1": "y", "profile_key": "p1"}), all(), now).await,
            ["b"]
        );
        assert_eq!(
            keys(store, json!({"key1": "y", "profile_key": "p2"}), all(), now).await,
            Vec::<String>::new()
        );
        assert_eq!(
            keys(store, json!({"record_key": ["c", "a"]}), all(), now).await,
            ["a", "c"]
        );
    }

    pub(super) async fn null_matches_absent_and_not_null_present(store: &dyn Store) {
        put(store, vec![
            json!({"record_key": "a", "key2": "x", "range_key1": 1, "expires_at": "2099-01-01T00:00:00+00:00"}),
            json!({"record_key": "b"}),
        ], t(0)).await;
        let now = t(1);
        assert_eq!(keys(store, json!({"key2": null}), all(), now).await, ["b"]);
        assert_eq!(
            keys(store, json!({"key2": {"$not": null}}), all(), now).await,
            ["a"]
        );
        assert_eq!(
            keys(store, json!({"range_key1": null}), all(), now).await,
            ["b"]
        );
        assert_eq!(
            keys(store, json!({"range_key1": {"$not": null}}), all(), now).await,
            ["a"]
        );
        assert_eq!(
            keys(store, json!({"expires_at": null}), all(), now).await,
            ["b"]
        );
        assert_eq!(
            keys(store, json!({"expires_at": {"$not": null}}), all(), now).await,
            ["a"]
        );
    }

    pub(super) async fn range_filters_on_range_keys_version_and_dates(store: &dyn Store) {
        put(
            store,
            vec![json!({"record_key": "a", "range_key2": 1, "version": 1})],
            t(0),
        )
        .await;
        put(store, vec![json!({"record_key": "b", "range_key2": 5, "version": 2, "expires_at": "2099-06-01T00:00:00.5+00:00"})], t(10)).await;
        put(store, vec![json!({"record_key": "c", "range_key2": 9, "version": 3, "expires_at": "2099-12-01T00:00:00Z"})], t(20)).await;
        let now = t(30);
        assert_eq!(
            keys(store, json!({"range_key2": {"$gt": 1}}), all(), now).await,
            ["b", "c"]
        );
        assert_eq!(
            keys(
                store,
                json!({"range_key2": {"$gte": 1, "$lt": 9}}),
                all(),
                now
            )
            .await,
            ["a", "b"]
        );
        assert_eq!(
            keys(
                store,
                json!({"range_key2": {"$lte": 5, "$not": 1}}),
                all(),
                now
            )
            .await,
            ["b"]
        );
        assert_eq!(
            keys(store, json!({"range_key2": [1, 9]}), all(), now).await,
            ["a", "c"]
        );
        assert_eq!(
            keys(store, json!({"range_key2": 5}), all(), now).await,
            ["b"]
        );
        assert_eq!(
            keys(store, json!({"version": {"$not": 2}}), all(), now).await,
            ["a", "c"]
        );
        assert_eq!(
            keys(store, json!({"version": {"$gte": 2}}), all(), now).await,
            ["b", "c"]
        );
        let created_after = json!({"created_at": {"$gt": "2030-01-01T00:00:05.000Z"}});
        assert_eq!(keys(store, created_after, all(), now).await, ["b", "c"]);
        let created_until = json!({"created_at": {"$lte": "2030-01-01T00:00:10.000+0000"}});
        assert_eq!(keys(store, created_until, all(), now).await, ["a", "b"]);
        let updated = json!({"updated_at": "2030-01-01T00:00:20+00:00"});
        assert_eq!(keys(store, updated, all(), now).await, ["c"]);
        let expires = json!({"expires_at": {"$lt": "2099-07-01T00:00:00+00:00"}});
        assert_eq!(keys(store, expires, all(), now).await, ["b"]);
    }

    pub(super) async fn search_keys_and_like_are_case_sensitive_substrings(store: &dyn Store) {
        put(
            store,
            vec![
                json!({"record_key": "a", "key1": "apple pie"}),
                json!({"record_key": "b", "key7": "banana split", "key20": "Apple"}),
                json!({"record_key": "c", "key3": "cherry", "profile_key": "apple"}),
            ],
            t(0),
        )
        .await;
        let now = t(1);
        assert_eq!(
            keys(store, json!({"search_keys": "apple"}), all(), now).await,
            ["a"]
        );
        assert_eq!(
            keys(store, json!({"search_keys": "ppl"}), all(), now).await,
            ["a", "b"]
        );
        assert_eq!(
            keys(store, json!({"search_keys": "ana"}), all(), now).await,
            ["b"]
        );
        assert_eq!(
            keys(
                store,
                json!({"search_keys": "ana", "profile_key": "apple"}),
                all(),
                now
            )
            .await,
            Vec::<String>::new()
        );
        assert_eq!(
            keys(store, json!({"key1": {"$like": "e p"}}), all(), now).await,
            ["a"]
        );
        assert_eq!(
            keys(store, json!({"key20": {"$like": "App"}}), all(), now).await,
            ["b"]
        );
        assert_eq!(
            keys(store, json!({"key20": {"$like": "app"}}), all(), now).await,
            Vec::<String>::new()
        );
        assert_eq!(
            keys(store, json!({"search_keys": "100%"}), all(), now).await,
            Vec::<String>::new()
        );
    }

    pub(super) async fn or_matches_any_branch_and_ands_with_the_rest(store: &dyn Store) {
        put(
            store,
            vec![
                json!({"record_key": "a", "key1": "x", "key2": "m"}),
                json!({"record_key": "b", "key1": "y", "key2": "m"}),
                json!({"record_key": "c", "key1": "z", "key2": "n"}),
            ],
            t(0),
        )
        .await;
        let now = t(1);
        let either = json!({"$or": [{"key1": "x"}, {"key1": "z"}]});
        assert_eq!(keys(store, either, all(), now).await, ["a", "c"]);
        let anded = json!({"$or": [{"key1": "x"}, {"key1": "z"}], "key2": "m"});
        assert_eq!(keys(store, anded, all(), now).await, ["a"]);
        let mixed = json!({"$or": [{"key1": {"$like": "y"}}, {"key2": "n", "record_key": "c"}]});
        assert_eq!(keys(store, mixed, all(), now).await, ["b", "c"]);
    }

    /// Every value of a filter is one SQL parameter and every `$or` branch one level of the
    /// SQL expression: the most of both the model allows runs (SQLite allows 32 766
    /// parameters and a depth of 1 000).
    pub(super) async fn the_largest_filter_the_model_allows_runs(store: &dyn Store) {
        put(
            store,
            vec![
                json!({"record_key": "a", "key1": "x"}),
                json!({"record_key": "b", "key1": "x"}),
            ],
            t(0),
        )
        .await;
        let top = 1_000;
        let per_branch = (MAX_FILTER_VALUES - top) / MAX_OR_BRANCHES;
        assert_eq!(top + per_branch * MAX_OR_BRANCHES, MAX_FILTER_VALUES);
        let mut key1: Vec<String> = (1..top).map(|i| format!("no-{i}")).collect();
        key1.push("x".into());
        let nulls: Vec<&str> = ["profile_key", "parent_key"]
            .into_iter()
            .chain(WIRE_RECORD_FIELDS[5..10].iter().copied())
            .chain(WIRE_RECORD_FIELDS[11..30].iter().copied())
            .collect();
        let branches: Vec<Value> = (0..MAX_OR_BRANCHES)
            .map(|b| {
                let mut keys: Vec<String> =
                    (0..per_branch).map(|i| format!("no-{b}-{i}")).collect();
                if b == MAX_OR_BRANCHES - 1 {
                    keys[0] = "a".into();
                }
                let mut branch = serde_json::Map::new();
                branch.insert("record_key".into(), json!(keys));
                for name in &nulls {
                    branch.insert((*name).into(), Value::Null);
                }
                Value::Object(branch)
            })
            .collect();
        let largest = json!({"key1": key1, "$or": branches});
        let page = store
            .find(ENV, &filter(largest, all()), t(1))
            .await
            .unwrap();
        assert_eq!(page.total, 1);
        assert_eq!(page.records[0].record.record_key.as_deref(), Some("a"));
    }

    pub(super) async fn sort_is_multi_key_with_nulls_last(store: &dyn Store) {
        put(
            store,
            vec![
                json!({"record_key": "a", "key1": "b", "range_key1": 2}),
                json!({"record_key": "b", "range_key1": 1}),
                json!({"record_key": "c", "key1": "a", "range_key1": 2}),
                json!({"record_key": "d", "key1": "b", "range_key1": 1}),
                json!({"record_key": "e", "key1": "c"}),
            ],
            t(0),
        )
        .await;
        let now = t(1);
        let sorted = |sort: Value| json!({"limit": 100, "offset": 0, "sort": sort});
        assert_eq!(
            keys(store, json!({}), sorted(json!([{"key1": "asc"}])), now).await,
            ["c", "a", "d", "e", "b"]
        );
        assert_eq!(
            keys(store, json!({}), sorted(json!([{"key1": "desc"}])), now).await,
            ["e", "a", "d", "c", "b"]
        );
        assert_eq!(
            keys(
                store,
                json!({}),
                sorted(json!([{"range_key1": "desc"}, {"key1": "asc"}])),
                now
            )
            .await,
            ["c", "a", "d", "b", "e"]
        );
    }

    pub(super) async fn default_order_is_creation_order_and_pages_count_totals(store: &dyn Store) {
        for (i, key) in ["q", "c", "x", "a", "m"].iter().enumerate() {
            put(
                store,
                vec![json!({"record_key": key, "key1": "same"})],
                t(i as i64),
            )
            .await;
        }
        // An update does not move a record.
        put(
            store,
            vec![json!({"record_key": "q", "key1": "same"})],
            t(9),
        )
        .await;
        let now = t(10);
        assert_eq!(
            keys(store, json!({"key1": "same"}), all(), now).await,
            ["q", "c", "x", "a", "m"]
        );
        let page = store
            .find(
                ENV,
                &filter(json!({"key1": "same"}), json!({"limit": 2, "offset": 2})),
                now,
            )
            .await
            .unwrap();
        assert_eq!(page.total, 5);
        let page_keys: Vec<_> = page
            .records
            .iter()
            .map(|r| r.record.record_key.clone().unwrap())
            .collect();
        assert_eq!(page_keys, ["x", "a"]);
        let past_end = store
            .find(
                ENV,
                &filter(json!({"key1": "same"}), json!({"limit": 2, "offset": 10})),
                now,
            )
            .await
            .unwrap();
        assert_eq!((past_end.records.len(), past_end.total), (0, 5));
    }

    pub(super) async fn expired_records_are_invisible_and_swept(store: &dyn Store) {
        put(
            store,
            vec![
                json!({"record_key": "old", "expires_at": "2030-01-01T00:01:00+00:00"}),
                json!({"record_key": "new", "expires_at": "2030-01-01T00:03:00+00:00"}),
                json!({"record_key": "forever"}),
            ],
            t(0),
        )
        .await;
        store
            .put_attachment(
                ENV,
                &attachment("11111111-1111-4111-8111-111111111111", "old", "a.txt"),
                t(0),
            )
            .await
            .unwrap();
        assert!(store.get(ENV, "old", t(59)).await.unwrap().is_some());
        assert!(
            store.get(ENV, "old", t(60)).await.unwrap().is_none(),
            "expires_at <= now hides it"
        );
        assert_eq!(
            keys(store, json!({}), all(), t(60)).await,
            ["new", "forever"]
        );
        assert_eq!(store.delete(ENV, "old", t(60)).await.unwrap(), None);
        let (deleted, files) = store.sweep_expired(t(120)).await.unwrap();
        assert_eq!(deleted, 1);
        assert_eq!(files, ["11111111-1111-4111-8111-111111111111"]);
        assert!(
            store.get(ENV, "old", t(0)).await.unwrap().is_none(),
            "gone, not only hidden"
        );
        assert!(store.get(ENV, "new", t(120)).await.unwrap().is_some());
    }

    pub(super) async fn concurrent_writers_all_succeed(store: &dyn Store) {
        let writes = (0..30).map(|i| {
            let key = if i % 3 == 0 {
                "shared".to_owned()
            } else {
                format!("k{i}")
            };
            async move {
                let batch = [
                    record(json!({"record_key": key})),
                    record(json!({"record_key": format!("b{i}")})),
                ];
                store.upsert_batch(ENV, &batch, t(i)).await
            }
        });
        for result in futures_util::future::join_all(writes).await {
            result.unwrap();
        }
        let page = store
            .find(ENV, &filter(json!({}), all()), t(100))
            .await
            .unwrap();
        assert_eq!(page.total, 20 + 1 + 30);
    }

    fn attachment(file_id: &str, record_key: &str, filename: &str) -> StoredAttachment {
        StoredAttachment::new(
            file_id,
            record_key,
            filename,
            "ab",
            "text/plain",
            2,
            t(0),
            t(0),
        )
    }

    pub(super) async fn attachments_belong_to_their_record(store: &dyn Store) {
        put(
            store,
            vec![json!({"record_key": "r"}), json!({"record_key": "s"})],
            t(0),
        )
        .await;
        let id1 = "11111111-1111-4111-8111-111111111111";
        let id2 = "22222222-2222-4222-8222-222222222222";
        let first = store
            .put_attachment(ENV, &attachment(id1, "r", "one.txt"), t(1))
            .await
            .unwrap();
        assert_eq!(first.created_at, t(1));
        store
            .put_attachment(ENV, &attachment(id2, "r", "two.txt"), t(2))
            .await
            .unwrap();
        let missing = store
            .put_attachment(
                ENV,
                &attachment("33333333-3333-4333-8333-333333333333", "nope", "x"),
                t(2),
            )
            .await;
        assert!(matches!(missing, Err(StoreError::NotFound("record"))));
        let by_name = store
            .attachment_by_filename(ENV, "r", "two.txt")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_name.file_id, id2);
        assert!(
            store
                .attachment_by_filename(ENV, "s", "two.txt")
                .await
                .unwrap()
                .is_none()
        );
        let mut replaced = attachment(id1, "r", "one.txt");
        replaced.hash = "cd".into();
        replaced.size = 7;
        let replaced = store.put_attachment(ENV, &replaced, t(3)).await.unwrap();
        assert_eq!(
            (replaced.created_at, replaced.updated_at, replaced.size),
            (t(1), t(3), 7)
        );
        let renamed = store
            .update_attachment(ENV, "r", id1, Some("uno.txt"), None, t(4))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (renamed.filename.as_str(), renamed.mime_type.as_str()),
            ("uno.txt", "text/plain")
        );
        assert!(
            store
                .update_attachment(ENV, "s", id1, None, Some("a/b"), t(4))
                .await
                .unwrap()
                .is_none()
        );
        let listed = store
            .get(ENV, "r", t(5))
            .await
            .unwrap()
            .unwrap()
            .attachments;
        let names: Vec<_> = listed.iter().map(|a| a.filename.as_str()).collect();
        assert_eq!(names, ["uno.txt", "two.txt"]);
        let found = store
            .find(ENV, &filter(json!({"record_key": "r"}), all()), t(5))
            .await
            .unwrap();
        assert_eq!(found.records[0].attachments, listed);
        assert!(store.delete_attachment(ENV, "r", id2).await.unwrap());
        assert!(!store.delete_attachment(ENV, "r", id2).await.unwrap());
        assert_eq!(
            store.delete(ENV, "r", t(6)).await.unwrap(),
            Some(vec![id1.to_owned()])
        );
        assert!(store.attachment(ENV, "r", id1).await.unwrap().is_none());
    }
}

/// Runs each conformance test against a backend.
macro_rules! suite {
    ($backend:ident, $open:path) => {
        mod $backend {
            use super::*;
            suite!(@tests $open;
                upsert_keeps_created_at_and_moves_updated_at,
                members_round_trip_and_expires_at_keeps_its_precision,
                a_batch_with_an_invalid_record_stores_none,
                a_batch_writing_one_key_twice_keeps_the_last_and_answers_each,
                a_full_batch_with_every_member_is_stored,
                environments_are_separate,
                delete_removes_the_record_once,
                delete_many_skips_absent_keys,
                string_filters_equality_any_of_and_not,
                null_matches_absent_and_not_null_present,
                range_filters_on_range_keys_version_and_dates,
                search_keys_and_like_are_case_sensitive_substrings,
                or_matches_any_branch_and_ands_with_the_rest,
                the_largest_filter_the_model_allows_runs,
                sort_is_multi_key_with_nulls_last,
                default_order_is_creation_order_and_pages_count_totals,
                expired_records_are_invisible_and_swept,
                attachments_belong_to_their_record,
                concurrent_writers_all_succeed,
            );
        }
    };
    (@tests $open:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                if let Some(backend) = $open(concat!(module_path!(), "::", stringify!($name))).await {
                    conformance::$name(backend.store()).await;
                    backend.close().await;
                }
            }
        )*
    };
}

/// A store under test and how to clean it up.
enum Backend {
    Sqlite(incountry_server::SqliteStore, Option<tempfile::TempDir>),
    Postgres(incountry_server::PostgresStore, sqlx::PgPool),
}

impl Backend {
    fn store(&self) -> &dyn Store {
        match self {
            Self::Sqlite(store, _) => store,
            Self::Postgres(store, _) => store,
        }
    }

    async fn close(self) {
        match self {
            Self::Sqlite(store, dir) => {
                drop(store);
                drop(dir);
            }
            Self::Postgres(store, pool) => {
                sqlx::query(&format!(
                    "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                    store.schema()
                ))
                .execute(&pool)
                .await
                .unwrap();
                pool.close().await;
            }
        }
    }
}

async fn sqlite_memory(_test: &str) -> Option<Backend> {
    Some(Backend::Sqlite(
        incountry_server::SqliteStore::in_memory().await.unwrap(),
        None,
    ))
}

async fn sqlite_file(_test: &str) -> Option<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let store = incountry_server::SqliteStore::open(&dir.path().join("records.sqlite3"))
        .await
        .unwrap();
    Some(Backend::Sqlite(store, Some(dir)))
}

/// A fresh schema on the PostgreSQL server of [`incountry_test_support::postgres::url`], or
/// `None` when `test` is skipped.
async fn postgres(test: &str) -> Option<Backend> {
    let url = incountry_test_support::postgres::url(test)?;
    let schema = incountry_test_support::postgres::unique_name("incountry_test_");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(20))
        .connect(&url)
        .await
        .expect("INCOUNTRY_TEST_POSTGRES_URL is set but PostgreSQL cannot be reached");
    let store = incountry_server::PostgresStore::open(pool.clone(), &schema)
        .await
        .unwrap();
    Some(Backend::Postgres(store, pool))
}

suite!(sqlite_in_memory, sqlite_memory);
suite!(sqlite_on_disk, sqlite_file);
suite!(postgresql, postgres);
