//! Signed, hash-chained per-(origin, audience) logs: the entry format, node keys, signing,
//! and verification of single entries and of whole sync pages. Pure computation: no IO,
//! no storage, no clock (callers pass timestamps in).
//!
//! An entry is stored and sent as the exact bytes of its JSON body plus an Ed25519
//! signature over those bytes. Its hash is SHA-256(body ‖ signature), and the next entry's
//! `prev` is that hash. Because the chain covers signatures too, one verified signature on
//! entry N authenticates every entry (and every signature) up to N: a page of a sync costs
//! one signature check and one hash per entry, yet each entry stays verifiable on its own.

pub mod checkpoint;
pub mod merkle;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use entente_domain::{Audience, PartnerCode};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::fmt;

/// The entry version this build writes. Version 1 (still read) signs the body itself and
/// hashes SHA-256(body ‖ sig), which reads a body three times (Ed25519 hashes its message twice)
/// Version 2 signs d = SHA-256("entente-entry-v2\n" ‖ body) and hashes SHA-256(d ‖ sig): one
/// pass over the body, which is what bulk imports and sync of large entries spend their time on.
pub const ENTRY_VERSION: u8 = 2;
pub const GENESIS: [u8; 32] = [0u8; 32];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("entry {seq}: malformed: {reason}")]
    Malformed { seq: u64, reason: String },
    #[error("entry {seq}: belongs to another log ({reason})")]
    WrongLog { seq: u64, reason: String },
    #[error("gap: expected entry {expected}, got {got}")]
    Gap { expected: u64, got: u64 },
    #[error("entry {seq}: previous-hash does not continue the chain")]
    BrokenChain { seq: u64 },
    #[error("entry {seq}: signature does not verify with the origin's pinned key")]
    BadSignature { seq: u64 },
    #[error("invalid key: {0}")]
    BadKey(String),
}

impl LogError {
    /// A stable reason label, for metrics and error codes.
    pub fn reason(&self) -> &'static str {
        match self {
            LogError::Malformed { .. } => "malformed",
            LogError::WrongLog { .. } => "wrong_log",
            LogError::Gap { .. } => "gap",
            LogError::BrokenChain { .. } => "broken_chain",
            LogError::BadSignature { .. } => "bad_signature",
            LogError::BadKey(_) => "bad_key",
        }
    }
}

/// A node's Ed25519 signing key.
pub struct NodeKey(SigningKey);

impl NodeKey {
    pub fn generate() -> Result<NodeKey, LogError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| LogError::BadKey(e.to_string()))?;
        Ok(NodeKey(SigningKey::from_bytes(&seed)))
    }

    pub fn from_seed_hex(s: &str) -> Result<NodeKey, LogError> {
        let bytes: [u8; 32] = hex::decode(s.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| LogError::BadKey("a node key is 32 bytes of hex".into()))?;
        Ok(NodeKey(SigningKey::from_bytes(&bytes)))
    }

    pub fn seed_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeKey({})", self.public().fingerprint())
    }
}

/// A pinned Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn parse_hex(s: &str) -> Result<PublicKey, LogError> {
        let bytes: [u8; 32] = hex::decode(s.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| LogError::BadKey("a public key is 32 bytes of hex".into()))?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|e| LogError::BadKey(e.to_string()))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// A short human-comparable fingerprint: the first 16 hex digits of SHA-256(key).
    pub fn fingerprint(&self) -> String {
        let h = Sha256::digest(self.0.to_bytes());
        let hx = hex::encode(&h[..8]);
        format!("{}:{}:{}:{}", &hx[0..4], &hx[4..8], &hx[8..12], &hx[12..16])
    }

    /// Strict verification (rejects small-order and non-canonical encodings).
    pub fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        self.0
            .verify_strict(msg, &Signature::from_bytes(sig))
            .is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// The id of the log of (origin, audience): deterministic, so every holder agrees on it.
pub fn log_id(origin: &PartnerCode, audience: &Audience) -> String {
    let mut h = Sha256::new();
    h.update(b"entente-log-v1\n");
    h.update(origin.as_str().as_bytes());
    h.update(b"\n");
    h.update(audience.key().as_bytes());
    hex::encode(h.finalize())
}

