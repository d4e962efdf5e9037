//! Signed checkpoints: a node's commitment to the heads of all its own logs at one moment, as
//! an RFC 6962 Merkle root over one leaf per log (sorted by log id). Each leaf names the log,
//! its head (sequence and entry hash) and, since version 2, the RFC 6962 root of the log's own
//! entry tree (one leaf per entry hash). A peer is shown the leaves of the logs it may receive,
//! each with an inclusion proof and, for a log it holds part of, an RFC 6962 consistency proof
//! that the signed log tree extends the entries it holds; it checks them against those entries
//! and cosigns. The outer tree is over heads rather than over every entry so that its size says
//! how many logs a node has, not how much it wrote to logs a peer is not in.

use crate::merkle::{self, Hash};
use crate::{LogError, NodeKey, PublicKey};
use entente_domain::PartnerCode;
use serde::{Deserialize, Serialize};

/// Domain separation of the two signatures, so neither can be replayed as the other or as an
/// entry signature.
const CHECKPOINT_CONTEXT: &[u8] = b"entente-checkpoint-v1\n";
const COSIGN_CONTEXT: &[u8] = b"entente-cosign-v1\n";

/// The version new checkpoints are signed with: 2 puts each log's entry-tree root in its leaf.
pub const VERSION: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub v: u8,
    pub origin: PartnerCode,
    /// When it was signed (RFC 3339, the origin's clock).
    pub ts: String,
    /// Number of leaves: the origin's own logs.
    pub size: u64,
    /// Hex Merkle root.
    pub root: String,
}

/// A checkpoint as sent: its exact JSON body and the origin's signature (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    pub body: String,
    pub sig: String,
}

/// One log as a checkpoint commits to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHead {
    pub log_id: String,
    pub seq: u64,
    /// The hash of entry `seq`.
    pub head: Hash,
    /// [`log_root`] of entries 1..=seq.
    pub log_root: Hash,
}

/// One log's leaf: (log id, head sequence, head hash), and from version 2 the log's root.
pub fn leaf(log_id: &str, seq: u64, head: &Hash, log_root: Option<&Hash>) -> Hash {
    let mut bytes = Vec::with_capacity(log_id.len() + 73);
    bytes.extend_from_slice(log_id.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(head);
    if let Some(r) = log_root {
        bytes.extend_from_slice(r);
    }
    merkle::leaf_hash(&bytes)
}

/// The leaves of a log's entry tree: one per entry hash, in sequence order.
pub fn log_leaves(entry_hashes: &[Hash]) -> Vec<Hash> {
    entry_hashes.iter().map(|h| merkle::leaf_hash(h)).collect()
}

/// The RFC 6962 root of a log's first entries, given their hashes in sequence order.
pub fn log_root(entry_hashes: &[Hash]) -> Hash {
    merkle::root(&log_leaves(entry_hashes))
}

fn unhex(what: &str, s: &str) -> Result<Hash, String> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(s, &mut h).map_err(|_| format!("{what} is not 32 bytes of hex"))?;
    Ok(h)
}

fn message(context: &[u8], body: &str) -> Vec<u8> {
    [context, body.as_bytes()].concat()
}

fn sig_bytes(hex_sig: &str) -> Result<[u8; 64], LogError> {
    let mut sig = [0u8; 64];
    hex::decode_to_slice(hex_sig, &mut sig).map_err(|_| LogError::Malformed {
        seq: 0,
        reason: "checkpoint signature is not 64 bytes of hex".into(),
    })?;
    Ok(sig)
}

impl Checkpoint {
    /// The checkpoint over `heads`, sorted here by log id; the leaves come back in that order.
    pub fn over(origin: PartnerCode, ts: &str, heads: &mut [LogHead]) -> (Checkpoint, Vec<Hash>) {
        heads.sort_by(|a, b| a.log_id.cmp(&b.log_id));
        let leaves: Vec<Hash> = heads
            .iter()
            .map(|h| leaf(&h.log_id, h.seq, &h.head, Some(&h.log_root)))
            .collect();
        let cp = Checkpoint {
            v: VERSION,
            origin,
            ts: ts.to_owned(),
            size: leaves.len() as u64,
            root: hex::encode(merkle::root(&leaves)),
        };
        (cp, leaves)
    }

    pub fn sign(&self, key: &NodeKey) -> SignedCheckpoint {
        let body = serde_json::to_string(self).expect("a checkpoint serialises");
        let sig = key.sign(&message(CHECKPOINT_CONTEXT, &body));
        SignedCheckpoint {
            body,
            sig: hex::encode(sig),
        }
    }

