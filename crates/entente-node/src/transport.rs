//! The federation client's transport: one HTTP client per pinned peer, each speaking TLS
//! (rustls, through reqwest) that accepts only a certificate bound to that peer's pinned node
//! key and presents this node's own identity as the client certificate (mutual TLS). What the
//! client refuses: plain `http://` peers (unless the node runs in development mode and the
//! peer is on loopback), redirects (never followed), proxies from the environment (never
//! used), answers over [`MAX_PEER_RESPONSE`]. Failures are reported as a stable code and a
//! sentence this node wrote, never a peer's response body.

use crate::NodeError;
use entente_domain::PartnerCode;
use std::sync::Arc;

/// The largest federation answer a node reads (a page is capped at 16 MiB by the sender).
pub const MAX_PEER_RESPONSE: usize = 64 * 1024 * 1024;

/// How this node reaches its peers (part of `NodeConfig`).
#[derive(Debug, Clone, Default)]
pub struct Transport {
    /// This node's TLS identity (its certificate bound to the node key), presented to peers
    /// as the client certificate. None: this node cannot dial `https://` peers.
    pub identity: Option<Arc<entente_tls::Identity>>,
    /// CA mode: peers whose certificate chains to one of these (for the host name dialled)
    /// are accepted besides pinned bindings. The node key stays pinned at the application
    /// layer (signed requests, signed entries).
    pub peer_ca: Option<Arc<rustls::RootCertStore>>,
    /// Development only: dial plain `http://` peers on loopback addresses.
    pub allow_plain_loopback: bool,
}

/// A peer's client, or why there is none.
#[derive(Debug, Clone)]
pub(crate) enum PeerClient {
    Ready { http: reqwest::Client, base: String },
    Refused { code: &'static str, reason: String },
}

/// Whether a URL's host is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = u.host_str() else {
        return false;
    };
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// Check a peer URL before it is pinned: `https://`, or `http://` on loopback.
pub fn check_peer_url(url: &str) -> Result<(), &'static str> {
    let Ok(u) = reqwest::Url::parse(url) else {
        return Err("not a URL");
    };
    if u.host().is_none() {
        return Err("a URL with a host");
    }
    match u.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_url(url) => Ok(()),
        "http" => {
            Err("an https:// URL (plain http:// is accepted only on loopback, for development)")
        }
        _ => Err("an https:// URL"),
    }
}

/// The error for a failed call, classified: the TLS pin, the handshake, the connection.
pub(crate) fn classify(peer: &PartnerCode, e: &reqwest::Error) -> NodeError {
    let (code, reason) = classify_chain(e);
    let (code, reason) = match code {
        Some(c) => (c, reason),
        None if e.is_timeout() => ("timeout", "the peer did not answer in time".into()),
        None if e.is_connect() => (
            "connect_failed",
            "could not connect (address, port or firewall?)".into(),
        ),
        None => ("request_failed", "the request failed".into()),
    };
    NodeError::Peer {
        peer: peer.to_string(),
        code,
        reason,
    }
}

/// Walk an error's sources for a rustls error (io::Error hides its inner error from
/// `source()`, so look inside those too).
fn classify_chain(e: &(dyn std::error::Error + 'static)) -> (Option<&'static str>, String) {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let tls = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(t) = tls {
            return match t {
                rustls::Error::InvalidCertificate(rustls::CertificateError::Other(o))
                    if o.0.downcast_ref::<entente_tls::PinMismatch>().is_some() =>
                {
                    (
                        Some("tls_pin_mismatch"),
                        format!(
                            "the peer's TLS certificate is not bound to its pinned key: {}",
                            o.0
                        ),
                    )
                }
                rustls::Error::AlertReceived(a) => (
                    Some("tls_handshake"),
                    format!(
                        "the peer refused the TLS handshake ({a:?}): has it pinned this node's key?"
                    ),
                ),
                other => (
                    Some("tls_handshake"),
                    format!("TLS handshake failed: {other}"),
                ),
            };
        }
        cur = err.source().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|inner| inner as &(dyn std::error::Error + 'static))
        });
    }
    (None, String::new())
}

