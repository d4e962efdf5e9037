//! The federation wire protocol between nodes: its paths, its JSON shapes and the HTTP message
//! signature every federation request carries. It does no IO and knows no node, so the fuzz
//! target and any other client can speak the protocol with this crate alone.
//!
//! A request is signed with the caller's node key over
//! `entente-fed-v2\n{METHOD}\n{path?query}\n{target partner}\n{unix seconds}\n{nonce}\n{hex SHA-256(body)}`
//! and sent with the headers `entente-partner`, `entente-date`, `entente-nonce` and
//! `entente-signature`. Naming the target partner stops a request captured at one node being
//! replayed to another; the nonce (16 random bytes, hex), remembered by the receiver for as
//! long as the date is accepted, stops it being replayed to the same node
//! (`entente_node::replay`). The channel itself is mutual TLS pinned to the node keys
//! (`entente_node::transport`); the signature also authenticates requests that reach a node through
//! a TLS-terminating proxy.

use entente_domain::{Audience, PartnerCode};
use entente_log::{NodeKey, PublicKey, SignedEntry};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Why a federation request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerAuthError {
    #[error("missing or malformed federation headers")]
    Missing,
    #[error("no pinned key for partner {0}")]
    UnknownPeerKey(String),
    #[error("request date outside the accepted clock skew")]
    Stale,
    #[error("signature does not verify with the pinned key")]
    BadSignature,
    #[error("request already received (replayed)")]
    Replayed,
    #[error("the TLS client certificate does not name the partner that signed")]
    TlsIdentity,
}

impl PeerAuthError {
    /// The reason label counted in metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            PeerAuthError::Missing => "missing",
            PeerAuthError::UnknownPeerKey(_) => "unknown_peer",
            PeerAuthError::Stale => "stale",
            PeerAuthError::BadSignature => "bad_signature",
            PeerAuthError::Replayed => "replayed",
            PeerAuthError::TlsIdentity => "tls_identity",
        }
    }
}

pub const H_PARTNER: &str = "entente-partner";
pub const H_DATE: &str = "entente-date";
pub const H_SIGNATURE: &str = "entente-signature";
pub const H_NONCE: &str = "entente-nonce";

pub const PATH_LOGS: &str = "/fed/v1/logs";
pub const PATH_NOTIFY: &str = "/fed/v1/notify";
pub const PATH_CHECKPOINT: &str = "/fed/v1/checkpoint";
pub const PATH_COSIGN: &str = "/fed/v1/checkpoint/cosign";
pub const PATH_GOSSIP: &str = "/fed/v1/checkpoint/gossip";

/// The route of one chunk of an item's attachment (the serving node checks the caller is in
/// the item's audience). The chunk size is `entente_domain::attachment::CHUNK_BYTES`.
pub const ROUTE_ATTACHMENT_CHUNK: &str =
    "/fed/v1/items/{item_id}/attachments/{sha256}/chunks/{index}";

/// The path of chunk `index` of the file `sha256` attached to `item_id` (the id is
/// percent-encoded: a peer's item id is not trusted to be URL-safe).
pub fn attachment_chunk_path(item_id: &str, sha256: &str, index: u32) -> String {
    // Percent-encoding for a path: `byte_serialize` writes a space as `+`, which a path keeps.
    let id = form_urlencoded::byte_serialize(item_id.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!("/fed/v1/items/{id}/attachments/{sha256}/chunks/{index}")
}

pub fn entries_path(log_id: &str) -> String {
    format!("/fed/v1/logs/{log_id}/entries")
}

/// A log as advertised to a peer that is in its audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteLog {
    pub log_id: String,
    pub origin: PartnerCode,
    pub audience: Audience,
    pub head_seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsResponse {
    pub partner: PartnerCode,
    pub logs: Vec<RemoteLog>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntriesResponse {
    pub log_id: String,
    pub entries: Vec<SignedEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    pub log_id: String,
    pub head_seq: u64,
}

fn signing_string(
    method: &str,
    path_and_query: &str,
    target: &PartnerCode,
    date: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "entente-fed-v2\n{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path_and_query,
        target,
        date,
        nonce,
        hex::encode(Sha256::digest(body))
    )
}

/// A fresh request nonce: 16 random bytes, hex.
pub fn new_nonce() -> String {
    let mut b = [0u8; 16];
    // The OS random source failing is not something a request can recover from; a fixed
    // nonce would only make the receiver refuse the request as a replay.
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

/// The four header values for a signed federation request.
#[allow(clippy::too_many_arguments)]
pub fn sign_request(
    key: &NodeKey,
    me: &PartnerCode,
    target: &PartnerCode,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now_unix: i64,
    nonce: &str,
) -> [(&'static str, String); 4] {
    let s = signing_string(method, path_and_query, target, now_unix, nonce, body);
    [
        (H_PARTNER, me.to_string()),
        (H_DATE, now_unix.to_string()),
        (H_NONCE, nonce.to_owned()),
        (H_SIGNATURE, hex::encode(key.sign(s.as_bytes()))),
    ]
}

/// The headers of an incoming federation request, as the API extracted them.
#[derive(Debug, Clone, Default)]
pub struct SignedRequest<'a> {
    pub partner: Option<&'a str>,
    pub date: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub body: &'a [u8],
    /// How the request reached this node.
    pub channel: Channel,
}

/// The connection a request came over, as the listener saw it (put into each request's
/// extensions by the server; absent means [`Channel::Plain`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Channel {
    /// Plain HTTP: development on loopback, or behind a TLS-terminating proxy (CA mode).
    #[default]
    Plain,
    /// TLS; `client` is the partner the client certificate is bound to (verified against the
    /// pinned key during the handshake), if the client presented one.
    Tls { client: Option<String> },
}

/// A request whose signature verified: who sent it, and the (date, nonce) the receiver must
/// not accept again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    pub partner: PartnerCode,
    pub date: i64,
    pub nonce: [u8; 16],
}

