//! Accepting and serving connections within [`ConnectionLimits`]: a cap on connections
//! served at once, header-read, idle and request-body timeouts, and a shutdown that ends
//! within its deadline whatever clients do.
//!
//! Each accepted socket is served by hyper's HTTP/1.1 connection on a task of its own. The
//! socket is wrapped so that every byte read or written marks the connection active, and the
//! service counts the requests in flight; a watchdog closes a connection that has neither for
//! [`ConnectionLimits::idle_timeout`]. hyper's header-read timer bounds a request head (and, on
//! HTTP/1.1, the wait for the next request). Request bodies are wrapped in
//! [`tower_http::timeout::TimeoutBody`], which fails a body that delivers nothing for
//! [`ConnectionLimits::body_read_timeout`]; handlers answer that with 408.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::config::ConnectionLimits;

/// What is written to a connection beyond [`ConnectionLimits::max_connections`] before it
/// is closed.
const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 112\r\n\r\n\
{\"errors\":[{\"title\":\"server busy\",\"source\":\"server\",\"detail\":\"too many connections; retry later\",\"status\":503}]}";

/// How many over-the-limit connections are answered at once; beyond that they are closed
/// without an answer.
const MAX_BUSY_ANSWERS: usize = 64;

/// How long an over-the-limit connection is given to take its 503.
const BUSY_ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

/// How long the accept loop pauses after a failed accept (e.g. out of descriptors), so that
/// it does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The stop signals of a listening server.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stop {
    /// Stop accepting; let requests in flight finish.
    pub(crate) graceful: CancellationToken,
    /// Close every connection now.
    pub(crate) now: CancellationToken,
}

/// Accepts connections on `listener` and serves them with `app` until `stop.graceful`; the
/// connection tasks are tracked by `tracker`.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: axum::Router,
    limits: ConnectionLimits,
    stop: Stop,
    tracker: TaskTracker,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let busy_answers = Arc::new(Semaphore::new(MAX_BUSY_ANSWERS));
    loop {
        let accepted = tokio::select! {
            () = stop.graceful.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::select! {
                    () = stop.graceful.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        // Responses go out in one write; without TCP_NODELAY a small one that follows
        // another on a keep-alive connection can wait for the client's delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let connection = serve_connection(tcp, peer, app.clone(), limits, stop.clone());
                tracker.spawn(async move {
                    connection.await;
                    drop::<OwnedSemaphorePermit>(permit);
                });
            }
            Err(_) => {
                tracing::debug!(%peer, "connection limit reached; answering 503");
                if let Ok(answer) = busy_answers.clone().try_acquire_owned() {
                    tracker.spawn(answer_busy(tcp, answer));
                }
            }
        }
    }
}

/// Tells a connection over the limit to come back later, within a bounded time.
async fn answer_busy(mut tcp: TcpStream, _answer: OwnedSemaphorePermit) {
    let _ = tokio::time::timeout(BUSY_ANSWER_TIMEOUT, async {
        tcp.write_all(BUSY_RESPONSE).await?;
        tcp.shutdown().await
    })
    .await;
}

/// Serves one connection until it ends, idles out, or the server stops.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    app: axum::Router,
    limits: ConnectionLimits,
    stop: Stop,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(ActiveIo {
        inner: tcp,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let busy = activity.request_started();
            let app = app.clone();
            let mut request = request.map(|body| {
                axum::body::Body::new(tower_http::timeout::TimeoutBody::new(
                    limits.body_read_timeout,
                    body,
                ))
            });
            request.extensions_mut().insert(ConnectInfo(peer));
            async move {
                let response = app.oneshot(request).await;
                drop(busy);
                response
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let check_every =
        (limits.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut ticks = tokio::time::interval(check_every);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = stop.graceful.cancelled(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            () = stop.now.cancelled() => return,
            _ = ticks.tick() => {
                if activity.idle_for() >= limits.idle_timeout {
                    tracing::debug!(%peer, "closing an idle connection");
                    return;
                }
            }
        }
    }
}

/// When a connection last moved a byte, and how many of its requests are in flight.
#[derive(Debug)]
struct Activity {
    started: Instant,
    /// Milliseconds after `started` of the last byte read or written.
    last_io_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            last_io_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_io_ms.store(ms, Ordering::Relaxed);
    }

    /// How long the connection has been idle: zero while a request is in flight.
    fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_io_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// A request in flight; dropped when its response is ready (or the request is cancelled).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A socket that marks its connection active on every byte it moves.
struct ActiveIo {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for ActiveIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl AsyncWrite for ActiveIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Whether `error` (or one of its sources) says the process or system ran out of something:
/// descriptors, memory, disk space. Such failures are answered 503, not 500.
pub(crate) fn is_resource_exhaustion(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source()).any(|e| {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if matches!(
                io.kind(),
                io::ErrorKind::OutOfMemory | io::ErrorKind::StorageFull
            ) {
                return true;
            }
            let exhausted = [
                rustix::io::Errno::MFILE,
                rustix::io::Errno::NFILE,
                rustix::io::Errno::NOSPC,
                rustix::io::Errno::NOMEM,
            ];
            return io
                .raw_os_error()
                .is_some_and(|code| exhausted.iter().any(|e| e.raw_os_error() == code));
        }
        if let Some(sqlx) = e.downcast_ref::<sqlx::Error>() {
            return match sqlx {
                sqlx::Error::PoolTimedOut => true,
                // SQLite: 7 out of memory, 13 disk full, 14 cannot open (out of descriptors
                // shows as this); PostgreSQL class 53: insufficient resources.
                sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                    matches!(&*code, "7" | "13" | "14") || code.starts_with("53")
                }),
                _ => false,
            };
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_answer_is_one_well_formed_response() {
        let text = String::from_utf8_lossy(BUSY_RESPONSE);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|l| l.parse().ok())
            .unwrap_or_default();
        assert_eq!(length, body.len());
        assert!(serde_json::from_str::<serde_json::Value>(body.trim_end()).is_ok());
    }

    #[test]
    fn descriptor_exhaustion_is_recognised_through_sources() {
        let emfile = io::Error::from_raw_os_error(rustix::io::Errno::MFILE.raw_os_error());
        assert!(is_resource_exhaustion(&emfile));
        let wrapped = crate::ServerError::Io(emfile);
        assert!(is_resource_exhaustion(&wrapped));
        assert!(!is_resource_exhaustion(&io::Error::other("no")));
    }
}
