//! Stable API error codes. A code, once published, keeps its meaning; clients match on it.
//! The HTTP status and code for every node error are decided here and nowhere else.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use entente_domain::{DomainError, PolicyError};
use entente_node::NodeError;
use entente_node::error::PeerAuthError;
use serde::Serialize;
use utoipa::ToSchema;

macro_rules! codes {
    ($($name:ident = $s:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode { $($name,)* }
        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];
            pub fn as_str(self) -> &'static str { match self { $(ErrorCode::$name => $s,)* } }
        }
    };
}

codes! {
    MalformedJson = "malformed_json",
    UnsupportedMediaType = "unsupported_media_type",
    PayloadTooLarge = "payload_too_large",
    InvalidQuery = "invalid_query",
    ValidationFailed = "validation_failed",
    InvalidPartnerCode = "invalid_partner_code",
    UnknownPartner = "unknown_partner",
    UnknownTopic = "unknown_topic",
    UnknownTlp = "unknown_tlp",
    UnknownItemKind = "unknown_item_kind",
    UnknownRole = "unknown_role",
    NotAMember = "not_a_member",
    ReleasableToOutsideFormat = "releasable_to_outside_format",
    FormatClosed = "format_closed",
    NotOriginator = "not_originator",
    NotConvener = "not_convener",
    Unauthorized = "unauthorized",
    Forbidden = "forbidden",
    NotFound = "not_found",
    Conflict = "conflict",
    PeerAuthMissing = "peer_auth_missing",
    StaleRequest = "stale_request",
    BadRequestSignature = "bad_request_signature",
    Replayed = "replayed",
    TlsIdentityMismatch = "tls_identity_mismatch",
    InvalidKey = "invalid_key",
    InvalidTaxiiRequest = "invalid_taxii_request",
    InvalidReleasabilityMarking = "invalid_releasability_marking",
    NotAcceptable = "not_acceptable",
        UnknownVersion = "unknown_version",
    InsufficientScope = "insufficient_scope",
    RateLimited = "rate_limited",
    MalwareFound = "malware_found",
    ScannerUnavailable = "scanner_unavailable",
    Internal = "internal",
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// Seconds for a `Retry-After` header (rate limits).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Headers every error shape carries: `Retry-After` on a rate limit.
    pub(crate) fn add_headers(&self, r: &mut Response) {
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code: self.code,
                    message: self.message.clone(),
                },
            }),
        )
            .into_response();
        self.add_headers(&mut r);
        r
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> ApiError {
        use ErrorCode as C;
        use StatusCode as S;
        let msg = e.to_string();
        let (status, code) = match &e {
            NodeError::Domain(d) => match d {
                DomainError::InvalidPartnerCode(_) => (S::BAD_REQUEST, C::InvalidPartnerCode),
                DomainError::UnknownTopic(_) => (S::BAD_REQUEST, C::UnknownTopic),
                DomainError::UnknownTlp(_) => (S::BAD_REQUEST, C::UnknownTlp),
                DomainError::UnknownItemKind(_) => (S::BAD_REQUEST, C::UnknownItemKind),
                DomainError::UnknownRole(_) => (S::BAD_REQUEST, C::UnknownRole),
                DomainError::Invalid { .. } => (S::UNPROCESSABLE_ENTITY, C::ValidationFailed),
            },
            NodeError::Policy(p) => match p {
                PolicyError::NotAMember(_) => (S::FORBIDDEN, C::NotAMember),
                PolicyError::OutsideFormat(_) => {
                    (S::UNPROCESSABLE_ENTITY, C::ReleasableToOutsideFormat)
                }
                PolicyError::FormatClosed => (S::CONFLICT, C::FormatClosed),
                PolicyError::NotOriginator(_)
                | PolicyError::ObjectOfOther(..)
                | PolicyError::NotAuthor(_) => (S::FORBIDDEN, C::NotOriginator),
                PolicyError::NotConvener(_) => (S::FORBIDDEN, C::NotConvener),
            },
            NodeError::UnknownPartner(_) => (S::UNPROCESSABLE_ENTITY, C::UnknownPartner),
            NodeError::NotFound(_) => (S::NOT_FOUND, C::NotFound),
            NodeError::Unauthorized => (S::UNAUTHORIZED, C::Unauthorized),
            NodeError::Forbidden(_) => (S::FORBIDDEN, C::Forbidden),
            NodeError::Conflict(_) => (S::CONFLICT, C::Conflict),
            NodeError::UnknownVersion(_) => (S::CONFLICT, C::UnknownVersion),
            NodeError::Malware(_) => (S::UNPROCESSABLE_ENTITY, C::MalwareFound),
            NodeError::ScanUnavailable(_) => (S::SERVICE_UNAVAILABLE, C::ScannerUnavailable),
            NodeError::RateLimited { retry_after } => {
                let mut e = ApiError::new(S::TOO_MANY_REQUESTS, C::RateLimited, msg);
                e.retry_after = Some(*retry_after);
                return e;
            }
            NodeError::PeerAuth(p) => match p {
                PeerAuthError::Missing => (S::UNAUTHORIZED, C::PeerAuthMissing),
                // Answered exactly like a bad signature: which partners are pinned is not
                // for an unauthenticated caller to learn (L6); the node's log and metrics
                // keep the reason.
                PeerAuthError::UnknownPeerKey(_) => {
                    tracing::info!(error = %p, "federation request refused");
                    return ApiError::new(
                        S::UNAUTHORIZED,
                        C::BadRequestSignature,
                        NodeError::PeerAuth(PeerAuthError::BadSignature).to_string(),
                    );
                }
                PeerAuthError::Stale => (S::UNAUTHORIZED, C::StaleRequest),
                PeerAuthError::BadSignature => (S::UNAUTHORIZED, C::BadRequestSignature),
                PeerAuthError::Replayed => (S::UNAUTHORIZED, C::Replayed),
                PeerAuthError::TlsIdentity => (S::UNAUTHORIZED, C::TlsIdentityMismatch),
            },
            NodeError::Taxii(entente_node::taxii::TaxiiError::BadRequest(_)) => {
                (S::BAD_REQUEST, C::InvalidTaxiiRequest)
            }
            NodeError::Taxii(entente_node::taxii::TaxiiError::Unprocessable(_)) => {
                (S::UNPROCESSABLE_ENTITY, C::InvalidReleasabilityMarking)
            }
            NodeError::Log(entente_log::LogError::BadKey(_)) => {
                (S::UNPROCESSABLE_ENTITY, C::InvalidKey)
            }
            NodeError::Log(_)
            | NodeError::Peer { .. }
            | NodeError::Store(_)
            | NodeError::Internal(_) => {
                // Internal detail stays in the node's log, never in the answer.
                tracing::error!(error = %msg, "internal error");
                return ApiError::new(S::INTERNAL_SERVER_ERROR, C::Internal, "internal error");
            }
        };
        ApiError::new(status, code, msg)
    }
}
