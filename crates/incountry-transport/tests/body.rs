#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Bodies in memory and streamed.

use bytes::Bytes;
use futures_util::StreamExt;
use http_body::Body as _;
use incountry_transport::{Body, CollectError};

fn chunks(parts: &[&'static str]) -> Body {
    let items: Vec<Result<Bytes, std::io::Error>> = parts
        .iter()
        .map(|p| Ok(Bytes::from_static(p.as_bytes())))
        .collect();
    Body::from_stream(futures_util::stream::iter(items))
}

#[tokio::test]
async fn a_full_body_is_replayable_and_collects() {
    let body = Body::from("hello");
    assert!(body.is_replayable());
    assert_eq!(body.size_hint().exact(), Some(5));
    let copy = body.try_clone().unwrap();
    assert_eq!(body.collect_limited(5).await.unwrap(), "hello");
    assert_eq!(copy.collect_limited(5).await.unwrap(), "hello");
}

#[tokio::test]
async fn a_streamed_body_is_not_replayable_and_collects_in_order() {
    let body = chunks(&["a", "bc", "def"]);
    assert!(!body.is_replayable());
    assert!(body.try_clone().is_none());
    assert_eq!(body.collect_limited(6).await.unwrap(), "abcdef");
}

#[tokio::test]
async fn collecting_past_the_limit_fails() {
    assert!(matches!(
        chunks(&["abc", "def"])
            .collect_limited(5)
            .await
            .unwrap_err(),
        CollectError::TooLarge { limit: 5 }
    ));
    assert!(matches!(
        Body::from("abcdef").collect_limited(5).await.unwrap_err(),
        CollectError::TooLarge { limit: 5 }
    ));
}

#[tokio::test]
async fn a_stream_error_ends_the_body_with_that_error() {
    let items = vec![
        Ok(Bytes::from_static(b"a")),
        Err(std::io::Error::other("disk gone")),
    ];
    let body = Body::from_stream(futures_util::stream::iter(items));
    match body.collect_limited(100).await.unwrap_err() {
        CollectError::Read(source) => assert_eq!(source.to_string(), "disk gone"),
        other => panic!("unexpected error {other:?}"),
    }
}

#[tokio::test]
async fn a_body_turns_into_a_stream_of_chunks() {
    let collected: Vec<Bytes> = chunks(&["a", "b"])
        .into_stream()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(collected, vec![Bytes::from("a"), Bytes::from("b")]);
    let empty: Vec<_> = Body::empty().into_stream().collect().await;
    assert!(empty.is_empty());
}

#[test]
fn debug_shows_the_size_not_the_content() {
    assert_eq!(format!("{:?}", Body::from("secret")), "Body::Full(6 bytes)");
    assert_eq!(format!("{:?}", chunks(&["x"])), "Body::Stream");
}
