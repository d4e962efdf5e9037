//! The federation client's transport: one HTTP client per pinned peer, each speaking TLS
//! (rustls, through reqwest) that accepts only a certificate bound to that peer's pinned node
//! key and presents this node's own identity as the client certificate (mutual TLS). What the
//! client refuses: plain `http://` peers (unless the node runs in development mode and the
//! peer is on loopback), redirects (never followed), proxies from the environment (never
//! used), answers over [`MAX_PEER_RESPONSE`]. Failures are reported as a stable code and a
//! sentence this node wrote, never a peer's response body.

use crate::NodeError;
use crate::fed;
use crate::node::{Node, Peer};
use entente_domain::PartnerCode;
use serde::Serialize;
use std::collections::BTreeMap;
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
fn classify(peer: &PartnerCode, e: &reqwest::Error) -> NodeError {
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
async fn status_error(peer: &PartnerCode, what: &str, resp: reqwest::Response) -> NodeError {
    let status = resp.status();
    let code = resp
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
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

impl Node {
    /// One client per peer with a URL (called whenever the peer table is reloaded).
    pub(crate) fn build_peer_clients(
        &self,
        peers: &BTreeMap<PartnerCode, Peer>,
    ) -> BTreeMap<PartnerCode, PeerClient> {
        let t = &self.cfg.transport;
        peers
            .iter()
            .filter_map(|(p, peer)| {
                // Suspended and removed peers get no client: nothing is sent to them.
                if peer.record.state != "active" {
                    return None;
                }
                let url = peer.record.url.as_ref()?;
                let refused = |code, reason: &str| PeerClient::Refused {
                    code,
                    reason: reason.to_owned(),
                };
                let builder = reqwest::Client::builder()
                    .timeout(self.cfg.sync.request_timeout)
                    .connect_timeout(std::time::Duration::from_secs(10))
                    .pool_max_idle_per_host(self.cfg.sync.pages_in_flight + 2)
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .http1_only();
                let client = if url.starts_with("https://") {
                    match &t.identity {
                        None => refused(
                            "tls_not_configured",
                            "this node has no TLS identity to dial https:// peers",
                        ),
                        Some(id) => match entente_tls::client_config(
                            id,
                            p.as_str(),
                            peer.key,
                            t.peer_ca.clone(),
                            entente_tls::provider(),
                        ) {
                            Ok(cfg) => match builder.tls_backend_preconfigured(cfg).build() {
                                Ok(http) => PeerClient::Ready {
                                    http,
                                    base: url.clone(),
                                },
                                Err(e) => refused("tls_config", &e.to_string()),
                            },
                            Err(e) => refused("tls_config", &e.to_string()),
                        },
                    }
                } else if url.starts_with("http://") && is_loopback_url(url) && t.allow_plain_loopback
                {
                    // reqwest wants a TLS configuration even for a client that only speaks
                    // plain HTTP; this one trusts nothing.
                    let plain = entente_tls::client_trusting(&[])
                        .map(|cfg| builder.tls_backend_preconfigured(cfg).build());
                    match plain {
                        Ok(Ok(http)) => PeerClient::Ready {
                            http,
                            base: url.clone(),
                        },
                        Ok(Err(e)) => refused("client_config", &e.to_string()),
                        Err(e) => refused("client_config", &e.to_string()),
                    }
                } else {
                    refused(
                        "plain_http_refused",
                        "plain http:// is refused: use https:// (http:// only on loopback in development mode)",
                    )
                };
                Some((p.clone(), client))
            })
            .collect()
    }

    /// Reload the pinned peers if the store's differ from those loaded (a peer pinned or
    /// accepted by `entente peer accept` while the node serves). Run on every sync tick, so a
    /// new partner is federated with within one interval. Returns whether anything changed.
    pub async fn refresh_peers(&self) -> Result<bool, NodeError> {
        let stored = self.store.peers().await?;
        let same = {
            let cur = self.peers.read().unwrap_or_else(|e| e.into_inner());
            stored.len() == cur.len()
                && stored.iter().all(|r| {
                    cur.get(&r.partner).is_some_and(|p| {
                        p.record.url == r.url && p.record.public_key == r.public_key
                    })
                })
        };
        if !same {
            self.reload_peers().await?;
        }
        Ok(!same)
    }

    fn peer_client(&self, peer: &PartnerCode) -> Result<(reqwest::Client, String), NodeError> {
        match self
            .peer_clients
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(peer)
        {
            Some(PeerClient::Ready { http, base }) => Ok((http.clone(), base.clone())),
            Some(PeerClient::Refused { code, reason }) => Err(NodeError::Peer {
                peer: peer.to_string(),
                code,
                reason: reason.clone(),
            }),
            None => Err(NodeError::NotFound("peer url")),
        }
    }

    fn signed(
        &self,
        req: reqwest::RequestBuilder,
        peer: &PartnerCode,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> reqwest::RequestBuilder {
        let now = self.clock.now().unix_timestamp();
        let headers = fed::sign_request(
            &self.key,
            self.partner(),
            peer,
            method,
            path_and_query,
            body,
            now,
            &fed::new_nonce(),
        );
        headers.into_iter().fold(req, |r, (k, v)| r.header(k, v))
    }

    /// A signed GET to a peer; the JSON answer, read up to [`MAX_PEER_RESPONSE`] bytes.
    pub(crate) async fn fed_get<T: serde::de::DeserializeOwned>(
        &self,
        peer: &PartnerCode,
        path_and_query: &str,
    ) -> Result<T, NodeError> {
        let req = self.fed_get_request(peer, path_and_query)?;
        let r = read_json(peer.clone(), path_and_query.to_owned(), req).await;
        if let Err(NodeError::Peer {
            code: "oversize", ..
        }) = &r
        {
            self.metrics.reject("oversize");
        }
        r
    }

    /// A signed GET to a peer, ready to send (see [`read_json`]): built here, sent anywhere
    /// (sync keeps several pages in flight as tasks of their own).
    pub(crate) fn fed_get_request(
        &self,
        peer: &PartnerCode,
        path_and_query: &str,
    ) -> Result<reqwest::RequestBuilder, NodeError> {
        let (http, base) = self.peer_client(peer)?;
        Ok(self.signed(
            http.get(format!("{base}{path_and_query}")),
            peer,
            "GET",
            path_and_query,
            b"",
        ))
    }

    /// POST a JSON body as a signed federation request; Ok on any 2xx.
    pub(crate) async fn fed_post<T: Serialize>(
        &self,
        peer: &PartnerCode,
        path: &str,
        value: &T,
    ) -> Result<(), NodeError> {
        let (http, base) = self.peer_client(peer)?;
        let body = serde_json::to_vec(value).map_err(|e| NodeError::Internal(e.to_string()))?;
        let req = self.signed(
            http.post(format!("{base}{path}"))
                .header("content-type", "application/json"),
            peer,
            "POST",
            path,
            &body,
        );
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| classify(peer, &e))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(status_error(peer, path, resp).await)
        }
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
    let mut body = Vec::new();
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
