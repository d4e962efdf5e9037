//! Signed checkpoints: a node's commitment to the heads of all its own logs at one moment, as
//! an RFC 6962 Merkle root over one leaf per log (sorted by log id). A peer is shown the leaves
//! of the logs it may receive, each with an inclusion proof, checks them against the entries it
//! holds, and cosigns. The tree is over heads rather than over every entry so that its size
//! says how many logs a node has, not how much it wrote to logs a peer is not in; the proof
//! that a later head extends an earlier one is the hash chain between them.

use crate::merkle::{self, Hash};
use crate::{LogError, NodeKey, PublicKey};
use entente_domain::PartnerCode;
use serde::{Deserialize, Serialize};

/// Domain separation of the two signatures, so neither can be replayed as the other or as an
/// entry signature.
const CHECKPOINT_CONTEXT: &[u8] = b"entente-checkpoint-v1\n";
const COSIGN_CONTEXT: &[u8] = b"entente-cosign-v1\n";

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

/// One log's leaf: (log id, head sequence, head hash).
pub fn leaf(log_id: &str, seq: u64, head: &Hash) -> Hash {
    let mut bytes = Vec::with_capacity(log_id.len() + 41);
    bytes.extend_from_slice(log_id.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(head);
    merkle::leaf_hash(&bytes)
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
    /// The checkpoint over `heads` (log id, seq, head hash), in any order.
    pub fn over(
        origin: PartnerCode,
        ts: &str,
        heads: &[(String, u64, Hash)],
    ) -> (Checkpoint, Vec<Hash>) {
        let mut heads: Vec<_> = heads.iter().collect();
        heads.sort_by(|a, b| a.0.cmp(&b.0));
        let leaves: Vec<Hash> = heads.iter().map(|(l, s, h)| leaf(l, *s, h)).collect();
        let cp = Checkpoint {
            v: 1,
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
        if cp.v != 1 {
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
}

impl Disclosed {
    pub fn new(log_id: &str, seq: u64, head: &Hash, index: usize, leaves: &[Hash]) -> Disclosed {
        Disclosed {
            log_id: log_id.to_owned(),
            seq,
            hash: hex::encode(head),
            index: index as u64,
            proof: merkle::inclusion_proof(leaves, index)
                .iter()
                .map(hex::encode)
                .collect(),
        }
    }

    /// The head hash, if this disclosure is included in `cp`.
    pub fn verify(&self, cp: &Checkpoint) -> Result<Hash, LogError> {
        let bad = |reason: &str| LogError::Malformed {
            seq: self.seq,
            reason: format!("checkpoint disclosure of {}: {reason}", self.log_id),
        };
        let mut head = [0u8; 32];
        hex::decode_to_slice(&self.hash, &mut head).map_err(|_| bad("head is not hex"))?;
        let proof = self
            .proof
            .iter()
            .map(|p| {
                let mut h = [0u8; 32];
                hex::decode_to_slice(p, &mut h).map(|_| h)
            })
            .collect::<Result<Vec<Hash>, _>>()
            .map_err(|_| bad("proof is not hex"))?;
        let l = leaf(&self.log_id, self.seq, &head);
        if merkle::verify_inclusion(&l, self.index, cp.size, &proof, &cp.root_hash()?) {
            Ok(head)
        } else {
            Err(bad("not included in the signed root"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entente_domain::partner::code;

    #[test]
    fn a_signed_checkpoint_proves_each_head_and_is_cosigned() {
        let (eu, jpn) = (NodeKey::generate().unwrap(), NodeKey::generate().unwrap());
        let heads: Vec<(String, u64, Hash)> = (0..5)
            .map(|i| (format!("log{i}"), i + 1, [i as u8; 32]))
            .collect();
        let (cp, leaves) = Checkpoint::over(code("EU"), "2026-11-27T00:00:00Z", &heads);
        let signed = cp.sign(&eu);
        assert_eq!(signed.verify(&eu.public()).unwrap(), cp);
        assert!(signed.verify(&jpn.public()).is_err());
        for (i, (log, seq, head)) in heads.iter().enumerate() {
            let d = Disclosed::new(log, *seq, head, i, &leaves);
            assert_eq!(d.verify(&cp).unwrap(), *head);
            // The same proof for another head (a second history) does not verify.
            let lie = Disclosed {
                hash: hex::encode([9u8; 32]),
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
