//! Onboarding a new partner: a signed invitation from an existing node, a signed answer from
//! the new one, and a short fingerprint both operators read aloud to each other before the
//! keys are trusted. What is signed and checked lives here; where the files are kept (and
//! that an invitation is used once) is the server's business.
//!
//! The invitation carries the inviter's partner, URL, node key and TLS key hash, the invitee's
//! partner code and an expiry, signed by the inviter's node key; the answer carries the
//! invitee's URL, node key and TLS key hash and the digest of the invitation it answers,
//! signed by the invitee's node key. A file altered in transit fails its signature; a file
//! replaced whole (another key) gives another fingerprint, which the operators catch on the
//! phone: the fingerprint covers the invitation, both node keys and both TLS key hashes.

use crate::NodeError;
use crate::node::Node;
use entente_domain::{DomainError, PartnerCode};
use entente_log::PublicKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invitation {
    pub kind: String,
    pub id: String,
    pub inviter: PartnerCode,
    pub inviter_url: String,
    pub inviter_key: String,
    /// SHA-256 of the inviter's TLS key (hex): what its certificate is bound to (pinned mode).
    pub inviter_tls_spki_sha256: String,
    pub invitee: PartnerCode,
    pub expires_at: String,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationAnswer {
    pub kind: String,
    pub invitation_id: String,
    /// SHA-256 of the invitation's signed text: the answer is to exactly that invitation.
    pub invitation_digest: String,
    pub partner: PartnerCode,
    pub url: String,
    pub key: String,
    pub tls_spki_sha256: String,
    pub signature: String,
}

const INVITATION: &str = "entente-invitation-v1";
const ANSWER: &str = "entente-invitation-answer-v1";

fn bad(msg: impl Into<String>) -> NodeError {
    DomainError::invalid("invitation", msg.into()).into()
}

impl Invitation {
    fn signed_text(&self) -> String {
        format!(
            "{INVITATION}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.id,
            self.inviter,
            self.inviter_url,
            self.inviter_key,
            self.inviter_tls_spki_sha256,
            self.invitee,
            self.expires_at
        )
    }

    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.signed_text()))
    }

    /// Check the signature and the expiry (against `now`, RFC 3339). Returns the inviter's key.
    pub fn verify(&self, now: &str) -> Result<PublicKey, NodeError> {
        if self.kind != INVITATION {
            return Err(bad("not an Entente invitation (wrong kind)"));
        }
        let key = PublicKey::parse_hex(&self.inviter_key)
            .map_err(|_| bad("the inviter's key is malformed"))?;
        let sig = parse_sig(&self.signature)?;
        if !key.verify(self.signed_text().as_bytes(), &sig) {
            return Err(bad(
                "the signature does not verify: the file was altered after it was signed",
            ));
        }
        if expired(&self.expires_at, now)? {
            return Err(bad(format!(
                "expired at {}; ask {} for a new one",
                self.expires_at, self.inviter
            )));
        }
        crate::transport::check_peer_url(&self.inviter_url)
            .map_err(|w| bad(format!("the inviter's URL must be {w}")))?;
        Ok(key)
    }
}

impl InvitationAnswer {
    fn signed_text(&self) -> String {
        format!(
            "{ANSWER}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.invitation_id,
            self.invitation_digest,
            self.partner,
            self.url,
            self.key,
            self.tls_spki_sha256
        )
    }

    /// Check the answer against the invitation it claims to answer. Returns the invitee's key.
    pub fn verify(&self, invitation: &Invitation) -> Result<PublicKey, NodeError> {
        if self.kind != ANSWER {
            return Err(bad("not an answer to an Entente invitation (wrong kind)"));
        }
        if self.invitation_id != invitation.id || self.invitation_digest != invitation.digest() {
            return Err(bad("the answer is to another invitation"));
        }
        if self.partner != invitation.invitee {
            return Err(bad(format!(
                "the invitation was for {}, the answer is from {}",
                invitation.invitee, self.partner
            )));
        }
        let key =
            PublicKey::parse_hex(&self.key).map_err(|_| bad("the answer's key is malformed"))?;
        let sig = parse_sig(&self.signature)?;
        if !key.verify(self.signed_text().as_bytes(), &sig) {
            return Err(bad(
                "the answer's signature does not verify: the file was altered after it was signed",
            ));
        }
        crate::transport::check_peer_url(&self.url)
            .map_err(|w| bad(format!("the answer's URL must be {w}")))?;
        Ok(key)
    }
}

fn parse_sig(s: &str) -> Result<[u8; 64], NodeError> {
    hex::decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("the signature is malformed"))
}

fn expired(expires_at: &str, now: &str) -> Result<bool, NodeError> {
    use time::format_description::well_known::Rfc3339;
    let e = time::OffsetDateTime::parse(expires_at, &Rfc3339)
        .map_err(|_| bad("the expiry is not an RFC 3339 time"))?;
    let n = time::OffsetDateTime::parse(now, &Rfc3339)
        .map_err(|e| NodeError::Internal(e.to_string()))?;
    Ok(n >= e)
}

