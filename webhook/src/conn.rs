//! The admission port's connections: TLS, HTTP/1.1 keep-alive, and the limits that keep
//! misbehaving clients from holding the server.
//!
//! - At most [`ConnectionLimits::max_connections`] connections are served at once. At the cap
//!   the server stops accepting: further connections wait in the kernel's listen backlog (and,
//!   once that is full, the kernel drops their SYNs, so clients retry) until a connection
//!   closes. They are not refused: the API server's request waits a little instead of failing.
//! - A client has [`ConnectionLimits::handshake_timeout`] to finish the TLS handshake.
//! - A request's headers must arrive within [`ConnectionLimits::header_timeout`] from its first
//!   byte; a new connection must start its first request within that time too.
//! - A keep-alive connection with no request in progress is closed after
//!   [`ConnectionLimits::idle_timeout`] (longer than the API server's own 90 s idle timeout by
//!   default, so that it is the client that closes idle connections: a request the client sends
//!   just as the server closes would fail).
//! - A body over [`ConnectionLimits::max_body`] is refused with 413 (the router's business:
//!   [`crate::AppState::with_max_body`]); a body that does not arrive within the review deadline
//!   gets 408 (see `api::handlers`).

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::body::Body;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpListener,
    sync::{Semaphore, mpsc, watch},
    time::{Instant, Sleep},
};
use tower::ServiceExt;
use tracing::{debug, warn};

use crate::tls::ReloadingTls;

/// Limits of the admission port's connections (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Time to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time to send a request's headers, from its first byte (or from the connection's start).
    pub header_timeout: Duration,
    /// Time a keep-alive connection may stay without a request.
    pub idle_timeout: Duration,
    /// Largest request body, in bytes.
    pub max_body: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_body: crate::api::MAX_BODY,
        }
    }
}

/// Resolves once the flag is set (or its sender is gone).
async fn signalled(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|set| *set).await;
}

