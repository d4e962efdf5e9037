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

/// Send a signed GET and read its JSON answer, at most [`MAX_PEER_RESPONSE`] bytes (a hostile
/// or broken peer cannot exhaust memory).
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    peer: PartnerCode,
    path_and_query: String,
    req: reqwest::RequestBuilder,
) -> Result<T, NodeError> {
    let mut resp = req.send().await.map_err(|e| classify(&peer, &e))?;
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
    req: reqwest::RequestBuilder,
    want: usize,
) -> Result<Vec<u8>, NodeError> {
    let mut resp = req.send().await.map_err(|e| classify(&peer, &e))?;
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
}