/// A peer's answer with a non-2xx status: its status and, if the body is the API's error
/// shape, its code (snake_case, bounded); nothing else of the body.
pub(crate) async fn status_error(
    peer: &PartnerCode,
    what: &str,
    mut resp: reqwest::Response,
) -> NodeError {
    let status = resp.status();
    // Only the error's code is read, from at most 64 KiB: a peer's error body is not trusted
    // with memory.
    let mut body = Vec::new();
    while let Ok(Some(c)) = resp.chunk().await {
        if body.len() + c.len() > 64 << 10 {
            body.clear();
            break;
        }
        body.extend_from_slice(&c);
    }
    let code = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .filter(|c| c.len() <= 40 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    NodeError::Peer {
        peer: peer.to_string(),
        code: "http_status",
        reason: match code {
            Some(c) => format!("{what}: HTTP {} ({c})", status.as_u16()),
            None => format!("{what}: HTTP {}", status.as_u16()),
        },
    }
}

/// How long a connection to a peer may sit idle in the pool before it is dropped rather than
/// reused. A node's server closes a connection idle for its header read timeout (hyper starts
/// that timer as soon as a response is written; 10 s by default, and the sync interval is 10 s
/// too), so a pooled connection kept longer is reused just as the peer closes it and the
/// request fails. Staying well below the peer's limit avoids that race in the common case;
/// A GET lost anyway (a peer configured with a shorter limit) is sent once more.
pub const PEER_POOL_IDLE: std::time::Duration = std::time::Duration::from_secs(4);

/// The HTTP client settings every peer client shares (TLS is added by the caller).
pub(crate) fn peer_http_builder(
    request_timeout: std::time::Duration,
    idle_per_host: usize,
) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(request_timeout)
        .connect_timeout(std::time::Duration::from_secs(10))
        .pool_max_idle_per_host(idle_per_host)
        .pool_idle_timeout(PEER_POOL_IDLE)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .http1_only()
}

/// A signed GET to a peer, signed twice with different nonces: the second is sent only when
/// the first failed on a connection the peer had already closed (a retry with the first's
/// nonce would be refused as a replay if the peer did read it).
pub(crate) struct SignedGet {
    pub(crate) first: reqwest::RequestBuilder,
    pub(crate) again: reqwest::RequestBuilder,
}

/// Whether a failed send is worth one more try on a fresh connection: not a timeout (that
/// would double the wait), not a failed connect or TLS handshake (a fresh connection is what
/// failed), but a request lost on a pooled connection the peer closed (hyper's "connection
/// closed before message completed", a reset, a broken pipe).
fn lost_on_closed_connection(e: &reqwest::Error) -> bool {
    !e.is_timeout() && !e.is_connect() && !e.is_status() && classify_chain(e).0.is_none()
}

/// Send a signed GET; once more, freshly signed, if it was lost on a connection the peer had
/// closed. GETs change nothing at the peer, so a second send is harmless.
async fn send_get(peer: &PartnerCode, get: SignedGet) -> Result<reqwest::Response, NodeError> {
    match get.first.send().await {
        Ok(resp) => Ok(resp),
        Err(e) if lost_on_closed_connection(&e) => {
            tracing::debug!(%peer, error = %e, "request lost on a closed connection; sent again");
            get.again.send().await.map_err(|e| classify(peer, &e))
        }
        Err(e) => Err(classify(peer, &e)),
    }
}

