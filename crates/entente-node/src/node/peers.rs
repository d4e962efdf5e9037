//! The node's side of its peers: one transport client per pinned peer (built whenever the
//! peer table is reloaded) and the signed federation calls made through it. The clients
//! themselves, and what they refuse, are `crate::transport`'s.

use super::{Node, Peer};
use crate::NodeError;
use crate::transport::{
    PeerClient, SignedGet, classify, is_loopback_url, peer_http_builder, read_json, status_error,
};
use entente_domain::PartnerCode;
use entente_wire as fed;
use serde::Serialize;
use std::collections::BTreeMap;

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
                let builder = peer_http_builder(
                    self.cfg.sync.request_timeout,
                    self.cfg.sync.pages_in_flight + 2,
                );
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

    /// A signed GET to a peer (signed twice, see [`SignedGet`]), ready to send (see [`read_json`]): built here, sent anywhere
    /// (sync keeps several pages in flight as tasks of their own).
    pub(crate) fn fed_get_request(
        &self,
        peer: &PartnerCode,
        path_and_query: &str,
    ) -> Result<SignedGet, NodeError> {
        let (http, base) = self.peer_client(peer)?;
        let url = format!("{base}{path_and_query}");
        let sign = || self.signed(http.get(&url), peer, "GET", path_and_query, b"");
        Ok(SignedGet {
            first: sign(),
            again: sign(),
        })
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
