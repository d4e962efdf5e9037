//! Node errors. The API crate maps each to an HTTP status and a stable error code.

use entente_domain::{DomainError, PolicyError};
use entente_log::LogError;
use entente_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("unknown partner {0}: not this node's partner and not a configured peer")]
    UnknownPartner(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("authentication required or credentials invalid")]
    Unauthorized,
    #[error("your role may not do this: {0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("version {0} is not the statement's current version")]
    UnknownVersion(u32),
    #[error("federation request rejected: {0}")]
    PeerAuth(PeerAuthError),
    /// A call to a peer failed; `code` is a stable snake_case reason (`tls_pin_mismatch`,
    /// `tls_handshake`, `plain_http_refused`, `connect_failed`, `http_status`, …) and
    /// `reason` a sentence this node wrote (never a peer's response body).
    #[error("peer {peer}: {code}: {reason}")]
    Peer {
        peer: String,
        code: &'static str,
        reason: String,
    },
    #[error(transparent)]
    Taxii(#[from] crate::taxii::TaxiiError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("too many requests: try again in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

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

impl From<PeerAuthError> for NodeError {
    fn from(e: PeerAuthError) -> Self {
        NodeError::PeerAuth(e)
    }
}
