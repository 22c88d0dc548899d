//! Each rule of `validation.md` for records, filters and sort: the bad input is rejected with a
//! validation error that names the field, and nothing panics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use incountry_crypto::Crypto;
use incountry_model::{
    AttachmentMetaUpdate, Country, DateField, FindFilter, MAX_FILENAME_BYTES, MAX_FILTER_VALUES,
    MAX_OR_BRANCHES, ModelError, OrFilter, RangeKey, Record, RecordCodec, SearchKey, Sort,
    SortField, StringField, WireRecord,
};
use serde_json::{Value, json};

/// Asserts a validation error about `field` whose message mentions `rule`.
#[track_caller]
fn assert_rejected<T: std::fmt::Debug>(outcome: Result<T, ModelError>, field: &str, rule: &str) {
    let err = outcome.expect_err("input should be rejected");
    assert!(err.is_validation(), "not a validation error: {err:?}");
    assert_eq!(err.field(), Some(field), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(field),
        "message does not name the field: {message}"
    );
    assert!(message.contains(rule), "message {message:?} lacks {rule:?}");
}

fn hashed() -> RecordCodec {
    RecordCodec::new("env", Crypto::plaintext())
}

fn plain_keys() -> RecordCodec {
    hashed().hash_search_keys(false)
}

fn parse(filter: Value) -> Result<FindFilter, ModelError> {
    FindFilter::from_json(&filter).and_then(|f| f.validate().map(|()| f))
}

// ---- country ----

#[test]
fn country_must_be_two_ascii_letters() {
    for bad in ["", "u", "usa", "u1", "ü s", "éé", "  "] {
        assert_rejected(Country::new(bad), "country", "two-letter");
    }
    assert_eq!(Country::new("Us").unwrap().as_str(), "us");
    assert!(serde_json::from_value::<Country>(json!("x")).is_err());
}

// ---- records ----

#[test]
fn record_key_must_not_be_empty() {
    assert_rejected(hashed().encode(&Record::new("")), "record_key", "non-empty");
    assert_rejected(Record::new("").validate(), "record_key", "non-empty");
}

#[test]
fn record_key_is_required_in_the_record_shape() {
    let map = json!({"body": "b"});
    assert_rejected(
        Record::from_json_map(map.as_object().unwrap()),
        "record_key",
        "required",
    );
}

#[test]
fn string_fields_must_be_strings() {
    for field in [
        "record_key",
        "body",
        "precommit_body",
        "profile_key",
        "service_key3",
        "key7",
    ] {
        let mut map = json!({"record_key": "k"}).as_object().unwrap().clone();
        map.insert(field.into(), json!(5));
        assert_rejected(Record::from_json_map(&map), field, "must be a string");
    }
}

#[test]
fn range_keys_must_be_64_bit_integers() {
    for bad in [json!("1"), json!(1.5), json!(u64::MAX), json!(true)] {
        let map = json!({"record_key": "k", "range_key4": bad});
        assert_rejected(
            Record::from_json_map(map.as_object().unwrap()),
            "range_key4",
            "64-bit integer",
        );
    }
    let map = json!({"record_key": "k", "range_key4": i64::MIN});
    let record = Record::from_json_map(map.as_object().unwrap()).unwrap();
    assert_eq!(record.range_key(RangeKey::RangeKey4), Some(i64::MIN));
}

#[test]
fn expires_at_must_be_a_timezone_aware_instant() {
    for bad in [
        json!("2030-01-01T00:00:00"),
        json!("2030-01-01"),
        json!("soon"),
        json!(1700000000),
    ] {
        let map = json!({"record_key": "k", "expires_at": bad});
        assert_rejected(
            Record::from_json_map(map.as_object().unwrap()),
            "expires_at",
            "offset",
        );
    }
}

#[test]
fn expires_at_must_be_within_python_years() {
    let far = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
    assert_rejected(
        hashed().encode(&Record::new("k").with_expires_at(far)),
        "expires_at",
        "9999",
    );
}

