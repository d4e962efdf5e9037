//! Node errors. The API crate maps each to an HTTP status and a stable error code.

use entente_domain::{DomainError, PolicyError};
use entente_log::LogError;
use entente_store::StoreError;
pub use entente_wire::PeerAuthError;

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
    Taxii(#[from] TaxiiError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("too many requests: try again in {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// The malware scanner found something in a file: it is refused (never stored as held).
    #[error("the file was refused: the malware scanner found {0}")]
    Malware(String),
    /// The malware scanner could not scan a file (unreachable, slow, or it refused the
    /// stream): the file is not accepted now; the detail is in the node's log.
    #[error("the malware scanner is not available; the file was not accepted, try again later")]
    ScanUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// A TAXII request or object the TAXII interface rejects (answered in the TAXII error shape).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxiiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unprocessable(String),
}

impl From<PeerAuthError> for NodeError {
    fn from(e: PeerAuthError) -> Self {
        NodeError::PeerAuth(e)
    }
}
