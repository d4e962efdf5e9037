//! The Entente domain: partners, topics, TLP markings, roles, formats, items, the entry
//! payloads they are built from, and the releasability policy. Pure: this crate does no IO,
//! keeps no global state and knows nothing of storage, HTTP or signatures.

pub mod alert;
pub mod analytics;
pub mod attachment;
pub mod coord;
pub mod fold;
pub mod format;
pub mod item;
pub mod json;

pub mod misp;
pub mod partner;
pub mod payload;
pub mod policy;
pub mod role;
pub mod statement;
pub mod stix;
pub mod taxonomy;
pub mod text;
pub mod tlp;

pub use format::{FormatState, FormatTemplate};
pub use item::{ItemKind, ItemState};
pub use partner::{Audience, PartnerCode};
pub use payload::Payload;
pub use policy::PolicyError;
pub use role::Role;
pub use tlp::Tlp;

/// Errors raised while validating domain input. Each variant maps to a stable API code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("invalid partner code {0:?}: use 2 to 8 upper-case ASCII letters")]
    InvalidPartnerCode(String),
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    #[error("unknown TLP level {0:?}")]
    UnknownTlp(String),
    #[error("unknown item kind {0:?}")]
    UnknownItemKind(String),
    #[error("unknown role {0:?}")]
    UnknownRole(String),
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl DomainError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        DomainError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}
