//! The local audit log: reads of TLP:AMBER and above, releases, exports, logins, token
//! creation and admin actions, each record chained to the previous one by SHA-256, so that
//! `entente verify --audit` detects any alteration, deletion or insertion.

use crate::{Node, NodeError};
use entente_store::{AuditRecord, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub fn audit_hash(
    prev: &str,
    seq: u64,
    at: &str,
    actor: &str,
    action: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    // Length-prefixed fields, so no two different records hash alike.
    for f in [prev, &seq.to_string(), at, actor, action, detail] {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditReport {
    pub records: u64,
    pub problems: Vec<String>,
}

impl Node {
    /// Append an audit record. Failure to audit is logged loudly; it does not undo the action
    /// (which is already durable), and the gap is visible to `verify --audit` as missing work.
    pub async fn audit(&self, actor: &str, action: &str, detail: &str) {
        // Bounded: some fields echo what a client sent (M1: 500 KB user names once went in).
        let (actor, action, detail) = (bounded(actor), bounded(action), bounded(detail));
        let (actor, action, detail) = (actor.as_ref(), action.as_ref(), detail.as_ref());
        let _g = self.audit_lock.lock().await;
        for _ in 0..5 {
            let head = match self.store.audit_head().await {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(%e, action, "audit log unavailable");
                    return;
                }
            };
            let (seq, prev) = head
                .map(|h| (h.seq + 1, h.hash))
                .unwrap_or((1, GENESIS.to_owned()));
            let at = self.clock.now_rfc3339();
            let hash = audit_hash(&prev, seq, &at, actor, action, detail);
            let rec = AuditRecord {
                seq,
                at,
                actor: actor.to_owned(),
                action: action.to_owned(),
                detail: detail.to_owned(),
                prev,
                hash,
            };
            match self.store.append_audit(&rec).await {
                Ok(()) => return,
                // Another process sharing the store appended first.
                Err(StoreError::HeadMoved { .. }) => continue,
                Err(e) => {
                    tracing::error!(%e, action, "could not write the audit log");
                    return;
                }
            }
        }
    }

    /// Recompute the chain over every audit record.
    pub async fn verify_audit(&self) -> Result<AuditReport, NodeError> {
        let mut report = AuditReport::default();
        let (mut seq, mut prev) = (0u64, GENESIS.to_owned());
        loop {
            let page = self.store.audit_records(seq, 5000).await?;
            if page.is_empty() {
                break;
            }
            for r in page {
                report.records += 1;
                if r.seq != seq + 1 {
                    report.problems.push(format!(
                        "audit record {} is missing (found {} next)",
                        seq + 1,
                        r.seq
                    ));
                } else if r.prev != prev {
                    report.problems.push(format!(
                        "audit record {}: does not continue the chain",
                        r.seq
                    ));
                } else if r.hash
                    != audit_hash(&r.prev, r.seq, &r.at, &r.actor, &r.action, &r.detail)
                {
                    report
                        .problems
                        .push(format!("audit record {}: altered (hash mismatch)", r.seq));
                }
                seq = r.seq;
                prev = r.hash.clone();
            }
        }
        Ok(report)
    }
}

/// Longest audit field kept, in bytes; longer ones are cut at a character boundary and marked.
const AUDIT_FIELD_MAX: usize = 256;

fn bounded(s: &str) -> std::borrow::Cow<'_, str> {
    if s.len() <= AUDIT_FIELD_MAX {
        return s.into();
    }
    let mut end = AUDIT_FIELD_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len()).into()
}