/// The digest a version 2 entry's signature covers.
pub fn body_digest(body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"entente-entry-v2\n");
    h.update(body);
    h.finalize().into()
}

/// (what the origin signs, the entry hash) for an entry of version `v`.
fn signed_and_hash(v: u8, body: &[u8], sig: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    if v == 1 {
        ([0; 32], entry_hash(body, sig))
    } else {
        let d = body_digest(body);
        (d, entry_hash(&d, sig))
    }
}

/// SHA-256(body ‖ sig) for version 1; SHA-256(digest ‖ sig) for version 2.
pub fn entry_hash(body: &[u8], sig: &[u8; 64]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(body);
    h.update(sig);
    h.finalize().into()
}

/// The header fields of an entry body, as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryHeader {
    pub v: u8,
    pub log: String,
    pub origin: PartnerCode,
    pub audience: Audience,
    pub seq: u64,
    pub prev: String,
    pub ts: String,
    pub kind: String,
}

#[derive(Serialize)]
struct BodyOut<'a> {
    #[serde(flatten)]
    header: &'a EntryHeader,
    payload: &'a RawValue,
}

#[derive(Deserialize)]
struct BodyIn<'a> {
    v: u8,
    log: String,
    origin: PartnerCode,
    audience: Audience,
    seq: u64,
    prev: String,
    ts: String,
    kind: String,
    #[serde(borrow)]
    payload: &'a RawValue,
}

/// An entry as stored and sent: the exact body bytes and the signature over them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedEntry {
    pub body: String,
    /// Hex-encoded Ed25519 signature over `body` (version 1) or its digest (version 2).
    pub sig: String,
}

/// An entry whose structure has been parsed. Whether it is authentic depends on how it was
/// obtained: see [`verify_entry`] and [`verify_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEntry {
    pub header: EntryHeader,
    /// Where the payload's text lies in `body`: a range, not a copy (a page of parsed entries
    /// held the payload twice; a sync keeps several pages in flight).
    payload_at: std::ops::Range<usize>,
    pub body: String,
    pub sig: [u8; 64],
    pub hash: [u8; 32],
    /// The body digest a version 2 signature covers (zeros for version 1).
    pub digest: [u8; 32],
}

impl ParsedEntry {
    /// What the fold's rules (`entente_domain::fold`) need of this entry's header.
    pub fn at(&self) -> entente_domain::fold::At<'_> {
        let h = &self.header;
        entente_domain::fold::At {
            log: &h.log,
            seq: h.seq,
            origin: &h.origin,
            audience: &h.audience,
            ts: &h.ts,
        }
    }

    /// The bytes the origin's signature covers.
    pub fn signed_message(&self) -> &[u8] {
        if self.header.v == 1 {
            self.body.as_bytes()
        } else {
            &self.digest
        }
    }

    /// The payload's JSON text, verbatim as signed.
    pub fn payload(&self) -> &str {
        &self.body[self.payload_at.clone()]
    }

    /// Where the payload text starts inside the body.
    pub fn payload_offset(&self) -> usize {
        self.payload_at.start
    }

    pub fn prev_hash(&self) -> Option<[u8; 32]> {
        hex::decode(&self.header.prev)
            .ok()
            .and_then(|b| b.try_into().ok())
    }

    pub fn signed(&self) -> SignedEntry {
        SignedEntry {
            body: self.body.clone(),
            sig: hex::encode(self.sig),
        }
    }
}

/// The position a log has reached at a holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHead {
    pub seq: u64,
    pub hash: [u8; 32],
}

impl LogHead {
    pub const EMPTY: LogHead = LogHead {
        seq: 0,
        hash: GENESIS,
    };
}