/// Check an incoming request's signature. `key_of` looks up the caller's pinned key. The
/// caller still has to check the nonce against its replay cache.
pub fn verify_request(
    req: &SignedRequest<'_>,
    me: &PartnerCode,
    now_unix: i64,
    max_skew: Duration,
    key_of: impl Fn(&PartnerCode) -> Option<PublicKey>,
) -> Result<VerifiedRequest, PeerAuthError> {
    let (Some(p), Some(d), Some(n), Some(s)) = (req.partner, req.date, req.nonce, req.signature)
    else {
        return Err(PeerAuthError::Missing);
    };
    let partner = PartnerCode::parse(p).map_err(|_| PeerAuthError::Missing)?;
    let date: i64 = d.parse().map_err(|_| PeerAuthError::Missing)?;
    // Exactly 32 lowercase hex digits, so one nonce has one spelling.
    let nonce: [u8; 16] = (n.len() == 32
        && n.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    .then(|| hex::decode(n).ok())
    .flatten()
    .and_then(|b| b.try_into().ok())
    .ok_or(PeerAuthError::Missing)?;
    let sig: [u8; 64] = hex::decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(PeerAuthError::Missing)?;
    // The date before the key: an unknown partner and a pinned one get the same answers
    // (the API answers an unknown key as a bad signature, L6).
    if (now_unix - date).unsigned_abs() > max_skew.as_secs() {
        return Err(PeerAuthError::Stale);
    }
    let key = key_of(&partner).ok_or_else(|| PeerAuthError::UnknownPeerKey(partner.to_string()))?;
    let msg = signing_string(req.method, req.path_and_query, me, date, n, req.body);
    if key.verify(msg.as_bytes(), &sig) {
        Ok(VerifiedRequest {
            partner,
            date,
            nonce,
        })
    } else {
        Err(PeerAuthError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entente_domain::partner::code;

    #[test]
    fn signatures_bind_method_path_target_date_and_body() {
        let k = NodeKey::generate().unwrap();
        let pk = k.public();
        let hs = sign_request(
            &k,
            &code("EU"),
            &code("JPN"),
            "GET",
            "/fed/v1/logs",
            b"",
            1000,
            &new_nonce(),
        );
        let req = |method, path, body: &'static [u8]| SignedRequest {
            partner: Some(&hs[0].1),
            date: Some(&hs[1].1),
            nonce: Some(&hs[2].1),
            signature: Some(&hs[3].1),
            method,
            path_and_query: path,
            body,
            channel: Channel::Plain,
        };
        let skew = Duration::from_secs(300);
        let keys = |p: &PartnerCode| (p == &code("EU")).then_some(pk);
        assert_eq!(
            verify_request(
                &req("GET", "/fed/v1/logs", b""),
                &code("JPN"),
                1000,
                skew,
                keys
            )
            .map(|v| v.partner),
            Ok(code("EU"))
        );
        // Another nonce under the same signature does not verify.
        let other = new_nonce();
        assert_eq!(
            verify_request(
                &SignedRequest {
                    nonce: Some(&other),
                    ..req("GET", "/fed/v1/logs", b"")
                },
                &code("JPN"),
                1000,
                skew,
                keys
            ),
            Err(PeerAuthError::BadSignature)
        );
        assert_eq!(
            verify_request(
                &req("GET", "/fed/v1/logs", b""),
                &code("NATO"),
                1000,
                skew,
                keys
            ),
            Err(PeerAuthError::BadSignature)
        );
        assert_eq!(
            verify_request(
                &req("POST", "/fed/v1/logs", b""),
                &code("JPN"),
                1000,
                skew,
                keys
            ),
            Err(PeerAuthError::BadSignature)
        );
        assert_eq!(
            verify_request(
                &req("GET", "/fed/v1/logs?x", b""),
                &code("JPN"),
                1000,
                skew,
                keys
            ),
            Err(PeerAuthError::BadSignature)
        );
        assert_eq!(
            verify_request(
                &req("GET", "/fed/v1/logs", b"x"),
                &code("JPN"),
                1000,
                skew,
                keys
            ),
            Err(PeerAuthError::BadSignature)
        );
        assert_eq!(
            verify_request(
                &req("GET", "/fed/v1/logs", b""),
                &code("JPN"),
                2000,
                skew,
                keys
            ),
            Err(PeerAuthError::Stale)
        );
        assert_eq!(
            verify_request(
                &req("GET", "/fed/v1/logs", b""),
                &code("JPN"),
                1000,
                skew,
                |_| None
            ),
            Err(PeerAuthError::UnknownPeerKey("EU".into()))
        );
        assert_eq!(
            verify_request(&SignedRequest::default(), &code("JPN"), 1000, skew, keys),
            Err(PeerAuthError::Missing)
        );
    }
}
