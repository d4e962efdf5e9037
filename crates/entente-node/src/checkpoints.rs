//! Witnessed checkpoints. A node signs a checkpoint over the heads of its own logs
//! (`entente_log::checkpoint`) whenever a peer asks, showing that peer only the leaves of the
//! logs it may receive, each with an inclusion proof and, for a log the peer says it holds part
//! of, an RFC 6962 consistency proof that the signed log tree extends those entries. The peer
//! checks every disclosed head and log root against the entries it holds: the same position
//! with another hash is two histories signed by one key, kept as fork evidence (surfaced by
//! `forks`, `verify`, metrics and the admin page) and never cosigned; a log root that does not
//! extend the held entries is refused and never cosigned. A consistent checkpoint is cosigned and
//! the cosignature returned, so a node can show which peers have witnessed which of its states.
//!
//! Gossip: each node passes on the latest checkpoint it cosigned of each peer, disclosing only
//! logs the asking peer may receive (`GET /fed/v1/checkpoint/gossip`), and checks what its
//! peers pass on the same way as a checkpoint fetched from the origin. An origin that shows one
//! peer a history another peer's entries contradict is caught by that other peer, with the
//! origin's signed checkpoint as evidence, even if it never shows that peer the lie itself.

use crate::NodeError;
use crate::node::Node;
use entente_domain::PartnerCode;
use entente_domain::policy;
use entente_log::SignedEntry;
use entente_log::checkpoint::{self, Checkpoint, Disclosed, LogHead, SignedCheckpoint};
use entente_log::merkle::{self, Hash};
use entente_store::{ForkEvidence, WitnessRecord};
use entente_wire as fed;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Most logs a checkpoint request may say it holds (`?held=`), so a request stays small.
pub const MAX_HELD: usize = 10_000;

/// Checkpoint state on the node (`Node::ext`).
#[derive(Default)]
struct CheckpointState {
    /// Entry trees of the logs this node has signed or witnessed checkpoints of.
    log_trees: tokio::sync::Mutex<HashMap<String, LogTree>>,
    /// The latest checkpoint of each peer this node witnessed and cosigned, as shown to it, to
    /// pass on to other peers (`Node::gossip_for`).
    witnessed: std::sync::Mutex<HashMap<PartnerCode, CheckpointResponse>>,
}

/// A log's entry tree as far as this node holds it: one leaf per entry hash, kept so a root or a
/// proof needs only the entries appended since the last one, and the last root computed.
#[derive(Debug, Default)]
pub(crate) struct LogTree {
    leaves: Vec<Hash>,
    root: Option<(usize, Hash)>,
}

impl LogTree {
    fn root(&mut self, n: usize) -> Hash {
        match self.root {
            Some((m, r)) if m == n => r,
            _ => {
                let r = merkle::root(&self.leaves[..n]);
                self.root = Some((n, r));
                r
            }
        }
    }
}

/// The `held` parameter of a checkpoint request: `LOG:SEQ` pairs separated by commas, a log id
/// being 64 lowercase hex digits.
pub fn parse_held(s: &str) -> Result<BTreeMap<String, u64>, NodeError> {
    let bad = |why: &str| {
        NodeError::Domain(entente_domain::DomainError::invalid(
            "held",
            format!("{why}; use LOG:SEQ pairs separated by commas"),
        ))
    };
    let mut out = BTreeMap::new();
    for pair in s.split(',').filter(|p| !p.is_empty()) {
        let (log, seq) = pair
            .split_once(':')
            .ok_or_else(|| bad("a pair has no ':'"))?;
        if log.len() != 64
            || !log
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("a log id is not 64 lowercase hex digits"));
        }
        let seq: u64 = seq
            .parse()
            .map_err(|_| bad("a sequence number is not a number"))?;
        out.insert(log.to_owned(), seq);
        if out.len() > MAX_HELD {
            return Err(bad("too many logs"));
        }
    }
    Ok(out)
}

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

/// Checkpoints of other nodes, as a peer witnessed them, passed on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GossipResponse {
    pub checkpoints: Vec<CheckpointResponse>,
}

/// What checking a peer's gossip found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GossipReport {
    pub peer: String,
    /// Checkpoints checked against the entries held here.
    pub checked: usize,
    /// Disclosed heads that matched held entries.
    pub heads_matched: usize,
    /// Checkpoints that contradicted held entries: evidence kept.
    pub equivocations: usize,
    /// Checkpoints refused (bad signature or proof, unknown origin, inconsistent log tree).
    pub refused: usize,
    pub error: Option<String>,
}

