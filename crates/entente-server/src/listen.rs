//! The listener: one accept loop over hyper's HTTP/1.1 connections, TLS by tokio-rustls
//! (the configuration chosen per connection from the ClientHello's ALPN, so only federation
//! clients are asked for a certificate), and the limits that keep one client from taking the
//! node: connection caps in total and per client address, a TLS handshake and header read
//! timeout, a deadline for reading a request body, and a back-off when `accept` fails (out of
//! file descriptors). Graceful shutdown: stop accepting, let requests in progress finish.

use anyhow::Result;
use entente_node::Node;
use entente_node::fed::Channel;
use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Connection limits of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// How long a client may take to send a request's headers (first request or the next one on
    /// a kept-alive connection) before the connection is closed: a slow-loris client holding
    /// connections open without finishing a request costs one timer, not the node's capacity.
    /// Also the bound on a TLS handshake.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body, from the end of its headers.
    pub body_read_timeout: Duration,
    /// Connections served at once; more are closed on arrival.
    pub max_connections: usize,
    /// Connections served at once per client address.
    pub max_connections_per_client: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_connections_per_client: 512,
        }
    }
}

/// Open connections per client address; a slot is given back when its connection ends.
#[derive(Debug, Default)]
struct PerClient(Mutex<HashMap<IpAddr, usize>>);

struct Slot(Arc<PerClient>, IpAddr);

impl PerClient {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot(self.clone(), ip))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// A request body that must be read within a deadline from the end of the headers.
/// tower-http's body timeout restarts with every frame, so a client sending one byte every few
/// seconds would never hit it; this one does not restart.
///
/// When the application drops the body unread (it refused the request: 413 over the size
/// limit, 401, 415), the body goes back to the connection through `give_back`, which reads and
/// discards the rest before the answer is sent. Most HTTP/1.1 clients send the whole body before
/// they read the answer; closing with the body unread would make them see a reset (over TLS an
/// `EOF in violation of protocol`) instead of the clear error. nginx calls this lingering close.
struct DeadlineBody {
    inner: Option<hyper::body::Incoming>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    give_back: Option<tokio::sync::oneshot::Sender<Unread>>,
}

/// A request body the application did not finish reading, with its deadline.
struct Unread {
    body: hyper::body::Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

/// At most this much of a refused request body is read and discarded before its answer; a
/// larger one ends with the connection closed (still within the body deadline).
const MAX_DISCARD_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("the request body was not received in time")]
struct BodyTimeout;

impl http_body::Body for DeadlineBody {
    type Data = <hyper::body::Incoming as http_body::Body>::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        match self.inner.as_mut() {
            Some(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner
            .as_ref()
            .map(http_body::Body::size_hint)
            .unwrap_or_else(|| http_body::SizeHint::with_exact(0))
    }
}

impl Drop for DeadlineBody {
    fn drop(&mut self) {
        let (Some(body), Some(tx)) = (self.inner.take(), self.give_back.take()) else {
            return;
        };
        if http_body::Body::is_end_stream(&body) {
            return;
        }
        let deadline = std::mem::replace(
            &mut self.deadline,
            Box::pin(tokio::time::sleep(Duration::ZERO)),
        );
        let _ = tx.send(Unread { body, deadline });
    }
}

/// Read and discard what is left of a refused request body, bounded by its deadline and
/// [`MAX_DISCARD_BYTES`].
async fn discard(unread: Unread) {
    use http_body::Body;
    let Unread { mut body, deadline } = unread;
    let drain = async {
        let mut read = 0u64;
        while let Some(Ok(frame)) =
            std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Some(data) = frame.data_ref() {
                read += data.len() as u64;
                if read > MAX_DISCARD_BYTES {
                    return;
                }
            }
        }
    };
    tokio::select! {
        () = drain => {}
        () = deadline => {}
    }
}

use std::future::Future;

/// Serve `node` on an already bound listener until `shutdown` resolves; over TLS when `tls`
/// is given.
pub async fn serve_with(
    node: Arc<Node>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: HttpLimits,
    tls: Option<entente_tls::ServerTls>,
) -> Result<()> {
    let app = entente_api::router_with(node.clone(), entente_web::router(node.clone()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let total = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let per_client = Arc::new(PerClient::default());
    let mut last_accept_log: Option<Instant> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the connections we
                    // have, and wait before trying again instead of spinning on the error
                    // (which would burn a core and flood the log). One log line a second.
                    node.sync_counters()
                        .accept_errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if last_accept_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        tracing::warn!(error = %e, "accept failed; backing off");
                        last_accept_log = Some(Instant::now());
                    }
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let counters = node.clone();
        let refuse = move |reason| counters.sync_counters().connection_refused(reason);
        let Ok(permit) = total.clone().try_acquire_owned() else {
            refuse("total_cap");
            continue;
        };
        let Some(slot) = per_client.take(peer.ip(), limits.max_connections_per_client) else {
            refuse("client_cap");
            continue;
        };
        // Small answers (acknowledgements, push notices) go out at once, not after a delayed ACK.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        let node = node.clone();
        tokio::spawn(async move {
            let _held = (permit, slot);
            match tls {
                None => {
                    serve_conn(
                        &node,
                        stream,
                        peer.ip(),
                        Channel::Plain,
                        app,
                        watcher,
                        limits,
                    )
                    .await
                }
                Some(tls) => {
                    let handshake = async {
                        let start = tokio_rustls::LazyConfigAcceptor::new(
                            rustls::server::Acceptor::default(),
                            stream,
                        )
                        .await?;
                        let cfg = tls.for_alpn(start.client_hello().alpn().into_iter().flatten());
                        start.into_stream(cfg).await
                    };
                    match tokio::time::timeout(limits.header_read_timeout, handshake).await {
                        Ok(Ok(s)) => {
                            let client = s
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(entente_tls::client_partner);
                            serve_conn(
                                &node,
                                s,
                                peer.ip(),
                                Channel::Tls { client },
                                app,
                                watcher,
                                limits,
                            )
                            .await
                        }
                        Ok(Err(e)) => {
                            refuse("tls_handshake");
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => refuse("tls_timeout"),
                    }
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

async fn serve_conn<S>(
    node: &Arc<Node>,
    stream: S,
    client: std::net::IpAddr,
    channel: Channel,
    app: axum::Router,
    watcher: hyper_util::server::graceful::Watcher,
    limits: HttpLimits,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;
    let body_timeout = limits.body_read_timeout;
    let tls = matches!(channel, Channel::Tls { .. });
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let (give_back, unread) = tokio::sync::oneshot::channel();
        let mut req = req.map(|inner| DeadlineBody {
            inner: Some(inner),
            deadline: Box::pin(tokio::time::sleep(body_timeout)),
            give_back: Some(give_back),
        });
        req.extensions_mut().insert(channel.clone());
        req.extensions_mut()
            .insert(entente_node::auth::ClientAddr(client));
        let answer = app.clone().oneshot(req);
        async move {
            let mut resp = answer.await?;
            let mut unread = unread;
            if let Ok(rest) = unread.try_recv() {
                discard(rest).await;
            }
            if tls {
                // Browsers that reached the node over TLS keep to it (a year).
                resp.headers_mut().insert(
                    axum::http::header::STRICT_TRANSPORT_SECURITY,
                    axum::http::HeaderValue::from_static("max-age=31536000"),
                );
            }
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = watcher.watch(conn).await {
        if e.is_timeout() {
            // A client that holds a connection without finishing its request.
            node.sync_counters()
                .header_timeouts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        tracing::debug!(error = %e, "connection closed with an error");
    }
}
