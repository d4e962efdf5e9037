//! Witnessed checkpoints. A node signs a checkpoint over the heads of its own logs
//! (`entente_log::checkpoint`) whenever a peer asks, showing that peer only the leaves of the
//! logs it may receive, each with an inclusion proof. The peer checks every disclosed head
//! against the entries it holds: the same position with another hash is two histories signed by
//! one key, kept as fork evidence (surfaced by `forks`, `verify`, metrics and the admin page)
//! and never cosigned. A consistent checkpoint is cosigned and the cosignature returned, so a
//! node can show which peers have witnessed which of its states.

use crate::NodeError;
use crate::fed;
use crate::node::Node;
use entente_domain::PartnerCode;
use entente_domain::policy;
use entente_log::SignedEntry;
use entente_log::checkpoint::{Checkpoint, Disclosed, SignedCheckpoint};
use entente_store::{ForkEvidence, WitnessRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What a peer is shown: the signed checkpoint and the leaves it may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointResponse {
    pub checkpoint: SignedCheckpoint,
    pub disclosed: Vec<Disclosed>,
}

/// A witness's cosignature on a checkpoint, sent back to its origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cosignature {
    pub checkpoint: SignedCheckpoint,
    pub cosig: String,
}

/// What witnessing one peer's checkpoint found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessReport {
    pub peer: String,
    /// Disclosed heads compared with the entries held here, and equal.
    pub heads_matched: usize,
    /// Disclosed heads beyond what is held here yet (checked on a later round).
    pub heads_ahead: usize,
    /// Logs of the peer held here that its checkpoint did not disclose.
    pub undisclosed: usize,
    /// A disclosed head contradicts a held entry: evidence kept, not cosigned.
    pub equivocation: bool,
    pub cosigned: bool,
    pub error: Option<String>,
}

impl Node {
    /// This node's checkpoint now, with the disclosures `caller` may see: the heads of this
    /// node's own logs whose audience contains the caller, and nothing of the others.
    pub async fn checkpoint_for(
        &self,
        caller: &PartnerCode,
    ) -> Result<CheckpointResponse, NodeError> {
        let mut own: Vec<_> = self
            .store
            .logs()
            .await?
            .into_iter()
            .filter(|l| &l.origin == self.partner() && l.head_seq > 0)
            .collect();
        own.sort_by(|a, b| a.log_id.cmp(&b.log_id));
        let heads: Vec<_> = own
            .iter()
            .map(|l| (l.log_id.clone(), l.head_seq, l.head_hash))
            .collect();
        let (cp, leaves) = Checkpoint::over(self.partner().clone(), &self.now(), &heads);
        let disclosed = own
            .iter()
            .enumerate()
            .filter(|(_, l)| policy::may_forward(self.partner(), caller, &l.audience))
            .map(|(i, l)| Disclosed::new(&l.log_id, l.head_seq, &l.head_hash, i, &leaves))
            .collect();
        Ok(CheckpointResponse {
            checkpoint: cp.sign(&self.key),
            disclosed,
        })
    }

    /// A peer's cosignature on one of this node's checkpoints: kept if both signatures hold.
    pub async fn receive_cosignature(
        &self,
        witness: &PartnerCode,
        c: Cosignature,
    ) -> Result<(), NodeError> {
        let cp = c.checkpoint.verify(&self.public_key())?;
        if &cp.origin != self.partner() {
            return Err(NodeError::Conflict("not this node's checkpoint".into()));
        }
        let key = self
            .key_of(witness)
            .ok_or_else(|| NodeError::UnknownPartner(witness.to_string()))?;
        if !c.checkpoint.verify_cosignature(&key, &c.cosig) {
            return Err(NodeError::Conflict(
                "the cosignature does not verify with the witness's pinned key".into(),
            ));
        }
        self.store
            .put_witness(&WitnessRecord {
                origin: self.partner().clone(),
                witness: witness.clone(),
                checkpoint: c.checkpoint.body,
                origin_sig: c.checkpoint.sig,
                cosig: c.cosig,
                recorded_at: self.now(),
            })
            .await?;
        Ok(())
    }

    /// Every witness record: cosignatures peers gave this node's checkpoints, and the peers'
    /// checkpoints this node cosigned.
    pub async fn witnesses(&self) -> Result<Vec<WitnessRecord>, NodeError> {
        Ok(self.store.witnesses().await?)
    }