/// Create and sign the next entry of a log.
pub fn sign_entry(
    key: &NodeKey,
    origin: &PartnerCode,
    audience: &Audience,
    head: LogHead,
    ts: &str,
    kind: &str,
    payload_json: &str,
) -> Result<ParsedEntry, LogError> {
    let header = EntryHeader {
        v: ENTRY_VERSION,
        log: log_id(origin, audience),
        origin: origin.clone(),
        audience: audience.clone(),
        seq: head.seq + 1,
        prev: hex::encode(head.hash),
        ts: ts.to_owned(),
        kind: kind.to_owned(),
    };
    let raw: &RawValue = serde_json::from_str(payload_json).map_err(|e| LogError::Malformed {
        seq: header.seq,
        reason: e.to_string(),
    })?;
    check_depth(header.seq, raw.get())?;
    let body = serde_json::to_string(&BodyOut {
        header: &header,
        payload: raw,
    })
    .map_err(|e| LogError::Malformed {
        seq: header.seq,
        reason: e.to_string(),
    })?;
    // The payload is the body's last field, written verbatim.
    let len = raw.get().len();
    let start = body.len().saturating_sub(len + 1);
    if body.get(start..start + len) != Some(raw.get()) {
        return Err(LogError::Malformed {
            seq: header.seq,
            reason: "payload not at the end of the body".into(),
        });
    }
    let digest = body_digest(body.as_bytes());
    let sig = key.sign(&digest);
    let hash = entry_hash(&digest, &sig);
    Ok(ParsedEntry {
        header,
        payload_at: start..start + len,
        body,
        sig,
        hash,
        digest,
    })
}

/// Parse an entry's structure without checking its signature.
pub fn parse_entry(e: &SignedEntry) -> Result<ParsedEntry, LogError> {
    parse_owned(e.clone())
}

/// A payload nested deeper than any tree parser would read is refused when signing and when
/// receiving alike (holding it as raw text would not notice).
fn check_depth(seq: u64, payload: &str) -> Result<(), LogError> {
    use entente_domain::json::{MAX_PAYLOAD_DEPTH, depth};
    if depth(payload.as_bytes()) > MAX_PAYLOAD_DEPTH {
        return Err(LogError::Malformed {
            seq,
            reason: format!("payload nested deeper than {MAX_PAYLOAD_DEPTH} levels"),
        });
    }
    Ok(())
}

/// Like [`parse_entry`], taking the entry by value so its body is not copied.
pub fn parse_owned(e: SignedEntry) -> Result<ParsedEntry, LogError> {
    let bad = |reason: String| LogError::Malformed { seq: 0, reason };
    let b: BodyIn<'_> = serde_json::from_str(&e.body).map_err(|err| bad(err.to_string()))?;
    check_depth(b.seq, b.payload.get())?;
    let mut sig = [0u8; 64];
    if e.sig.len() != 128 || hex::decode_to_slice(&e.sig, &mut sig).is_err() {
        return Err(LogError::Malformed {
            seq: b.seq,
            reason: "signature is not 64 bytes of hex".into(),
        });
    }
    if b.v != 1 && b.v != ENTRY_VERSION {
        return Err(LogError::Malformed {
            seq: b.seq,
            reason: format!("unsupported entry version {}", b.v),
        });
    }
    if b.seq == 0 {
        return Err(LogError::Malformed {
            seq: 0,
            reason: "sequence numbers start at 1".into(),
        });
    }
    if b.prev.len() != 64 || hex::decode(&b.prev).is_err() {
        return Err(LogError::Malformed {
            seq: b.seq,
            reason: "prev is not a 32-byte hex hash".into(),
        });
    }
    if b.log != log_id(&b.origin, &b.audience) {
        return Err(LogError::WrongLog {
            seq: b.seq,
            reason: "log id does not match origin and audience".into(),
        });
    }
    let (digest, hash) = signed_and_hash(b.v, e.body.as_bytes(), &sig);
    // The payload borrows from the body: its place there, by address.
    let start = b.payload.get().as_ptr().addr() - e.body.as_ptr().addr();
    let payload_at = start..start + b.payload.get().len();
    let header = EntryHeader {
        v: b.v,
        log: b.log,
        origin: b.origin,
        audience: b.audience,
        seq: b.seq,
        prev: b.prev,
        ts: b.ts,
        kind: b.kind,
    };
    Ok(ParsedEntry {
        header,
        payload_at,
        body: e.body,
        sig,
        hash,
        digest,
    })
}

/// Parse and verify one entry on its own against its origin's key.
pub fn verify_entry(e: &SignedEntry, origin_key: &PublicKey) -> Result<ParsedEntry, LogError> {
    let p = parse_entry(e)?;
    if !origin_key.verify(p.signed_message(), &p.sig) {
        return Err(LogError::BadSignature { seq: p.header.seq });
    }
    Ok(p)
}

