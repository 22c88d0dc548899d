#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The 429 backoff schedule, checked through an injected sleeper and jitter source.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use incountry_transport::{
    Body, DefaultRandom, HyperTransport, ManualClock, RandomSource, RetryConfig, RetryingTransport,
    Sleeper, Transport, TransportError,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Records every wait instead of sleeping.
#[derive(Debug, Default)]
struct RecordingSleeper(Mutex<Vec<Duration>>);

impl RecordingSleeper {
    fn waits(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}

#[async_trait]
impl Sleeper for RecordingSleeper {
    async fn sleep(&self, duration: Duration) {
        self.0.lock().unwrap().push(duration);
    }
}

/// Always returns the same number in [0, 1).
#[derive(Debug)]
struct FixedRandom(f64);

impl RandomSource for FixedRandom {
    fn next_unit(&self) -> f64 {
        self.0
    }
}

/// A scripted answer: a status and its headers.
type Answer = (StatusCode, Vec<(&'static str, String)>);

/// Answers with scripted statuses (and headers) and records the bodies it was sent.
#[derive(Debug, Default)]
struct Scripted {
    answers: Mutex<VecDeque<Answer>>,
    bodies: Mutex<Vec<Bytes>>,
}

impl Scripted {
    fn new(answers: impl IntoIterator<Item = StatusCode>) -> Self {
        Self::with_headers(answers.into_iter().map(|s| (s, vec![])))
    }

    fn with_headers(answers: impl IntoIterator<Item = Answer>) -> Self {
        Self {
            answers: Mutex::new(answers.into_iter().collect()),
            bodies: Mutex::default(),
        }
    }

    fn calls(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }
}

#[async_trait]
impl Transport for Scripted {
    async fn send(&self, request: Request<Body>) -> Result<Response<Body>, TransportError> {
        let body = request.into_body().collect_limited(1 << 20).await.unwrap();
        self.bodies.lock().unwrap().push(body);
        let (status, headers) = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .expect("no more scripted answers");
        let mut response = Response::builder().status(status);
        for (name, value) in headers {
            response = response.header(name, value);
        }
        Ok(response.body(Body::from("answer")).unwrap())
    }
}

fn post(body: &'static str) -> Request<Body> {
    Request::post("http://127.0.0.1:1/v2/storage/records/us")
        .body(Body::from(body))
        .unwrap()
}

fn secs(values: &[f64]) -> Vec<Duration> {
    values.iter().map(|s| Duration::from_secs_f64(*s)).collect()
}

fn retrying(
    inner: Arc<Scripted>,
    config: RetryConfig,
    unit: f64,
) -> (RetryingTransport<Arc<Scripted>>, Arc<RecordingSleeper>) {
    let sleeper = Arc::new(RecordingSleeper::default());
    let transport = RetryingTransport::new(inner, config)
        .with_sleeper(sleeper.clone())
        .with_random(Arc::new(FixedRandom(unit)));
    (transport, sleeper)
}

#[test]
fn default_schedule_is_one_to_thirty_two_seconds_doubling() {
    let delays: Vec<_> = RetryConfig::default().delays().collect();
    assert_eq!(delays, secs(&[1.0, 2.0, 4.0, 8.0, 16.0, 32.0]));
}

#[test]
fn schedule_stops_before_passing_the_maximum() {
    let config = RetryConfig::builder()
        .base_delay(Duration::from_secs(3))
        .max_delay(Duration::from_secs(20))
        .build();
    assert_eq!(config.delays().collect::<Vec<_>>(), secs(&[3.0, 6.0, 12.0]));
}

#[test]
fn the_builder_starts_from_the_defaults_and_changes_only_what_is_set() {
    assert_eq!(RetryConfig::builder().build(), RetryConfig::default());
    let config = RetryConfig::builder()
        .base_delay(Duration::from_secs(4))
        .build();
    assert_eq!(config.base_delay, Duration::from_secs(4));
    assert_eq!(config.max_delay, RetryConfig::default().max_delay);
    assert_eq!(
        config.delays().collect::<Vec<_>>(),
        secs(&[4.0, 8.0, 16.0, 32.0])
    );
}

#[tokio::test]
async fn retries_429_until_success_with_jittered_delays() {
    let inner = Arc::new(Scripted::new([
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::CREATED,
    ]));
    // A unit of 0.0 is the lowest jitter factor, 0.8.
    let (transport, sleeper) = retrying(inner.clone(), RetryConfig::default(), 0.0);
    let response = transport.send(post("{\"a\":1}")).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(sleeper.waits(), secs(&[0.8, 1.6]));
    // The body was sent again, whole, on every attempt.
    let bodies = inner.bodies.lock().unwrap().clone();
    assert_eq!(bodies, vec![Bytes::from_static(b"{\"a\":1}"); 3]);
}

#[tokio::test]
async fn jitter_factor_stays_below_one_point_two() {
    let inner = Arc::new(Scripted::new([
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::OK,
    ]));
    let (transport, sleeper) = retrying(inner, RetryConfig::default(), 0.75);
    transport.send(post("x")).await.unwrap();
    // 0.8 + 0.75 * 0.4 = 1.1
    assert_eq!(sleeper.waits(), secs(&[1.1, 2.2]));
}

#[tokio::test]
async fn exhausted_schedule_returns_the_last_429() {
    let inner = Arc::new(Scripted::new([StatusCode::TOO_MANY_REQUESTS; 7]));
    let (transport, sleeper) = retrying(inner.clone(), RetryConfig::default(), 0.5);
    let response = transport.send(post("x")).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(inner.calls(), 7, "one attempt and six retries");
    assert_eq!(sleeper.waits(), secs(&[1.0, 2.0, 4.0, 8.0, 16.0, 32.0]));
}

#[tokio::test]
async fn other_statuses_are_not_retried() {
    for status in [
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ] {
        let inner = Arc::new(Scripted::new([status]));
        let (transport, sleeper) = retrying(inner.clone(), RetryConfig::default(), 0.5);
        let response = transport.send(post("x")).await.unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(inner.calls(), 1);
        assert!(sleeper.waits().is_empty());
    }
}

#[tokio::test]
async fn retry_after_seconds_replace_the_computed_delay() {
    let inner = Arc::new(Scripted::with_headers([
        (
            StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", "7".to_owned())],
        ),
        (StatusCode::TOO_MANY_REQUESTS, vec![]),
        (StatusCode::OK, vec![]),
    ]));
    let (transport, sleeper) = retrying(inner, RetryConfig::default(), 0.5);
    transport.send(post("x")).await.unwrap();
    // The server's 7 s, then the schedule's second step (2 s, jitter factor 1.0).
    assert_eq!(sleeper.waits(), secs(&[7.0, 2.0]));
}

#[tokio::test]
async fn retry_after_counts_against_the_schedule() {
    let config = RetryConfig::builder()
        .base_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(2))
        .build();
    let inner = Arc::new(Scripted::with_headers([
        (
            StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", "0".to_owned())],
        ),
        (
            StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", "0".to_owned())],
        ),
        (
            StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", "0".to_owned())],
        ),
    ]));
    let (transport, sleeper) = retrying(inner.clone(), config, 0.5);
    let response = transport.send(post("x")).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(inner.calls(), 3, "a two-step schedule allows two retries");
    assert_eq!(sleeper.waits(), vec![Duration::ZERO; 2]);
}

#[tokio::test]
async fn retry_after_is_capped_at_the_maximum_delay() {
    let inner = Arc::new(Scripted::with_headers([
        (
            StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", "3600".to_owned())],
        ),
        (StatusCode::OK, vec![]),
    ]));
    let (transport, sleeper) = retrying(inner, RetryConfig::default(), 0.5);
    transport.send(post("x")).await.unwrap();
    assert_eq!(sleeper.waits(), secs(&[32.0]));
}

#[tokio::test]
async fn retry_after_http_date_is_read_against_the_clock() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let in_five = httpdate::fmt_http_date(now + Duration::from_secs(5));
    let in_past = httpdate::fmt_http_date(now - Duration::from_secs(5));
    let inner = Arc::new(Scripted::with_headers([
        (
            StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", in_five)],
        ),
        (
            StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", in_past)],
        ),
        (
            StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", "soon".to_owned())],
        ),
        (StatusCode::OK, vec![]),
    ]));
    let (transport, sleeper) = retrying(inner, RetryConfig::default(), 0.5);
    let transport = transport.with_clock(Arc::new(ManualClock::at(now)));
    transport.send(post("x")).await.unwrap();
    // A date five seconds ahead; a date in the past means now; garbage falls back to the
    // schedule (third step, 4 s).
    assert_eq!(sleeper.waits(), secs(&[5.0, 0.0, 4.0]));
}

#[tokio::test]
async fn streamed_bodies_are_not_replayed() {
    let inner = Arc::new(Scripted::new([
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::OK,
    ]));
    let (transport, sleeper) = retrying(inner.clone(), RetryConfig::default(), 0.5);
    let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"big"))]);
    let request = Request::post("http://127.0.0.1:1/upload")
        .body(Body::from_stream(chunks))
        .unwrap();
    let response = transport.send(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(inner.calls(), 1);
    assert!(sleeper.waits().is_empty());
}

#[tokio::test]
async fn retries_against_a_real_server() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/storage/records/us"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/storage/records/us"))
        .respond_with(ResponseTemplate::new(201).set_body_string("{}"))
        .expect(1)
        .mount(&server)
        .await;
    let sleeper = Arc::new(RecordingSleeper::default());
    let transport = RetryingTransport::new(HyperTransport::new().unwrap(), RetryConfig::default())
        .with_sleeper(sleeper.clone());
    let request = Request::post(format!("{}/v2/storage/records/us", server.uri()))
        .body(Body::from("{}"))
        .unwrap();
    let response = transport.send(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(sleeper.waits(), secs(&[1.0, 1.0]));
}

#[test]
fn the_default_random_source_is_spread_over_the_unit_interval() {
    let random = DefaultRandom::default();
    let draws: Vec<f64> = (0..10_000).map(|_| random.next_unit()).collect();
    assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
    // Every tenth of the interval is hit: the jitter really varies.
    for decile in 0..10 {
        let low = f64::from(decile) / 10.0;
        let count = draws
            .iter()
            .filter(|x| (low..low + 0.1).contains(*x))
            .count();
        assert!((500..1500).contains(&count), "decile {decile}: {count}");
    }
}