#[test]
fn plain_search_keys_are_at_most_256_characters_on_write() {
    let ok = "é".repeat(256);
    let long = "é".repeat(257);
    assert!(
        plain_keys()
            .encode(&Record::new("k").with_key(SearchKey::Key5, ok))
            .is_ok()
    );
    let record = Record::new("k").with_key(SearchKey::Key5, long);
    assert_rejected(plain_keys().encode(&record), "key5", "256");
    // Hashed keys have no limit.
    assert!(hashed().encode(&record).is_ok());
}

#[test]
fn search_key_numbers_out_of_range_are_reported() {
    assert_eq!(SearchKey::new(0), None);
    assert_eq!(SearchKey::new(21), None);
    assert_eq!(RangeKey::new(11), None);
    assert_rejected(SearchKey::try_from(21), "key21", "1 to 20");
    assert_rejected(RangeKey::try_from(0), "range_key0", "1 to 10");
    assert_rejected(
        incountry_model::ServiceKey::try_from(6),
        "service_key6",
        "1 to 5",
    );
}

// ---- find: paging ----

#[test]
fn limit_is_1_to_100() {
    for bad in [0, 101, 1000] {
        assert_rejected(FindFilter::new().limit(bad).validate(), "limit", "1 to 100");
    }
    assert_rejected(parse(json!({"limit": -1})), "limit", "1 to 100");
    assert_rejected(parse(json!({"limit": "10"})), "limit", "1 to 100");
    assert!(FindFilter::new().limit(100).validate().is_ok());
    assert_eq!(FindFilter::new().page_limit(), 100);
}

#[test]
fn offset_is_not_negative() {
    assert_rejected(parse(json!({"offset": -1})), "offset", "non-negative");
}

// ---- find: operators ----

#[test]
fn string_keys_accept_only_not_and_like() {
    assert_rejected(parse(json!({"key1": {"$gt": "a"}})), "key1", "$not");
    assert_rejected(
        parse(json!({"record_key": {"$lt": "a"}})),
        "record_key",
        "$not",
    );
    assert_rejected(
        parse(json!({"profile_key": {"$like": "a"}})),
        "profile_key",
        "$like",
    );
    assert_rejected(
        parse(json!({"key1": {"$like": "a", "$not": "b"}})),
        "key1",
        "$like",
    );
    assert_rejected(parse(json!({"key1": {"$like": 5}})), "key1", "$like");
}

#[test]
fn integer_and_date_keys_accept_only_comparison_operators() {
    assert_rejected(
        parse(json!({"range_key1": {"$in": [1]}})),
        "range_key1",
        "$gte",
    );
    assert_rejected(
        parse(json!({"version": {"$like": "1"}})),
        "version",
        "$like",
    );
    assert_rejected(
        parse(json!({"expires_at": {"$eq": "2030-01-01T00:00:00Z"}})),
        "expires_at",
        "$lte",
    );
}

#[test]
fn at_most_one_bound_of_each_pair() {
    assert_rejected(
        parse(json!({"range_key2": {"$gt": 1, "$gte": 2}})),
        "range_key2",
        "$gt, $gte",
    );
    assert_rejected(
        parse(
            json!({"created_at": {"$lt": "2030-01-01T00:00:00Z", "$lte": "2030-01-01T00:00:00Z"}}),
        ),
        "created_at",
        "$lt, $lte",
    );
    // The builder keeps only the last bound of a pair.
    let filter = FindFilter::new()
        .gt(RangeKey::RangeKey2, 1)
        .gte(RangeKey::RangeKey2, 2);
    let wire = hashed().encode_filter(&filter).unwrap();
    assert_eq!(wire["range_key2"], json!({"$gte": 2}));
}

#[test]
fn values_must_have_the_field_type() {
    assert_rejected(parse(json!({"key1": 5})), "key1", "strings");
    assert_rejected(parse(json!({"key1": ["a", 5]})), "key1", "strings");
    assert_rejected(parse(json!({"range_key1": "5"})), "range_key1", "integers");
    assert_rejected(
        parse(json!({"version": {"$not": [1, "2"]}})),
        "version",
        "integers",
    );
    assert_rejected(
        parse(json!({"created_at": "yesterday"})),
        "created_at",
        "offset",
    );
    assert_rejected(
        parse(json!({"expires_at": {"$gt": "2030-01-01T00:00:00"}})),
        "expires_at",
        "offset",
    );
}