    /// Fetch `peer`'s checkpoint, check it against what this node holds and, if consistent,
    /// cosign it and send the cosignature back.
    pub async fn witness_peer(&self, peer: &PartnerCode) -> WitnessReport {
        let mut report = WitnessReport {
            peer: peer.to_string(),
            ..Default::default()
        };
        if let Err(e) = self.witness_peer_inner(peer, &mut report).await {
            report.error = Some(e.to_string());
        }
        report
    }

    async fn witness_peer_inner(
        &self,
        peer: &PartnerCode,
        report: &mut WitnessReport,
    ) -> Result<(), NodeError> {
        let base = self
            .peer(peer)
            .and_then(|p| p.record.url)
            .ok_or(NodeError::NotFound("peer url"))?;
        let resp: CheckpointResponse = self.fed_get(peer, &base, fed::PATH_CHECKPOINT).await?;
        *report = WitnessReport {
            peer: peer.to_string(),
            ..self.check_checkpoint(peer, &resp).await?
        };
        if report.equivocation {
            return Ok(());
        }
        let c = Cosignature {
            cosig: resp.checkpoint.cosign(&self.key),
            checkpoint: resp.checkpoint,
        };
        self.fed_post(peer, &base, fed::PATH_COSIGN, &c).await?;
        self.store
            .put_witness(&WitnessRecord {
                origin: peer.clone(),
                witness: self.partner().clone(),
                checkpoint: c.checkpoint.body,
                origin_sig: c.checkpoint.sig,
                cosig: c.cosig,
                recorded_at: self.now(),
            })
            .await?;
        report.cosigned = true;
        Ok(())
    }

    /// Check a checkpoint received from `from` (its origin): the origin's signature, every
    /// disclosure's inclusion proof, and every disclosed head against the entry held at that
    /// position. A contradiction is kept as fork evidence (the held entry and the signed
    /// checkpoint, both signed by the origin). A bad signature or proof is an error, not
    /// evidence: anyone could have made it.
    pub async fn check_checkpoint(
        &self,
        from: &PartnerCode,
        resp: &CheckpointResponse,
    ) -> Result<WitnessReport, NodeError> {
        let claimed: Checkpoint = serde_json::from_str(&resp.checkpoint.body)
            .map_err(|e| NodeError::Conflict(format!("checkpoint: {e}")))?;
        let key = self
            .key_of(&claimed.origin)
            .ok_or_else(|| NodeError::UnknownPartner(claimed.origin.to_string()))?;
        let cp = resp.checkpoint.verify(&key)?;
        let mut report = WitnessReport::default();
        let mut disclosed = BTreeSet::new();
        for d in &resp.disclosed {
            let head = d.verify(&cp)?;
            disclosed.insert(d.log_id.as_str());
            let Some(held) = self.store.log(&d.log_id).await? else {
                report.heads_ahead += 1;
                continue;
            };
            if held.origin != cp.origin {
                return Err(NodeError::Conflict(format!(
                    "checkpoint of {} discloses log {} of {}",
                    cp.origin, d.log_id, held.origin
                )));
            }
            if d.seq == 0 || held.head_seq < d.seq {
                report.heads_ahead += 1;
                continue;
            }
            let at = self.store.entry_hashes(&d.log_id, d.seq, d.seq).await?;
            if at.first().map(|(_, h)| *h) == Some(head) {
                report.heads_matched += 1;
                continue;
            }
            // Two histories: the origin signed the entry held here and a checkpoint that puts
            // another entry at the same position.
            let held_entry = self
                .store
                .entries_after(&d.log_id, d.seq - 1, 1)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| NodeError::Internal("held entry vanished".into()))?;
            self.store
                .record_fork(&ForkEvidence {
                    log_id: d.log_id.clone(),
                    origin: cp.origin.clone(),
                    seq: d.seq,
                    held: held_entry,
                    conflicting: SignedEntry {
                        body: resp.checkpoint.body.clone(),
                        sig: resp.checkpoint.sig.clone(),
                    },
                    received_from: from.clone(),
                    detected_at: self.now(),
                })
                .await?;
            self.metrics.reject("checkpoint_equivocation");
            tracing::error!(origin = %cp.origin, log = %d.log_id, seq = d.seq,
                "EQUIVOCATION: a signed checkpoint contradicts a held entry; evidence kept");
            report.equivocation = true;
        }
        report.undisclosed = self
            .store
            .logs()
            .await?
            .iter()
            .filter(|l| l.origin == cp.origin && l.head_seq > 0)
            .filter(|l| !disclosed.contains(l.log_id.as_str()))
            .count();
        Ok(report)
    }
}