/// What witnessing one peer's checkpoint found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessReport {
    pub peer: String,
    /// Disclosed heads compared with the entries held here, and equal.
    pub heads_matched: usize,
    /// Disclosed heads beyond what is held here yet (checked on a later round).
    pub heads_ahead: usize,
    /// Of those, the ones whose signed log tree was proven (RFC 6962 consistency) to extend
    /// the entries held here.
    pub heads_proven: usize,
    /// Logs of the peer held here that its checkpoint did not disclose.
    pub undisclosed: usize,
    /// A disclosed head contradicts a held entry: evidence kept, not cosigned.
    pub equivocation: bool,
    pub cosigned: bool,
    pub error: Option<String>,
}

impl Node {
    /// This node's checkpoint now, with the disclosures `caller` may see: the heads of this
    /// node's own logs whose audience contains the caller, and nothing of the others. `held`
    /// (log id → entries the caller holds) asks for consistency proofs; entries naming logs not
    /// disclosed to the caller are ignored, so the answer says nothing about them.
    pub async fn checkpoint_for(
        &self,
        caller: &PartnerCode,
        held: &BTreeMap<String, u64>,
    ) -> Result<CheckpointResponse, NodeError> {
        let mut own: Vec<_> = self
            .store
            .logs()
            .await?
            .into_iter()
            .filter(|l| &l.origin == self.partner() && l.head_seq > 0)
            .collect();
        own.sort_by(|a, b| a.log_id.cmp(&b.log_id));
        let state = self.ext::<CheckpointState>();
        let mut trees = state.log_trees.lock().await;
        let mut heads = Vec::with_capacity(own.len());
        for l in &own {
            let tree = self.log_tree(&mut trees, &l.log_id, l.head_seq).await?;
            heads.push(LogHead {
                log_id: l.log_id.clone(),
                seq: l.head_seq,
                head: l.head_hash,
                log_root: tree.root(l.head_seq as usize),
            });
        }
        let (cp, leaves) = Checkpoint::over(self.partner().clone(), &self.now(), &mut heads);
        let mut disclosed = vec![];
        for (i, l) in own.iter().enumerate() {
            if !policy::may_forward(self.partner(), caller, &l.audience) {
                continue;
            }
            let tree = &trees[&l.log_id];
            let upto = &tree.leaves[..l.head_seq as usize];
            disclosed.push(Disclosed::new(
                &heads,
                i,
                &leaves,
                held.get(&l.log_id).copied(),
                upto,
            ));
        }
        Ok(CheckpointResponse {
            checkpoint: cp.sign(&self.key),
            disclosed,
        })
    }