#[test]
fn unknown_filter_fields_are_rejected() {
    assert_rejected(parse(json!({"key21": "a"})), "key21", "not a field");
    assert_rejected(parse(json!({"body": "a"})), "body", "not a field");
    assert_rejected(FindFilter::from_json(&json!(["key1"])), "filter", "object");
}

#[test]
fn empty_lists_and_objects_are_rejected() {
    for bad in [
        json!({"key1": []}),
        json!({"key1": {}}),
        json!({"key1": {"$not": []}}),
    ] {
        assert_rejected(parse(bad), "key1", "Filter cannot be empty");
    }
    assert_rejected(
        parse(json!({"range_key3": []})),
        "range_key3",
        "Filter cannot be empty",
    );
    assert_rejected(
        FindFilter::new()
            .any_of(SearchKey::Key2, Vec::<String>::new())
            .validate(),
        "key2",
        "Filter cannot be empty",
    );
    assert_rejected(
        FindFilter::new()
            .not_any_of(RangeKey::RangeKey9, Vec::<i64>::new())
            .validate(),
        "range_key9",
        "Filter cannot be empty",
    );
}

#[test]
fn created_at_and_updated_at_cannot_be_null() {
    assert_rejected(
        FindFilter::new().is_null(DateField::CreatedAt).validate(),
        "created_at",
        "None",
    );
    assert_rejected(parse(json!({"updated_at": null})), "updated_at", "None");
    assert_rejected(
        FindFilter::new().not_null(DateField::UpdatedAt).validate(),
        "updated_at",
        "null",
    );
    // expires_at may be null, or not null.
    assert!(
        FindFilter::new()
            .is_null(DateField::ExpiresAt)
            .validate()
            .is_ok()
    );
    assert!(parse(json!({"expires_at": {"$not": null}})).is_ok());
}

#[test]
fn filter_dates_must_be_within_python_years() {
    let far = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
    assert_rejected(
        FindFilter::new().gt(DateField::ExpiresAt, far).validate(),
        "expires_at",
        "9999",
    );
}

#[test]
fn search_keys_is_3_to_200_characters() {
    assert_rejected(
        FindFilter::new().search_keys("ab").validate(),
        "search_keys",
        "3 to 200",
    );
    assert_rejected(
        FindFilter::new().search_keys("x".repeat(201)).validate(),
        "search_keys",
        "3 to 200",
    );
    assert!(FindFilter::new().search_keys("日本語").validate().is_ok());
    assert!(
        FindFilter::new()
            .search_keys("x".repeat(200))
            .validate()
            .is_ok()
    );
    assert_rejected(parse(json!({"search_keys": 5})), "search_keys", "string");
}

#[test]
fn search_keys_excludes_key_filters() {
    let filter = FindFilter::new()
        .search_keys("abc")
        .eq(SearchKey::Key3, "x");
    assert_rejected(filter.validate(), "search_keys", "key1...key20");
    let filter = FindFilter::new()
        .search_keys("abc")
        .like(SearchKey::Key3, "x");
    assert_rejected(filter.validate(), "search_keys", "key1...key20");
    // Other fields are fine.
    let filter = FindFilter::new()
        .search_keys("abc")
        .eq(StringField::ProfileKey, "x");
    assert!(plain_keys().encode_filter(&filter).is_ok());
}

#[test]
fn search_keys_and_like_need_plain_search_keys() {
    let filter = FindFilter::new().search_keys("abc");
    assert_rejected(
        hashed().encode_filter(&filter),
        "search_keys",
        "hash_search_keys",
    );
    let filter = FindFilter::new().like(SearchKey::Key4, "abc");
    assert_rejected(hashed().encode_filter(&filter), "key4", "hash_search_keys");
    let wire = plain_keys().encode_filter(&filter).unwrap();
    assert_eq!(wire["key4"], json!({"$like": "abc"}));
}

