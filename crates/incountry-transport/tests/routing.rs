#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Routing: host, audience and auth region of a country, and the record URLs.

use std::sync::Arc;
use std::time::Duration;

use incountry_transport::routing::{Route, Router, host_url, records_url};
use incountry_transport::{HyperTransport, ManualClock, Transport, TransportError};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const COUNTRIES: &str = r#"{"countries": [
    {"id": "US", "name": "United States", "direct": true, "region": "AMER"},
    {"id": "SE", "name": "Sweden", "direct": true, "region": "EMEA"},
    {"id": "AG", "name": "Antigua and Barbuda", "direct": false, "region": "AMER"},
    {"id": "IN", "name": "India", "direct": true, "status": "active"}
]}"#;

fn transport() -> Arc<dyn Transport> {
    Arc::new(HyperTransport::new().unwrap())
}

async fn countries_server(expected_fetches: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/countries"))
        .respond_with(ResponseTemplate::new(200).set_body_string(COUNTRIES))
        .expect(expected_fetches)
        .mount(&server)
        .await;
    server
}

fn route(host: &str, audience: &str, region: &str) -> Route {
    Route {
        host: host.to_owned(),
        audience: audience.to_owned(),
        region: region.to_owned(),
    }
}

#[tokio::test]
async fn endpoint_only_is_host_and_audience_for_every_country() {
    let router = Router::builder(transport())
        .endpoint("https://custom.example.com/prefix")
        .countries_endpoint("http://127.0.0.1:1/never-fetched")
        .build()
        .unwrap();
    let got = router.route("SE").await.unwrap();
    assert_eq!(
        got,
        route(
            "https://custom.example.com/prefix",
            "https://custom.example.com/prefix",
            "default"
        )
    );
    assert_eq!(
        got.records_url("se", &["abc"]),
        "https://custom.example.com/prefix/v2/storage/records/se/abc"
    );
}

#[tokio::test]
async fn endpoint_with_mask_adds_the_country_host_to_the_audience() {
    let router = Router::builder(transport())
        .endpoint("https://gateway.example.com")
        .endpoint_mask("-test.example.com")
        .countries_endpoint("http://127.0.0.1:1/never-fetched")
        .build()
        .unwrap();
    assert_eq!(
        router.route("de").await.unwrap(),
        route(
            "https://gateway.example.com",
            "https://gateway.example.com https://de-test.example.com",
            "default"
        )
    );
}

#[tokio::test]
async fn endpoint_equal_to_the_country_host_is_the_only_audience() {
    let router = Router::builder(transport())
        .endpoint("https://de-test.example.com")
        .endpoint_mask("-test.example.com")
        .build()
        .unwrap();
    assert_eq!(
        router.route("DE").await.unwrap(),
        route(
            "https://de-test.example.com",
            "https://de-test.example.com",
            "default"
        )
    );
}

#[tokio::test]
async fn a_direct_country_is_served_by_its_own_pop() {
    let server = countries_server(1).await;
    let router = Router::builder(transport())
        .countries_endpoint(format!("{}/countries", server.uri()))
        .build()
        .unwrap();
    let got = router.route("SE").await.unwrap();
    assert_eq!(
        got,
        route(
            "https://se-mt-01.api.incountry.io",
            "https://se-mt-01.api.incountry.io",
            "emea"
        )
    );
    assert_eq!(
        got.records_url("se", &["find"]),
        "https://se-mt-01.api.incountry.io/v2/storage/records/se/find"
    );
}

#[tokio::test]
async fn a_direct_country_without_region_has_an_empty_region() {
    let server = countries_server(1).await;
    let router = Router::builder(transport())
        .countries_endpoint(format!("{}/countries", server.uri()))
        .build()
        .unwrap();
    let got = router.route("in").await.unwrap();
    assert_eq!(got.host, "https://in-mt-01.api.incountry.io");
    assert_eq!(got.region, "");
}

#[tokio::test]
async fn a_non_direct_country_goes_through_the_default_pop() {
    let server = countries_server(1).await;
    let router = Router::builder(transport())
        .countries_endpoint(format!("{}/countries", server.uri()))
        .build()
        .unwrap();
    let got = router.route("ag").await.unwrap();
    assert_eq!(
        got,
        route(
            "https://us-mt-01.api.incountry.io",
            "https://us-mt-01.api.incountry.io https://ag-mt-01.api.incountry.io",
            "default"
        )
    );
    assert_eq!(
        got.records_url("ag", &["k"]),
        "https://us-mt-01.api.incountry.io/v2/storage/records/ag/k"
    );
}

#[tokio::test]
async fn a_country_missing_from_the_list_goes_through_the_default_pop() {
    let server = countries_server(1).await;
    let router = Router::builder(transport())
        .countries_endpoint(format!("{}/countries", server.uri()))
        .build()
        .unwrap();
    assert_eq!(
        router.route("zz").await.unwrap(),
        route(
            "https://us-mt-01.api.incountry.io",
            "https://us-mt-01.api.incountry.io https://zz-mt-01.api.incountry.io",
            "default"
        )
    );
}