/// Which log a page claims to be part of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDescriptor {
    pub log_id: String,
    pub origin: PartnerCode,
    pub audience: Audience,
}

impl LogDescriptor {
    pub fn new(origin: PartnerCode, audience: Audience) -> LogDescriptor {
        LogDescriptor {
            log_id: log_id(&origin, &audience),
            origin,
            audience,
        }
    }
}

/// Verify a page of entries that must continue a log from `head`: every entry belongs to
/// the log, sequence numbers are contiguous from head.seq + 1, every `prev` continues the
/// chain, and the last entry's signature verifies with the origin's key (which, through the
/// chain, authenticates all of them). Returns the parsed entries, in order.
pub fn verify_page(
    log: &LogDescriptor,
    head: LogHead,
    entries: &[SignedEntry],
    origin_key: &PublicKey,
) -> Result<Vec<ParsedEntry>, LogError> {
    let parsed = entries
        .iter()
        .map(parse_entry)
        .collect::<Result<Vec<_>, _>>()?;
    verify_parsed_page(log, head, &parsed, origin_key)?;
    Ok(parsed)
}

/// [`verify_page`] over entries already parsed.
pub fn verify_parsed_page(
    log: &LogDescriptor,
    head: LogHead,
    entries: &[ParsedEntry],
    origin_key: &PublicKey,
) -> Result<(), LogError> {
    let mut expect = head;
    for p in entries {
        let h = &p.header;
        if h.log != log.log_id || h.origin != log.origin || h.audience != log.audience {
            return Err(LogError::WrongLog {
                seq: h.seq,
                reason: format!("expected log {}", log.log_id),
            });
        }
        if h.seq != expect.seq + 1 {
            return Err(LogError::Gap {
                expected: expect.seq + 1,
                got: h.seq,
            });
        }
        if p.prev_hash() != Some(expect.hash) {
            return Err(LogError::BrokenChain { seq: h.seq });
        }
        expect = LogHead {
            seq: h.seq,
            hash: p.hash,
        };
    }
    if let Some(last) = entries.last()
        && !origin_key.verify(last.signed_message(), &last.sig)
    {
        return Err(LogError::BadSignature {
            seq: last.header.seq,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use entente_domain::partner::code;

    fn chain(key: &NodeKey, n: u64) -> (LogDescriptor, Vec<SignedEntry>) {
        let aud = Audience::new([code("EU"), code("JPN")]).unwrap();
        let mut head = LogHead::EMPTY;
        let mut out = vec![];
        for i in 0..n {
            let e = sign_entry(
                key,
                &code("EU"),
                &aud,
                head,
                "2026-11-27T00:00:00Z",
                "test",
                &format!("{{\"i\":{i}}}"),
            )
            .unwrap();
            head = LogHead {
                seq: e.header.seq,
                hash: e.hash,
            };
            out.push(e.signed());
        }
        (LogDescriptor::new(code("EU"), aud), out)
    }

    /// Entries written as version 1 (signature over the body) still verify, and chain with
    /// version 2 entries; a version 1 signature does not pass for version 2 or the reverse.
    #[test]
    fn version_1_entries_still_verify_and_versions_cannot_be_swapped() {
        let key = NodeKey::generate().unwrap();
        let aud = Audience::new([code("EU"), code("JPN")]).unwrap();
        let log = LogDescriptor::new(code("EU"), aud.clone());
        let v1_body = |v: u8| {
            let header = EntryHeader {
                v,
                log: log.log_id.clone(),
                origin: code("EU"),
                audience: aud.clone(),
                seq: 1,
                prev: hex::encode(GENESIS),
                ts: "2026-11-27T00:00:00Z".into(),
                kind: "test".into(),
            };
            let payload: &RawValue = serde_json::from_str("{\"old\":true}").unwrap();
            serde_json::to_string(&BodyOut {
                header: &header,
                payload,
            })
            .unwrap()
        };
        let body = v1_body(1);
        let old = SignedEntry {
            sig: hex::encode(key.sign(body.as_bytes())),
            body: body.clone(),
        };
        let parsed = verify_entry(&old, &key.public()).expect("version 1 verifies");
        assert_eq!(parsed.hash, entry_hash(body.as_bytes(), &parsed.sig));
        let next = sign_entry(
            &key,
            &code("EU"),
            &aud,
            LogHead {
                seq: 1,
                hash: parsed.hash,
            },
            "2026-11-27T00:00:01Z",
            "test",
            "{}",
        )
        .unwrap();
        assert_eq!(next.header.v, 2);
        verify_page(
            &log,
            LogHead::EMPTY,
            &[old.clone(), next.signed()],
            &key.public(),
        )
        .expect("a mixed chain verifies");
        // The same body relabelled as version 2 with the version 1 signature is refused.
        let relabelled = SignedEntry {
            body: v1_body(2),
            sig: old.sig.clone(),
        };
        assert!(verify_entry(&relabelled, &key.public()).is_err());
        let unknown = SignedEntry {
            body: v1_body(3),
            sig: old.sig,
        };
        assert!(parse_entry(&unknown).is_err());
    }

    #[test]
    fn a_valid_chain_verifies_and_each_entry_on_its_own() {
        let k = NodeKey::generate().unwrap();
        let (log, es) = chain(&k, 5);
        let got = verify_page(&log, LogHead::EMPTY, &es, &k.public()).unwrap();
        assert_eq!(got.len(), 5);
        for e in &es {
            verify_entry(e, &k.public()).unwrap();
        }
        // Resuming from the middle works too.
        let mid = LogHead {
            seq: 2,
            hash: got[1].hash,
        };
        assert_eq!(
            verify_page(&log, mid, &es[2..], &k.public()).unwrap().len(),
            3
        );
    }

    #[test]
    fn tampering_gaps_reorders_and_foreign_keys_are_rejected() {
        let k = NodeKey::generate().unwrap();
        let other = NodeKey::generate().unwrap();
        let (log, es) = chain(&k, 4);
        let pk = k.public();

        let mut tampered = es.clone();
        tampered[1].body = tampered[1].body.replace("\"i\":1", "\"i\":9");
        assert_eq!(
            verify_page(&log, LogHead::EMPTY, &tampered, &pk),
            Err(LogError::BrokenChain { seq: 3 })
        );

        let mut last_tampered = es.clone();
        last_tampered[3].body = last_tampered[3].body.replace("\"i\":3", "\"i\":7");
        assert_eq!(
            verify_page(&log, LogHead::EMPTY, &last_tampered, &pk),
            Err(LogError::BadSignature { seq: 4 })
        );

        let mut sig_swapped = es.clone();
        sig_swapped[0].sig = es[1].sig.clone();
        assert_eq!(
            verify_page(&log, LogHead::EMPTY, &sig_swapped, &pk),
            Err(LogError::BrokenChain { seq: 2 })
        );

        let gapped = vec![es[0].clone(), es[2].clone()];
        assert_eq!(
            verify_page(&log, LogHead::EMPTY, &gapped, &pk),
            Err(LogError::Gap {
                expected: 2,
                got: 3
            })
        );

        let reordered = vec![es[1].clone(), es[0].clone()];
        assert_eq!(
            verify_page(&log, LogHead::EMPTY, &reordered, &pk),
            Err(LogError::Gap {
                expected: 1,
                got: 2
            })
        );

        assert_eq!(
            verify_page(&log, LogHead::EMPTY, &es, &other.public()),
            Err(LogError::BadSignature { seq: 4 })
        );

        let other_log = LogDescriptor::new(code("EU"), Audience::single(code("EU")));
        assert!(matches!(
            verify_page(&other_log, LogHead::EMPTY, &es, &pk),
            Err(LogError::WrongLog { .. })
        ));
    }

    #[test]
    fn log_ids_are_deterministic_and_distinct() {
        let a = Audience::new([code("JPN"), code("EU")]).unwrap();
        let b = Audience::new([code("EU"), code("JPN")]).unwrap();
        assert_eq!(log_id(&code("EU"), &a), log_id(&code("EU"), &b));
        assert_ne!(log_id(&code("EU"), &a), log_id(&code("JPN"), &a));
        assert_ne!(
            log_id(&code("EU"), &a),
            log_id(&code("EU"), &Audience::single(code("EU")))
        );
    }
}