    pub fn root_hash(&self) -> Result<Hash, LogError> {
        let mut r = [0u8; 32];
        hex::decode_to_slice(&self.root, &mut r).map_err(|_| LogError::Malformed {
            seq: 0,
            reason: "checkpoint root is not 32 bytes of hex".into(),
        })?;
        Ok(r)
    }
}

impl SignedCheckpoint {
    /// Parse and check the origin's signature.
    pub fn verify(&self, origin_key: &PublicKey) -> Result<Checkpoint, LogError> {
        let cp: Checkpoint = serde_json::from_str(&self.body).map_err(|e| LogError::Malformed {
            seq: 0,
            reason: format!("checkpoint: {e}"),
        })?;
        if cp.v != 1 && cp.v != VERSION {
            return Err(LogError::Malformed {
                seq: 0,
                reason: format!("unsupported checkpoint version {}", cp.v),
            });
        }
        if !origin_key.verify(
            &message(CHECKPOINT_CONTEXT, &self.body),
            &sig_bytes(&self.sig)?,
        ) {
            return Err(LogError::BadSignature { seq: 0 });
        }
        Ok(cp)
    }

    /// A witness's cosignature over this checkpoint (hex).
    pub fn cosign(&self, witness: &NodeKey) -> String {
        hex::encode(witness.sign(&message(COSIGN_CONTEXT, &self.body)))
    }

    pub fn verify_cosignature(&self, witness: &PublicKey, cosig: &str) -> bool {
        sig_bytes(cosig).is_ok_and(|s| witness.verify(&message(COSIGN_CONTEXT, &self.body), &s))
    }
}

/// One log's place in a checkpoint, as shown to a peer that may receive the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclosed {
    pub log_id: String,
    pub seq: u64,
    /// Hex head hash.
    pub hash: String,
    pub index: u64,
    /// Hex audit path.
    pub proof: Vec<String>,
    /// Hex root of the log's entry tree at `seq` entries (version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_root: Option<String>,
    /// For a peer that said it holds the first `from` entries (0 < from < seq): the proof that
    /// the log tree at `seq` extends the tree of those entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Consistency>,
}

/// An RFC 6962 consistency proof of a log's entry tree, from `from` entries to the disclosed
/// head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consistency {
    pub from: u64,
    /// Hex proof nodes.
    pub proof: Vec<String>,
}

/// A disclosure that verified: what the signed checkpoint commits to for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHead {
    pub head: Hash,
    /// None in a version 1 checkpoint.
    pub log_root: Option<Hash>,
}

impl Disclosed {
    /// The disclosure of `heads[index]` (`leaves`: the checkpoint's), with a consistency proof
    /// from `held` entries when the peer holds some but not all of them. `log_tree` is the log's
    /// entry tree, [`log_leaves`] 1..=seq (used only for the consistency proof).
    pub fn new(
        heads: &[LogHead],
        index: usize,
        leaves: &[Hash],
        held: Option<u64>,
        log_tree: &[Hash],
    ) -> Disclosed {
        let h = &heads[index];
        let consistency = held.filter(|m| *m > 0 && *m < h.seq).map(|m| Consistency {
            from: m,
            proof: merkle::consistency_proof(log_tree, m as usize)
                .iter()
                .map(hex::encode)
                .collect(),
        });
        Disclosed {
            log_id: h.log_id.clone(),
            seq: h.seq,
            hash: hex::encode(h.head),
            index: index as u64,
            proof: merkle::inclusion_proof(leaves, index)
                .iter()
                .map(hex::encode)
                .collect(),
            log_root: Some(hex::encode(h.log_root)),
            consistency,
        }
    }

    fn malformed(&self, reason: &str) -> LogError {
        LogError::Malformed {
            seq: self.seq,
            reason: format!("checkpoint disclosure of {}: {reason}", self.log_id),
        }
    }

    /// Hex proof nodes as hashes.
    fn hashes(&self, what: &str, hex_nodes: &[String]) -> Result<Vec<Hash>, LogError> {
        hex_nodes
            .iter()
            .map(|p| unhex(what, p))
            .collect::<Result<Vec<Hash>, _>>()
            .map_err(|e| self.malformed(&e))
    }