#[test]
fn plain_search_keys_are_at_most_256_characters_in_find() {
    let long = "k".repeat(257);
    let filter = FindFilter::new().not_any_of(SearchKey::Key6, ["a".to_string(), long.clone()]);
    assert_rejected(plain_keys().encode_filter(&filter), "key6", "256");
    assert!(hashed().encode_filter(&filter).is_ok());
    let filter = FindFilter::new().or([
        OrFilter::new().eq(SearchKey::Key1, "a"),
        OrFilter::new().like(SearchKey::Key2, long),
    ]);
    assert_rejected(plain_keys().encode_filter(&filter), "key2", "256");
}

#[test]
fn or_needs_two_or_more_non_empty_string_filters() {
    let one = FindFilter::new().or([OrFilter::new().eq(SearchKey::Key1, "a")]);
    assert_rejected(one.validate(), "$or", "two or more");
    let empty_branch =
        FindFilter::new().or([OrFilter::new().eq(SearchKey::Key1, "a"), OrFilter::new()]);
    assert_rejected(empty_branch.validate(), "$or[1]", "Filter cannot be empty");
    let empty_list = FindFilter::new().or([
        OrFilter::new().eq(SearchKey::Key1, "a"),
        OrFilter::new().any_of(StringField::RecordKey, Vec::<String>::new()),
    ]);
    assert_rejected(
        empty_list.validate(),
        "$or[1].record_key",
        "Filter cannot be empty",
    );
    assert_rejected(
        parse(json!({"$or": [{"key1": "a"}, {"range_key1": 1}]})),
        "$or[1].range_key1",
        "string fields",
    );
    assert_rejected(
        parse(json!({"$or": [{"key1": "a"}, {"$or": [{"key2": "b"}, {"key3": "c"}]}]})),
        "$or[1].$or",
        "string fields",
    );
    assert_rejected(parse(json!({"$or": {"key1": "a"}})), "$or", "list");
}

#[test]
fn or_excludes_search_keys() {
    let filter = FindFilter::new().search_keys("abc").or([
        OrFilter::new().eq(StringField::ProfileKey, "a"),
        OrFilter::new().eq(StringField::ParentKey, "b"),
    ]);
    assert_rejected(filter.validate(), "$or", "search_keys");
}

// ---- sort ----

#[test]
fn sort_items_have_exactly_one_allowed_field() {
    assert_rejected(parse(json!({"sort": [{}]})), "sort[0]", "exactly one");
    assert_rejected(
        parse(json!({"sort": [{"key1": "asc"}, {"key1": "asc", "key2": "desc"}]})),
        "sort[1]",
        "exactly one",
    );
    assert_rejected(parse(json!({"sort": ["key1"]})), "sort[0]", "object");
    assert_rejected(
        parse(json!({"sort": [{"record_key": "asc"}]})),
        "sort.record_key",
        "cannot sort",
    );
    assert_rejected(
        parse(json!({"sort": [{"version": "asc"}]})),
        "sort.version",
        "cannot sort",
    );
    assert_rejected(parse(json!({"sort": {"key1": "asc"}})), "sort", "list");
}

#[test]
fn sort_order_is_asc_or_desc() {
    assert_rejected(
        parse(json!({"sort": [{"key1": "up"}]})),
        "sort.key1",
        "\"asc\" or \"desc\"",
    );
    assert_rejected(
        parse(json!({"sort": [{"key1": null}]})),
        "sort.key1",
        "\"asc\" or \"desc\"",
    );
}

#[test]
fn sort_fields_appear_once() {
    let filter = FindFilter::new()
        .sort(Sort::asc(SearchKey::Key1))
        .sort(Sort::desc(SortField::CreatedAt))
        .sort(Sort::desc(SearchKey::Key1));
    assert_rejected(filter.validate(), "sort[2]", "duplicate");
    assert_rejected(
        parse(json!({"sort": [{"range_key1": "asc"}, {"range_key1": "desc"}]})),
        "sort[1]",
        "duplicate",
    );
}

#[test]
fn an_empty_or_list_is_rejected() {
    assert_rejected(parse(json!({"$or": []})), "$or", "two or more");
}

