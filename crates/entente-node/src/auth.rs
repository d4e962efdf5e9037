//! Passwords (argon2id), API and session tokens (random secrets stored only as SHA-256),
//! and the authenticated principal.

use crate::NodeError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use entente_domain::policy::Viewer;
use entente_domain::{PartnerCode, Role};
pub use entente_store::TokenKind;
use sha2::{Digest, Sha256};

/// Who is calling the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub username: String,
    pub role: Role,
    pub partner: PartnerCode,
}

impl Principal {
    /// `name@PARTNER`, the form used in named-user lists and authorship.
    pub fn user_id(&self) -> String {
        format!("{}@{}", self.username, self.partner)
    }

    pub fn viewer(&self) -> Viewer {
        Viewer {
            partner: self.partner.clone(),
            user: self.user_id(),
        }
    }

    pub fn require(&self, role: Role, what: &'static str) -> Result<(), NodeError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(NodeError::Forbidden(what))
        }
    }
}

pub fn random_hex(bytes: usize) -> Result<String, NodeError> {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).map_err(|e| NodeError::Internal(e.to_string()))?;
    Ok(hex::encode(b))
}

pub fn hash_password(password: &str) -> Result<String, NodeError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| NodeError::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| NodeError::Internal(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordVerifier::<str>::verify_password(&Argon2::default(), password.as_bytes(), hash).is_ok()
}

/// The address a request came from, as the listener saw it (put into each request's
/// extensions by the server; absent in in-process calls). Login limits are kept per address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

pub fn new_token_secret() -> Result<String, NodeError> {
    Ok(format!("ent_{}", random_hex(32)?))
}

pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn validate_username(name: &str) -> Result<(), NodeError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(
            entente_domain::DomainError::invalid("username", "1 to 64 of a-z, 0-9, '.', '_', '-'")
                .into(),
        )
    }
}

pub fn validate_password(pw: &str) -> Result<(), NodeError> {
    if pw.len() < 10 || pw.len() > 1024 {
        return Err(
            entente_domain::DomainError::invalid("password", "10 to 1024 characters").into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        let t = new_token_secret().unwrap();
        assert_eq!(token_hash(&t).len(), 64);
        assert_ne!(token_hash(&t), t);
    }
}