    /// What `cp` commits to for this log, if this disclosure is included in it.
    pub fn verify(&self, cp: &Checkpoint) -> Result<VerifiedHead, LogError> {
        let head = unhex("head", &self.hash).map_err(|e| self.malformed(&e))?;
        let proof = self.hashes("proof", &self.proof)?;
        let log_root = match (cp.v, &self.log_root) {
            (1, _) => None,
            (_, Some(r)) => Some(unhex("log root", r).map_err(|e| self.malformed(&e))?),
            (_, None) => return Err(self.malformed("no log root")),
        };
        let l = leaf(&self.log_id, self.seq, &head, log_root.as_ref());
        if merkle::verify_inclusion(&l, self.index, cp.size, &proof, &cp.root_hash()?) {
            Ok(VerifiedHead { head, log_root })
        } else {
            Err(self.malformed("not included in the signed root"))
        }
    }

    /// Does the verified log root extend the first `held` entries (`held` ≤ `seq`), whose root
    /// is `held_root`? By the consistency proof when the peer holds fewer entries than
    /// disclosed; by equality when it holds exactly as many; trivially when it holds none.
    pub fn extends(&self, v: &VerifiedHead, held: u64, held_root: &Hash) -> Result<bool, LogError> {
        let Some(root) = &v.log_root else {
            return Ok(true);
        };
        if held == 0 {
            return Ok(true);
        }
        if held == self.seq {
            return Ok(root == held_root);
        }
        let Some(c) = self.consistency.as_ref().filter(|c| c.from == held) else {
            return Err(self.malformed(&format!("no consistency proof from {held} entries")));
        };
        let proof = self.hashes("consistency proof", &c.proof)?;
        Ok(merkle::verify_consistency(
            held, self.seq, &proof, held_root, root,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entente_domain::partner::code;

    #[test]
    fn a_signed_checkpoint_proves_each_head_and_is_cosigned() {
        let (eu, jpn) = (NodeKey::generate().unwrap(), NodeKey::generate().unwrap());
        // Five logs of 1..=5 entries; entry j of log i hashes to [i * 16 + j; 32].
        let entries =
            |i: u64| -> Vec<Hash> { (1..=i + 1).map(|j| [(i * 16 + j) as u8; 32]).collect() };
        let mut heads: Vec<LogHead> = (0..5u64)
            .map(|i| LogHead {
                log_id: format!("log{i}"),
                seq: i + 1,
                head: *entries(i).last().unwrap(),
                log_root: log_root(&entries(i)),
            })
            .collect();
        let (cp, leaves) = Checkpoint::over(code("EU"), "2026-11-27T00:00:00Z", &mut heads);
        let signed = cp.sign(&eu);
        assert_eq!(signed.verify(&eu.public()).unwrap(), cp);
        assert!(signed.verify(&jpn.public()).is_err());
        for i in 0..heads.len() {
            let all = entries(i as u64);
            for held in 0..=all.len() as u64 {
                let d = Disclosed::new(&heads, i, &leaves, Some(held), &log_leaves(&all));
                let v = d.verify(&cp).unwrap();
                assert_eq!(v.head, heads[i].head);
                // The peer holding the first `held` entries sees the signed log extend them...
                let mine = log_root(&all[..held as usize]);
                assert!(d.extends(&v, held, &mine).unwrap(), "log {i} from {held}");
                // ...and a peer holding another history of them does not.
                if held > 0 {
                    let mut other = all[..held as usize].to_vec();
                    other[0] = [0xEE; 32];
                    assert!(!d.extends(&v, held, &log_root(&other)).unwrap());
                }
            }
            // The same proof for another head (a second history) does not verify.
            let d = Disclosed::new(&heads, i, &leaves, None, &log_leaves(&all));
            let lie = Disclosed {
                hash: hex::encode([9u8; 32]),
                ..d.clone()
            };
            assert!(lie.verify(&cp).is_err());
            // Nor does another log root.
            let lie = Disclosed {
                log_root: Some(hex::encode([9u8; 32])),
                ..d.clone()
            };
            assert!(lie.verify(&cp).is_err());
        }
        let cosig = signed.cosign(&jpn);
        assert!(signed.verify_cosignature(&jpn.public(), &cosig));
        assert!(!signed.verify_cosignature(&eu.public(), &cosig));
        // A tampered body fails both signatures.
        let tampered = SignedCheckpoint {
            body: signed.body.replace("\"size\":5", "\"size\":4"),
            ..signed.clone()
        };
        assert!(tampered.verify(&eu.public()).is_err());
        assert!(!tampered.verify_cosignature(&jpn.public(), &cosig));
    }
}
