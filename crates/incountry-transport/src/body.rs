//! The body of a request or a response: bytes in memory, or a stream read as it goes.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::{BodyDataStream, BodyExt, StreamBody, combinators::UnsyncBoxBody};

/// The error a streamed body yields when reading it fails.
pub type BodyError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The body of a request or a response.
///
/// Either bytes already in memory (cheap to clone, so a request carrying them can be sent
/// again after a `429` or a `401`), or a stream read chunk by chunk, so that a large attachment
/// never has to sit in memory whole. A streamed body can be sent only once.
///
/// A `Body` is `Send` but not `Sync`: move it between tasks, do not share references to it.
pub struct Body {
    inner: Inner,
}

enum Inner {
    Full(Option<Bytes>),
    Stream(UnsyncBoxBody<Bytes, BodyError>),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Self::full(Bytes::new())
    }

    /// A body of bytes in memory.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self {
            inner: Inner::Full(Some(bytes.into())),
        }
    }

    /// A body read from a stream of chunks; an `Err` item ends the body with that error.
    pub fn from_stream<S, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BodyError> + 'static,
    {
        let frames = stream.map(|item| item.map(Frame::data).map_err(Into::into));
        Self {
            inner: Inner::Stream(UnsyncBoxBody::new(StreamBody::new(frames))),
        }
    }

    /// A body read from any [`http_body::Body`], e.g. a hyper response body.
    pub fn from_http_body<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BodyError>,
    {
        Self {
            inner: Inner::Stream(UnsyncBoxBody::new(body.map_err(Into::into))),
        }
    }

    /// The bytes of a body held in memory, or `None` for a streamed body.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match &self.inner {
            Inner::Full(Some(bytes)) => Some(bytes),
            Inner::Full(None) => None,
            Inner::Stream(_) => None,
        }
    }

    /// Whether the body is held in memory, so that a request carrying it can be sent again.
    pub fn is_replayable(&self) -> bool {
        matches!(self.inner, Inner::Full(Some(_)))
    }

    /// A copy of a body held in memory (the bytes are shared, not copied), or `None` for a
    /// streamed body, which can be read only once.
    pub fn try_clone(&self) -> Option<Self> {
        self.as_bytes().map(|bytes| Self::full(bytes.clone()))
    }

    /// Reads the whole body into memory, failing once it grows past `limit` bytes.
    ///
    /// Reading stops as soon as the limit is passed, so a huge body costs at most `limit`
    /// bytes of memory.
    pub async fn collect_limited(self, limit: usize) -> Result<Bytes, CollectError> {
        match self.inner {
            Inner::Full(bytes) => {
                let bytes = bytes.unwrap_or_default();
                if bytes.len() > limit {
                    return Err(CollectError::TooLarge { limit });
                }
                Ok(bytes)
            }
            Inner::Stream(body) => {
                if body.size_hint().lower() > limit as u64 {
                    return Err(CollectError::TooLarge { limit });
                }
                let mut stream = BodyDataStream::new(body);
                let mut collected = BytesMut::new();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(CollectError::Read)?;
                    if collected.len() + chunk.len() > limit {
                        return Err(CollectError::TooLarge { limit });
                    }
                    collected.extend_from_slice(&chunk);
                }
                Ok(collected.freeze())
            }
        }
    }

    /// Reads at most `limit` bytes of the body and drops the rest, ignoring read errors after
    /// the first chunk; used for error excerpts.
    pub(crate) async fn prefix(self, limit: usize) -> Result<Bytes, BodyError> {
        let mut stream = self.into_stream();
        let mut collected = BytesMut::new();
        while collected.len() < limit {
            match stream.next().await {
                Some(Ok(chunk)) => {
                    let take = chunk.len().min(limit - collected.len());
                    collected.extend_from_slice(&chunk[..take]);
                }
                Some(Err(error)) if collected.is_empty() => return Err(error),
                Some(Err(_)) | None => break,
            }
        }
        Ok(collected.freeze())
    }

    /// The body as a stream of chunks (trailers, if any, are skipped).
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, BodyError>> + Send + 'static {
        BodyDataStream::new(self)
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self::full(bytes)
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self::full(bytes)
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Self::full(text)
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Self::full(text)
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Full(Some(bytes)) => write!(f, "Body::Full({} bytes)", bytes.len()),
            Inner::Full(None) => f.write_str("Body::Full(read)"),
            Inner::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match &mut self.get_mut().inner {
            Inner::Full(bytes) => match bytes.take() {
                Some(bytes) if !bytes.is_empty() => Poll::Ready(Some(Ok(Frame::data(bytes)))),
                _ => Poll::Ready(None),
            },
            Inner::Stream(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Full(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            Inner::Stream(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |bytes| bytes.len() as u64))
            }
            Inner::Stream(body) => body.size_hint(),
        }
    }
}

/// Why [`Body::collect_limited`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// The body is longer than the limit.
    #[error("body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Reading the body failed (the connection broke, or the stream yielded an error).
    #[error("reading the body failed")]
    Read(#[source] BodyError),
}
