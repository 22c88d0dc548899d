//! Property tests: any valid record survives encode and decode unchanged, under every codec
//! configuration; the record's serde form and filters round-trip too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};
use incountry_crypto::{Crypto, Secret, SecretsData};
use incountry_model::{
    DateField, FindFilter, IntField, OrFilter, RangeKey, Record, RecordCodec, SearchKey,
    ServiceKey, Sort, SortField, StringField, format_date, parse_date,
};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, including quotes, controls and astral characters, kept short.
    proptest::string::string_regex("(?s).{0,12}").unwrap()
}

fn date() -> impl Strategy<Value = DateTime<Utc>> {
    // Years 1..=9999 with microsecond precision.
    (-62_135_596_800i64..253_402_300_799, 0u32..1_000_000)
        .prop_map(|(secs, micros)| Utc.timestamp_opt(secs, micros * 1_000).unwrap())
}

fn record() -> impl Strategy<Value = Record> {
    (
        proptest::string::string_regex("(?s).{1,12}").unwrap(),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::collection::vec(proptest::option::of(text()), 5),
        proptest::collection::vec(proptest::option::of(text()), 20),
        proptest::collection::vec(proptest::option::of(any::<i64>()), 10),
        proptest::option::of(date()),
    )
        .prop_map(
            |(key, body, precommit, profile, parent, service, keys, ranges, expires)| {
                let mut record = Record::new(key);
                record.set_body(body);
                record.set_precommit_body(precommit);
                record.set_profile_key(profile);
                record.set_parent_key(parent);
                for (which, value) in ServiceKey::ALL.into_iter().zip(service) {
                    record.set_service_key(which, value);
                }
                for (which, value) in SearchKey::ALL.into_iter().zip(keys) {
                    record.set_key(which, value);
                }
                for (which, value) in RangeKey::ALL.into_iter().zip(ranges) {
                    record.set_range_key(which, value);
                }
                record.set_expires_at(expires);
                record
            },
        )
}

fn crypto(encrypted: bool) -> Crypto {
    if encrypted {
        Crypto::new(SecretsData::new(7, vec![Secret::key(7, [0x42; 32])]).unwrap()).unwrap()
    } else {
        Crypto::plaintext()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_valid_record_round_trips_through_the_codec(
        record in record(),
        encrypted in any::<bool>(),
        normalize in any::<bool>(),
        hash_search_keys in any::<bool>(),
    ) {
        let codec = RecordCodec::new("env-prop", crypto(encrypted))
            .normalize_keys(normalize)
            .hash_search_keys(hash_search_keys);
        let wire = codec.encode(&record).unwrap();
        let json = serde_json::to_string(&wire).unwrap();
        let back = codec.decode(&serde_json::from_str(&json).unwrap()).unwrap();
        let expected = record
            .with_version(if encrypted { 7 } else { 0 })
            .with_is_encrypted(encrypted);
        prop_assert_eq!(back, expected);
    }

    #[test]
    fn the_record_serde_form_round_trips(record in record()) {
        let json = serde_json::to_string(&record).unwrap();
        prop_assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), record);
    }

    #[test]
    fn dates_round_trip_through_the_python_format(when in date()) {
        prop_assert_eq!(parse_date(&format_date(&when)).unwrap(), when);
    }

    #[test]
    fn filters_parse_back_from_their_plain_wire_form(
        key in text(), low in any::<i64>(), high in any::<i64>(), values in proptest::collection::vec(text(), 1..4),
        limit in 1u32..=100, offset in any::<u32>(),
    ) {
        let filter = FindFilter::new()
            .not(SearchKey::Key3, key)
            .any_of(SearchKey::Key4, values)
            .gt(RangeKey::RangeKey1, low)
            .lte(RangeKey::RangeKey1, high)
            .limit(limit)
            .offset(u64::from(offset));
        // With plain search keys the wire form holds the values as given.
        let codec = RecordCodec::new("env", Crypto::plaintext()).hash_search_keys(false);
        let request = codec.encode_find(&filter).unwrap();
        let mut json = request.filter.clone();
        json.insert("limit".into(), limit.into());
        json.insert("offset".into(), offset.into());
        prop_assert_eq!(FindFilter::from_json(&serde_json::Value::Object(json)).unwrap(), filter);
    }

    #[test]
    fn filters_round_trip_through_their_plain_json_form(
        key in text(), values in proptest::collection::vec(text(), 1..4), low in any::<i64>(),
        when in date(), limit in 1u32..=100, offset in any::<u64>(), null in any::<bool>(),
    ) {
        let mut filter = FindFilter::new()
            .eq(StringField::RecordKey, key.clone())
            .not_any_of(ServiceKey::ServiceKey1, values.clone())
            .gte(IntField::Version, low)
            .not(DateField::ExpiresAt, when)
            .lt(DateField::CreatedAt, when)
            .or([
                OrFilter::new().any_of(SearchKey::Key1, values),
                OrFilter::new().like(SearchKey::Key2, key),
            ])
            .sort(Sort::asc(SortField::ExpiresAt))
            .limit(limit)
            .offset(offset);
        if null {
            filter = filter.is_null(SearchKey::Key9).not_null(RangeKey::RangeKey10);
        }
        let json = serde_json::to_string(&filter).unwrap();
        prop_assert_eq!(serde_json::from_str::<FindFilter>(&json).unwrap(), filter);
    }

    #[test]
    fn arbitrary_json_never_panics_the_parsers(json in arbitrary_json()) {
        let _ = FindFilter::from_json(&json).map(|f| f.validate());
        if let serde_json::Value::Object(map) = &json {
            let _ = Record::from_json_map(map);
        }
        let _ = serde_json::from_value::<incountry_model::WireRecord>(json.clone());
    }
}

fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let names = prop_oneof![
        Just("key1".to_string()),
        Just("range_key1".to_string()),
        Just("created_at".to_string()),
        Just("expires_at".to_string()),
        Just("record_key".to_string()),
        Just("$or".to_string()),
        Just("$not".to_string()),
        Just("$gt".to_string()),
        Just("$like".to_string()),
        Just("sort".to_string()),
        Just("limit".to_string()),
        Just("search_keys".to_string()),
        text(),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::from),
        Just(json!("2030-01-01T00:00:00Z")),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((names.clone(), inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}