    /// `log_id`'s entry tree with at least `seq` leaves, topped up from the store.
    async fn log_tree<'a>(
        &self,
        trees: &'a mut HashMap<String, LogTree>,
        log_id: &str,
        seq: u64,
    ) -> Result<&'a mut LogTree, NodeError> {
        // Read in slices: one query for a million hashes held every decoded row at once
        // (hundreds of megabytes at the end of a large sync, on both sides). The leaves
        // themselves stay: 32 bytes per entry, allocated once at their final size.
        const SLICE: u64 = 50_000;
        let tree = trees.entry(log_id.to_owned()).or_default();
        let mut have = tree.leaves.len() as u64;
        if have < seq {
            tree.leaves.reserve_exact((seq - have) as usize);
        }
        while have < seq {
            let to = seq.min(have + SLICE);
            let got = self.store.entry_hashes(log_id, have + 1, to).await?;
            if got.len() as u64 != to - have
                || got.iter().zip(have + 1..).any(|((s, _), want)| *s != want)
            {
                return Err(NodeError::Internal(format!(
                    "log {log_id} is missing entries between {have} and {to}"
                )));
            }
            tree.leaves
                .extend(got.iter().map(|(_, h)| merkle::leaf_hash(h)));
            have = to;
        }
        Ok(tree)
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
        // Say how much of each of the peer's logs is held here, to be shown that the peer's
        // signed log trees extend it.
        let held: Vec<String> = self
            .store
            .logs()
            .await?
            .iter()
            .filter(|l| &l.origin == peer && l.head_seq > 0)
            .take(MAX_HELD)
            .map(|l| format!("{}:{}", l.log_id, l.head_seq))
            .collect();
        let path = format!("{}?held={}", fed::PATH_CHECKPOINT, held.join(","));
        let resp: CheckpointResponse = self.fed_get(peer, &path).await?;
        *report = WitnessReport {
            peer: peer.to_string(),
            ..self.check_checkpoint(peer, &resp).await?
        };
        if report.equivocation {
            return Ok(());
        }
        let c = Cosignature {
            cosig: resp.checkpoint.cosign(&self.key),
            checkpoint: resp.checkpoint.clone(),
        };
        self.fed_post(peer, fed::PATH_COSIGN, &c).await?;
        self.ext::<CheckpointState>()
            .witnessed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer.clone(), resp.clone());
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

    /// The checkpoints this node witnessed of nodes other than `caller`, each disclosing only
    /// the logs this node holds whose audience contains both (and none at all when nothing is
    /// left to disclose).
    pub async fn gossip_for(&self, caller: &PartnerCode) -> Result<GossipResponse, NodeError> {
        let witnessed: Vec<_> = self
            .ext::<CheckpointState>()
            .witnessed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(origin, _)| *origin != caller)
            .map(|(o, r)| (o.clone(), r.clone()))
            .collect();
        let logs: HashMap<String, entente_store::LogInfo> = self
            .store
            .logs()
            .await?
            .into_iter()
            .map(|l| (l.log_id.clone(), l))
            .collect();
        let mut checkpoints = vec![];
        for (origin, mut resp) in witnessed {
            resp.disclosed.retain(|d| {
                logs.get(&d.log_id).is_some_and(|l| {
                    l.origin == origin && policy::may_forward(self.partner(), caller, &l.audience)
                })
            });
            if !resp.disclosed.is_empty() {
                checkpoints.push(resp);
            }
        }
        Ok(GossipResponse { checkpoints })
    }

    /// Fetch `peer`'s gossip and check each checkpoint in it against what this node holds,
    /// as [`Node::check_checkpoint`] does for a checkpoint fetched from its origin (a
    /// contradiction is kept as evidence). Nothing is cosigned: the checkpoints were not
    /// shown to this node by their origin.
    pub async fn check_gossip(&self, peer: &PartnerCode) -> GossipReport {
        let mut report = GossipReport {
            peer: peer.to_string(),
            ..Default::default()
        };
        let got = async { self.fed_get::<GossipResponse>(peer, fed::PATH_GOSSIP).await }.await;
        let gossip = match got {
            Ok(g) => g,
            Err(e) => {
                report.error = Some(e.to_string());
                return report;
            }
        };
        for resp in gossip.checkpoints {
            let origin = serde_json::from_str::<Checkpoint>(&resp.checkpoint.body)
                .map(|c| c.origin)
                .ok();
            if origin.as_ref() == Some(self.partner()) {
                continue;
            }
            match self.check_checkpoint(peer, &resp).await {
                Ok(r) => {
                    report.checked += 1;
                    report.heads_matched += r.heads_matched;
                    report.equivocations += usize::from(r.equivocation);
                }
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "gossiped checkpoint refused");
                    report.refused += 1;
                }
            }
        }
        report
    }

    /// Refuse (and count) a disclosure whose signed log tree does not extend the first `held`
    /// entries held here.
    async fn check_log_tree(
        &self,
        cp: &Checkpoint,
        d: &Disclosed,
        v: &checkpoint::VerifiedHead,
        held: u64,
    ) -> Result<(), NodeError> {
        if v.log_root.is_none() {
            return Ok(());
        }
        let state = self.ext::<CheckpointState>();
        let mut trees = state.log_trees.lock().await;
        let mine = self
            .log_tree(&mut trees, &d.log_id, held)
            .await?
            .root(held as usize);
        drop(trees);
        if d.extends(v, held, &mine)? {
            return Ok(());
        }
        self.metrics.reject("checkpoint_inconsistent");
        Err(NodeError::Conflict(format!(
            "the checkpoint of {}'s log {} does not extend the {held} entries held here",
            cp.origin, d.log_id
        )))
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
            let v = d.verify(&cp)?;
            let head = v.head;
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
            if d.seq == 0 {
                report.heads_ahead += 1;
                continue;
            }
            if held.head_seq < d.seq {
                // Ahead of what is held here: the signed log tree must extend it, as the
                // consistency proof shows from the size the request named (a sync since may
                // have added more).
                let from = d.consistency.as_ref().map(|c| c.from);
                if let Some(from) = from.filter(|f| *f <= held.head_seq)
                    && v.log_root.is_some()
                {
                    self.check_log_tree(&cp, d, &v, from).await?;
                    report.heads_proven += 1;
                }
                report.heads_ahead += 1;
                continue;
            }
            let at = self.store.entry_hashes(&d.log_id, d.seq, d.seq).await?;
            if at.first().map(|(_, h)| *h) == Some(head) {
                // The same head: the signed log tree must be the tree of the entries held.
                self.check_log_tree(&cp, d, &v, d.seq).await?;
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