#[tokio::test]
async fn a_mask_without_endpoint_applies_to_both_pops() {
    let server = countries_server(1).await;
    let router = Router::builder(transport())
        .endpoint_mask("-qa.example.org")
        .countries_endpoint(format!("{}/countries", server.uri()))
        .build()
        .unwrap();
    assert_eq!(
        router.route("se").await.unwrap().host,
        "https://se-qa.example.org"
    );
    assert_eq!(
        router.route("ag").await.unwrap(),
        route(
            "https://us-qa.example.org",
            "https://us-qa.example.org https://ag-qa.example.org",
            "default"
        )
    );
}

#[tokio::test]
async fn the_countries_list_is_fetched_once_across_many_calls() {
    let server = countries_server(1).await;
    let router = Arc::new(
        Router::builder(transport())
            .countries_endpoint(format!("{}/countries", server.uri()))
            .build()
            .unwrap(),
    );
    let mut tasks = Vec::new();
    for i in 0..50 {
        let router = router.clone();
        tasks.push(tokio::spawn(async move {
            router.route(if i % 2 == 0 { "se" } else { "ag" }).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for _ in 0..20 {
        router.route("us").await.unwrap();
    }
    server.verify().await;
}

#[tokio::test]
async fn the_countries_list_is_fetched_again_after_its_ttl() {
    let server = countries_server(2).await;
    let clock = Arc::new(ManualClock::new());
    let router = Router::builder(transport())
        .countries_endpoint(format!("{}/countries", server.uri()))
        .clock(clock.clone())
        .build()
        .unwrap();
    router.route("se").await.unwrap();
    clock.advance(Duration::from_secs(299));
    router.route("se").await.unwrap();
    clock.advance(Duration::from_secs(1));
    router.route("se").await.unwrap();
    server.verify().await;
}

#[tokio::test]
async fn the_countries_list_can_be_refreshed_on_demand() {
    let server = countries_server(2).await;
    let router = Router::builder(transport())
        .countries_endpoint(format!("{}/countries", server.uri()))
        .build()
        .unwrap();
    let first = router.countries().await.unwrap();
    assert_eq!(first.len(), 4);
    assert_eq!(first[0].id, "us");
    assert_eq!(first[0].region, "amer");
    assert!(first[0].direct);
    router.refresh_countries().await.unwrap();
    router.route("se").await.unwrap();
    server.verify().await;
}

#[tokio::test]
async fn a_failing_countries_list_is_a_status_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .mount(&server)
        .await;
    let router = Router::builder(transport())
        .countries_endpoint(format!("{}/countries", server.uri()))
        .build()
        .unwrap();
    let error = router.route("se").await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503));
    assert!(error.to_string().contains("maintenance"), "{error}");
}

#[tokio::test]
async fn a_malformed_countries_list_is_a_response_validation_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"data": []}"#))
        .mount(&server)
        .await;
    let router = Router::builder(transport())
        .countries_endpoint(format!("{}/countries", server.uri()))
        .build()
        .unwrap();
    let error = router.route("se").await.unwrap_err();
    match error {
        TransportError::ResponseValidation { message, .. } => {
            assert!(message.contains("missing field `countries`"), "{message}")
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[tokio::test]
async fn an_invalid_country_code_is_rejected() {
    let router = Router::builder(transport())
        .endpoint("https://custom.example.com")
        .build()
        .unwrap();
    for bad in ["", "s", "swe", "s1", "é1"] {
        let error = router.route(bad).await.unwrap_err();
        assert!(
            matches!(error, TransportError::InvalidCountry { .. }),
            "{bad}: {error:?}"
        );
    }
}

#[test]
fn invalid_endpoint_urls_are_configuration_errors() {
    for bad in ["custom.example.com", "ftp://example.com", "https://"] {
        let error = Router::builder(transport())
            .endpoint(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(error, TransportError::Config { .. }),
            "{bad}: {error:?}"
        );
    }
    let error = Router::builder(transport())
        .countries_endpoint("not a url")
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("countries endpoint"), "{error}");
}

#[test]
fn record_urls_trim_the_host_and_encode_segments() {
    assert_eq!(
        records_url("https://h.example.com/", "us", &[]),
        "https://h.example.com/v2/storage/records/us"
    );
    assert_eq!(
        records_url(
            "https://h.example.com/api//",
            "us",
            &["a b/c?", "attachments", "f%1"]
        ),
        "https://h.example.com/api/v2/storage/records/us/a%20b%2Fc%3F/attachments/f%251"
    );
    assert_eq!(
        records_url("http://127.0.0.1:8080", "se", &["0123abcdef-._~"]),
        "http://127.0.0.1:8080/v2/storage/records/se/0123abcdef-._~"
    );
    assert_eq!(
        host_url("https://h.example.com/", &["healthcheck"]),
        "https://h.example.com/healthcheck"
    );
}