#[test]
fn a_list_over_the_value_limit_is_rejected_naming_the_limit() {
    let values: Vec<String> = (0..=MAX_FILTER_VALUES).map(|i| i.to_string()).collect();
    let limit = MAX_FILTER_VALUES.to_string();
    assert_rejected(parse(json!({"key1": values})), "key1", &limit);
    assert_rejected(
        parse(json!({"profile_key": {"$not": values}})),
        "profile_key",
        &limit,
    );
    assert_rejected(
        parse(json!({"$or": [{"key1": "a"}, {"key2": values}]})),
        "$or[1].key2",
        &limit,
    );
    // The SDK refuses it before sending.
    let filter = FindFilter::new().any_of(SearchKey::Key1, values);
    assert_rejected(hashed().encode_filter(&filter), "key1", &limit);
}

#[test]
fn values_are_counted_across_the_whole_filter() {
    let half: Vec<String> = (0..MAX_FILTER_VALUES / 2).map(|i| i.to_string()).collect();
    // A null counts no value.
    let exactly = json!({"key1": half, "$or": [{"key2": half}, {"key4": null}]});
    assert!(parse(exactly.clone()).is_ok());
    let mut over = exactly;
    over["$or"][1] = json!({"key4": "one more"});
    assert_rejected(
        parse(over),
        "filter",
        &format!("{} values in all", MAX_FILTER_VALUES + 1),
    );
}

#[test]
fn or_takes_at_most_the_branch_limit() {
    let branches =
        |n: usize| -> Vec<Value> { (0..n).map(|i| json!({"key1": i.to_string()})).collect() };
    assert!(parse(json!({"$or": branches(MAX_OR_BRANCHES)})).is_ok());
    assert_rejected(
        parse(json!({"$or": branches(1001)})),
        "$or",
        &format!("at most {MAX_OR_BRANCHES}"),
    );
}

#[test]
fn a_wire_record_needs_an_expires_at_in_python_years() {
    for bad in [
        "0000-12-31T00:00:00+00:00",
        "0001-01-01T00:00:00+01:00",
        "+10000-01-01T00:00:00Z",
        "tomorrow",
    ] {
        let record: WireRecord =
            serde_json::from_value(json!({"record_key": "k", "body": "b", "expires_at": bad}))
                .unwrap();
        assert_rejected(record.validate(), "expires_at", "");
    }
    let record: WireRecord = serde_json::from_value(
        json!({"record_key": "k", "body": "b", "expires_at": "0001-01-01T00:00:00+00:00"}),
    )
    .unwrap();
    assert!(record.validate().is_ok());
}

// ---- attachments ----

#[test]
fn attachment_file_names_are_at_most_255_bytes() {
    let fits = "\u{e9}".repeat(MAX_FILENAME_BYTES / 2);
    let update: AttachmentMetaUpdate = serde_json::from_value(json!({ "filename": fits })).unwrap();
    assert!(update.validate().is_ok());
    let over = format!("{fits}xx");
    let update: AttachmentMetaUpdate = serde_json::from_value(json!({ "filename": over })).unwrap();
    assert_rejected(update.validate(), "filename", "255 bytes");
}

#[test]
fn attachment_meta_update_needs_a_filename_or_a_mime_type() {
    assert_rejected(
        AttachmentMetaUpdate::default().validate(),
        "filename, mime_type",
        "at least one",
    );
    let update: AttachmentMetaUpdate = serde_json::from_value(json!({"mime_type": ""})).unwrap();
    assert_rejected(update.validate(), "mime_type", "non-empty");
}

#[test]
fn error_messages_do_not_echo_values() {
    let secret = "a very private value that is much longer than the limit".repeat(10);
    let record = Record::new("k").with_key(SearchKey::Key1, secret.clone());
    let err = plain_keys().encode(&record).unwrap_err();
    assert!(!err.to_string().contains("private"));
}

#[test]
fn batch_delete_needs_non_empty_record_keys() {
    let none: [&str; 0] = [];
    assert_rejected(hashed().encode_batch_delete(&none), "record_keys", "empty");
    assert_rejected(
        hashed().encode_batch_delete(&["a", ""]),
        "record_keys[1]",
        "non-empty",
    );
    let request = hashed().encode_batch_delete(&["a"]).unwrap();
    assert_eq!(
        serde_json::to_value(request).unwrap(),
        json!({"filter": {"record_key": [hashed().hash_record_key("a")]}})
    );
}
