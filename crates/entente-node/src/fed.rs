//! The federation wire protocol between nodes: its JSON shapes, the HTTP message signature
//! every federation request carries, and the client that speaks it.
//!
//! A request is signed with the caller's node key over
//! `entente-fed-v1\n{METHOD}\n{path?query}\n{target partner}\n{unix seconds}\n{hex SHA-256(body)}`
//! and sent with the headers `entente-partner`, `entente-date` and `entente-signature`.
//! Naming the target partner stops a request captured at one node being replayed to another.

use crate::error::PeerAuthError;
use entente_domain::{Audience, PartnerCode};
use entente_log::{NodeKey, PublicKey, SignedEntry};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub const H_PARTNER: &str = "entente-partner";
pub const H_DATE: &str = "entente-date";
pub const H_SIGNATURE: &str = "entente-signature";

pub const PATH_LOGS: &str = "/fed/v1/logs";
pub const PATH_NOTIFY: &str = "/fed/v1/notify";
pub const PATH_CHECKPOINT: &str = "/fed/v1/checkpoint";
pub const PATH_COSIGN: &str = "/fed/v1/checkpoint/cosign";
pub const PATH_GOSSIP: &str = "/fed/v1/checkpoint/gossip";

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
    body: &[u8],
) -> String {
    format!(
        "entente-fed-v1\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path_and_query,
        target,
        date,
        hex::encode(Sha256::digest(body))
    )
}

/// The three header values for a signed federation request.
pub fn sign_request(
    key: &NodeKey,
    me: &PartnerCode,
    target: &PartnerCode,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now_unix: i64,
) -> [(&'static str, String); 3] {
    let s = signing_string(method, path_and_query, target, now_unix, body);
    [
        (H_PARTNER, me.to_string()),
        (H_DATE, now_unix.to_string()),
        (H_SIGNATURE, hex::encode(key.sign(s.as_bytes()))),
    ]
}

/// The headers of an incoming federation request, as the API extracted them.
#[derive(Debug, Clone, Default)]
pub struct SignedRequest<'a> {
    pub partner: Option<&'a str>,
    pub date: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub body: &'a [u8],
}

/// Check an incoming request's signature. `key_of` looks up the caller's pinned key.
pub fn verify_request(
    req: &SignedRequest<'_>,
    me: &PartnerCode,
    now_unix: i64,
    max_skew: Duration,
    key_of: impl Fn(&PartnerCode) -> Option<PublicKey>,
) -> Result<PartnerCode, PeerAuthError> {
    let (Some(p), Some(d), Some(s)) = (req.partner, req.date, req.signature) else {
        return Err(PeerAuthError::Missing);
    };
    let partner = PartnerCode::parse(p).map_err(|_| PeerAuthError::Missing)?;
    let date: i64 = d.parse().map_err(|_| PeerAuthError::Missing)?;
    let sig: [u8; 64] = hex::decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(PeerAuthError::Missing)?;
    let key = key_of(&partner).ok_or_else(|| PeerAuthError::UnknownPeerKey(partner.to_string()))?;
    if (now_unix - date).unsigned_abs() > max_skew.as_secs() {
        return Err(PeerAuthError::Stale);
    }
    let msg = signing_string(req.method, req.path_and_query, me, date, req.body);
    if key.verify(msg.as_bytes(), &sig) {
        Ok(partner)
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
        );
        let req = |method, path, body: &'static [u8]| SignedRequest {
            partner: Some(&hs[0].1),
            date: Some(&hs[1].1),
            signature: Some(&hs[2].1),
            method,
            path_and_query: path,
            body,
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
            ),
            Ok(code("EU"))
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