/// Accepts TLS connections and serves HTTP/1.1 on each with `app` until `drain` is set, within
/// `limits`; then lets every connection finish its current request and waits for them, at most
/// `grace`.
pub async fn serve_connections(
    listener: TcpListener,
    tls: Arc<ReloadingTls>,
    app: axum::Router,
    drain: watch::Receiver<bool>,
    grace: Duration,
    limits: ConnectionLimits,
) {
    // Every connection task holds a sender; `recv` returns `None` once all are gone.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let stop = signalled(drain.clone());
    tokio::pin!(stop);
    loop {
        // At the cap, nothing is accepted until a connection closes.
        let slot = tokio::select! {
            () = &mut stop => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = tls.acceptor();
        let app = app.clone();
        let alive = alive_tx.clone();
        let drain = drain.clone();
        tokio::spawn(async move {
            let _alive = alive;
            let _slot = slot;
            let _ = tcp.set_nodelay(true);
            let stream =
                match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        debug!(%peer, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let activity = Arc::new(Activity::default());
            let io = Guarded::new(stream, Arc::clone(&activity), &limits);
            let service = service_fn(move |req: hyper::Request<Incoming>| {
                let busy = Busy::enter(&activity);
                let response = app.clone().oneshot(req.map(Body::new));
                async move {
                    let _busy = busy;
                    response.await
                }
            });
            // The header and idle timeouts are `Guarded`'s: hyper's own header timeout would
            // also run while a keep-alive connection waits for its next request.
            let conn = http1::Builder::new()
                .header_read_timeout(None)
                .keep_alive(true)
                .serve_connection(TokioIo::new(io), service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(error) = result {
                        debug!(%peer, %error, "connection ended with an error");
                    }
                }
                () = signalled(drain) => {
                    conn.as_mut().graceful_shutdown();
                    if let Err(error) = conn.await {
                        debug!(%peer, %error, "connection ended with an error while draining");
                    }
                }
            }
        });
    }
    drop(listener);
    drop(alive_tx);
    if tokio::time::timeout(grace, alive_rx.recv()).await.is_err() {
        warn!(
            grace_ms = grace.as_millis() as u64,
            "connections still open after the drain period; closing them"
        );
    }
}

/// Requests of one connection inside the service (from their headers to their response).
#[derive(Debug, Default)]
struct Activity {
    busy: AtomicUsize,
}

/// A request inside the service; counted until dropped.
#[derive(Debug)]
struct Busy(Arc<Activity>);

impl Busy {
    fn enter(activity: &Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(activity))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A new connection, waiting for its first request since then.
    New(Instant),
    /// A request is being answered (its headers have arrived).
    Busy,
    /// Waiting for the next request since then.
    Idle(Instant),
    /// The first bytes of a request arrived then; waiting for the rest of its headers.
    Head(Instant),
}

/// The connection's stream, with the header and idle timeouts: when one expires, reading fails
/// (header timeout) or ends (idle), and hyper closes the connection.
///
/// One timer per connection, moved lazily: it is only reset when it fires early or when the
/// deadline comes closer, so a busy keep-alive connection does not touch the timer wheel at
/// every request.
struct Guarded<IO> {
    io: IO,
    activity: Arc<Activity>,
    phase: Phase,
    timer: Pin<Box<Sleep>>,
    header_timeout: Duration,
    idle_timeout: Duration,
}

impl<IO> Guarded<IO> {
    fn new(io: IO, activity: Arc<Activity>, limits: &ConnectionLimits) -> Self {
        let now = Instant::now();
        Self {
            io,
            activity,
            phase: Phase::New(now),
            timer: Box::pin(tokio::time::sleep_until(now + limits.header_timeout)),
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
        }
    }

    /// Follows the service: busy while it answers a request, idle once it is done.
    fn observe(&mut self) {
        let busy = self.activity.busy.load(Ordering::Relaxed) > 0;
        match (busy, self.phase) {
            (true, _) => self.phase = Phase::Busy,
            (false, Phase::Busy) => self.phase = Phase::Idle(Instant::now()),
            (false, _) => {}
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Busy => None,
            Phase::New(since) | Phase::Head(since) => Some(since + self.header_timeout),
            Phase::Idle(since) => Some(since + self.idle_timeout),
        }
    }

    /// Whether the current phase's deadline has passed; otherwise the timer will wake the task.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            let Some(deadline) = self.deadline() else {
                return false;
            };
            if self.timer.deadline() > deadline {
                self.timer.as_mut().reset(deadline);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            if Instant::now() >= deadline {
                return true;
            }
            // Fired for an earlier phase's deadline: wait for this one.
            self.timer.as_mut().reset(deadline);
        }
    }

    /// Whether a write that cannot go out has waited past the current deadline.
    fn stalled(&mut self, cx: &mut Context<'_>) -> bool {
        self.observe();
        self.expired(cx)
    }

    /// What to answer a read that found nothing yet, once a deadline has passed.
    fn timeout(&self) -> Poll<io::Result<()>> {
        match self.phase {
            // An idle keep-alive connection ends as if the client had closed it.
            Phase::Idle(_) => Poll::Ready(Ok(())),
            _ => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request headers did not arrive in time",
            ))),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.observe();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before
                    && matches!(this.phase, Phase::New(_) | Phase::Idle(_))
                {
                    // A new request starts: its headers have `header_timeout` from now on.
                    this.phase = Phase::Head(Instant::now());
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending if this.expired(cx) => this.timeout(),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    // A client that does not read its responses is as good as idle: a write that cannot go
    // out fails once the idle deadline has passed.
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Pending if this.stalled(cx) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Pending if this.stalled(cx) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Pending if this.stalled(cx) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_keep_idle_connections_longer_than_the_api_server() {
        let limits = ConnectionLimits::default();
        assert!(limits.idle_timeout > Duration::from_secs(90));
        assert!(limits.header_timeout < limits.idle_timeout);
        assert_eq!(limits.max_body, 3 << 20);
    }
}