/// The fingerprint both operators read aloud: six groups of five digits over the invitation
/// and the invitee's node key and TLS key hash.
pub fn fingerprint(invitation: &Invitation, invitee_key: &str, invitee_tls: &str) -> String {
    let d = Sha256::digest(format!(
        "entente-pairing-v1\n{}\n{invitee_key}\n{invitee_tls}",
        invitation.digest()
    ));
    d.chunks(5)
        .take(6)
        .map(|c| {
            let n = c.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            format!("{:05}", n % 100_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Node {
    fn tls_spki_sha256(&self) -> String {
        self.cfg
            .transport
            .identity
            .as_ref()
            .map(|i| i.spki_sha256_hex())
            .unwrap_or_default()
    }

    /// A signed invitation for `invitee`, valid for `valid_for`.
    pub fn invite(
        &self,
        invitee: &str,
        valid_for: std::time::Duration,
    ) -> Result<Invitation, NodeError> {
        let invitee = PartnerCode::parse(invitee.trim())?;
        if &invitee == self.partner() {
            return Err(bad("a node cannot invite its own partner"));
        }
        if self.peer(&invitee).is_some() {
            return Err(NodeError::Conflict(format!(
                "{invitee} is already a pinned peer"
            )));
        }
        crate::transport::check_peer_url(&self.cfg.public_url)
            .map_err(|w| bad(format!("this node's public_url must be {w}")))?;
        let expires = self.clock.now()
            + time::Duration::try_from(valid_for)
                .map_err(|e| NodeError::Internal(e.to_string()))?;
        let mut inv = Invitation {
            kind: INVITATION.into(),
            id: crate::auth::random_hex(16)?,
            inviter: self.partner().clone(),
            inviter_url: self.cfg.public_url.clone(),
            inviter_key: self.public_key().to_hex(),
            inviter_tls_spki_sha256: self.tls_spki_sha256(),
            invitee,
            expires_at: expires
                .format(&time::format_description::well_known::Rfc3339)
                .map_err(|e| NodeError::Internal(e.to_string()))?,
            signature: String::new(),
        };
        inv.signature = hex::encode(self.key.sign(inv.signed_text().as_bytes()));
        Ok(inv)
    }

    /// Accept an invitation addressed to this node's partner: check it, pin the inviter, and
    /// return the signed answer and the fingerprint to read aloud. Pins nothing when the
    /// invitation does not check out.
    pub async fn accept_invitation(
        &self,
        inv: &Invitation,
    ) -> Result<(InvitationAnswer, String), NodeError> {
        let key = inv.verify(&self.now())?;
        if &inv.invitee != self.partner() {
            return Err(bad(format!(
                "the invitation is for {}, this node is {}",
                inv.invitee,
                self.partner()
            )));
        }
        if let Some(p) = self.peer(&inv.inviter)
            && p.key != key
        {
            return Err(NodeError::Conflict(format!(
                "{} is already pinned with another key ({}); not replaced",
                inv.inviter,
                p.key.fingerprint()
            )));
        }
        crate::transport::check_peer_url(&self.cfg.public_url)
            .map_err(|w| bad(format!("this node's public_url must be {w}")))?;
        let mut ans = InvitationAnswer {
            kind: ANSWER.into(),
            invitation_id: inv.id.clone(),
            invitation_digest: inv.digest(),
            partner: self.partner().clone(),
            url: self.cfg.public_url.clone(),
            key: self.public_key().to_hex(),
            tls_spki_sha256: self.tls_spki_sha256(),
            signature: String::new(),
        };
        ans.signature = hex::encode(self.key.sign(ans.signed_text().as_bytes()));
        self.add_peer(
            inv.inviter.as_str(),
            Some(&inv.inviter_url),
            &inv.inviter_key,
        )
        .await?;
        let fp = fingerprint(inv, &ans.key, &ans.tls_spki_sha256);
        Ok((ans, fp))
    }

    /// Accept the answer to an invitation this node made (`pending`, as it was written): check
    /// it and, when `spoken` is given, that it equals the fingerprint; then pin the invitee.
    /// Returns the fingerprint. Pins nothing when anything does not check out.
    pub async fn accept_answer(
        &self,
        pending: &Invitation,
        ans: &InvitationAnswer,
        spoken: Option<&str>,
    ) -> Result<String, NodeError> {
        if &pending.inviter != self.partner() || pending.inviter_key != self.public_key().to_hex() {
            return Err(bad("the invitation was not made by this node"));
        }
        pending.verify(&self.now())?;
        ans.verify(pending)?;
        let fp = fingerprint(pending, &ans.key, &ans.tls_spki_sha256);
        if let Some(s) = spoken {
            let norm = |x: &str| x.chars().filter(char::is_ascii_digit).collect::<String>();
            if norm(s) != norm(&fp) {
                return Err(bad(format!(
                    "the fingerprint read by {} ({s}) is not this answer's ({fp}): the files were exchanged with someone else; pin nothing and start again",
                    ans.partner
                )));
            }
        }
        self.add_peer(ans.partner.as_str(), Some(&ans.url), &ans.key)
            .await?;
        self.audit(
            "admin",
            "peer_accept",
            &format!("{} by invitation {}", ans.partner, pending.id),
        )
        .await;
        Ok(fp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_six_groups_of_five_digits() {
        let inv = Invitation {
            kind: INVITATION.into(),
            id: "00".into(),
            inviter: entente_domain::partner::code("EU"),
            inviter_url: "https://eu.example".into(),
            inviter_key: "aa".into(),
            inviter_tls_spki_sha256: "bb".into(),
            invitee: entente_domain::partner::code("KOR"),
            expires_at: "2027-01-01T00:00:00Z".into(),
            signature: String::new(),
        };
        let f = fingerprint(&inv, "cc", "dd");
        assert_eq!(f.len(), 6 * 5 + 5);
        assert!(
            f.split(' ')
                .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit()))
        );
        assert_ne!(f, fingerprint(&inv, "cd", "dd"));
        assert_ne!(f, fingerprint(&inv, "cc", "de"));
    }
}