/// Send a signed GET and read its JSON answer, at most [`MAX_PEER_RESPONSE`] bytes (a hostile
/// or broken peer cannot exhaust memory).
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    peer: PartnerCode,
    path_and_query: String,
    req: SignedGet,
) -> Result<T, NodeError> {
    let mut resp = send_get(&peer, req).await?;
    if !resp.status().is_success() {
        let what = path_and_query.split('?').next().unwrap_or_default();
        return Err(status_error(&peer, what, resp).await);
    }
    // Sized from the announced length instead of doubling as chunks come (a page of several MB
    // was copied about twice over), but at most 8 MiB up front: a peer's header alone is not
    // trusted with memory, and a larger answer grows as its bytes arrive.
    let announced = resp.content_length().unwrap_or(0) as usize;
    let mut body = Vec::with_capacity(announced.min(8 << 20));
    while let Some(chunk) = resp.chunk().await.map_err(|e| classify(&peer, &e))? {
        if body.len() + chunk.len() > MAX_PEER_RESPONSE {
            return Err(NodeError::Peer {
                peer: peer.to_string(),
                code: "oversize",
                reason: format!("response larger than {MAX_PEER_RESPONSE} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice::<T>(&body).map_err(|e| NodeError::Peer {
        peer: peer.to_string(),
        code: "bad_response",
        reason: format!(
            "the answer is not the expected JSON ({})",
            e.classify_name()
        ),
    })
}

/// Read a peer's answer of exactly `want` bytes (a chunk of an attachment); anything else is
/// refused without reading past `want`.
pub(crate) async fn read_bytes(
    peer: PartnerCode,
    path: &str,
    req: SignedGet,
    want: usize,
) -> Result<Vec<u8>, NodeError> {
    let mut resp = send_get(&peer, req).await?;
    if !resp.status().is_success() {
        let what = path.split('?').next().unwrap_or_default();
        return Err(status_error(&peer, what, resp).await);
    }
    let wrong = |got: &str| NodeError::Peer {
        peer: peer.to_string(),
        code: "bad_response",
        reason: format!("a chunk of {want} bytes was due, {got} came"),
    };
    let mut body = Vec::with_capacity(want);
    while let Some(chunk) = resp.chunk().await.map_err(|e| classify(&peer, &e))? {
        if body.len() + chunk.len() > want {
            return Err(wrong("more"));
        }
        body.extend_from_slice(&chunk);
    }
    if body.len() != want {
        return Err(wrong(&body.len().to_string()));
    }
    Ok(body)
}

/// A short name for a JSON error's category, without echoing the peer's bytes.
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "unexpected shape",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_urls_must_be_https_unless_on_loopback() {
        assert!(check_peer_url("https://entente.jp.example").is_ok());
        assert!(check_peer_url("https://198.51.100.7:7401").is_ok());
        assert!(check_peer_url("http://127.0.0.1:7401").is_ok());
        assert!(check_peer_url("http://[::1]:7401").is_ok());
        assert!(check_peer_url("http://localhost:7401").is_ok());
        assert!(check_peer_url("http://198.51.100.7:7401").is_err());
        assert!(check_peer_url("http://entente.jp.example").is_err());
        assert!(check_peer_url("http://127.0.0.1.example.org").is_err());
        assert!(check_peer_url("ftp://127.0.0.1").is_err());
        assert!(check_peer_url("https://").is_err());
    }

    /// A peer that answers one request on a connection, then reads the next request sent on it
    /// and closes the connection without answering: what a pooled connection does when the
    /// peer's idle limit ends just as it is reused. Later connections are answered normally.
    async fn peer_closing_reused_connections() -> (String, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 << 10];
                    let mut head = Vec::new();
                    // The first request on this connection: read its head, answer it.
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 4\r\n\r\n[42]";
                    if conn.write_all(answer).await.is_err() {
                        return;
                    }
                    // The next request on it is read and dropped with the connection.
                    let _ = conn.read(&mut buf).await;
                });
            }
        });
        (base, server)
    }

    /// Regression: a GET sent on a pooled connection the peer closed failed the whole sync
    /// (`request_failed`, seen in CI when the sync interval and the peer's idle limit were
    /// both 10 s). It is now sent again, freshly signed, on a new connection.
    #[tokio::test]
    async fn a_get_lost_on_a_connection_the_peer_closed_is_sent_again() {
        let (base, server) = peer_closing_reused_connections().await;
        // Built as the node builds a plain loopback peer's client.
        let http = peer_http_builder(std::time::Duration::from_secs(10), 4)
            .tls_backend_preconfigured(entente_tls::client_trusting(&[]).unwrap())
            .build()
            .unwrap();
        let peer = PartnerCode::parse("NATO").unwrap();
        let url = format!("{base}/federation/v1/x");
        let get = || SignedGet {
            first: http.get(&url).header("x-try", "first"),
            again: http.get(&url).header("x-try", "again"),
        };
        // The first GET opens the connection that the pool keeps; the second is sent on it,
        // and the peer closes it unanswered.
        let one: Vec<u32> = read_json(peer.clone(), "/x".into(), get()).await.unwrap();
        assert_eq!(one, [42]);
        let two: Vec<u32> = read_json(peer.clone(), "/x".into(), get())
            .await
            .expect("a GET lost on a closed pooled connection is sent again");
        assert_eq!(two, [42]);
        // Without the second send the same call fails, which is what this guards against.
        let lost = send_get_once(&peer, http.get(&url)).await;
        assert!(
            matches!(
                &lost,
                Err(NodeError::Peer {
                    code: "request_failed",
                    ..
                })
            ),
            "the peer must really close a reused connection: {lost:?}"
        );
        server.abort();
    }

    /// One send, no second try (the behaviour before the fix), for the check above.
    async fn send_get_once(
        peer: &PartnerCode,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, NodeError> {
        req.send().await.map_err(|e| classify(peer, &e))
    }

    #[test]
    fn peer_connections_are_dropped_well_before_a_peers_default_idle_limit() {
        // A node's default header read timeout (its idle limit) and sync interval are 10 s.
        assert!(PEER_POOL_IDLE <= std::time::Duration::from_secs(5));
    }
}
