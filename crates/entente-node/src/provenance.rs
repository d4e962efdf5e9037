//! Where an item came from, checked on request: the entries of its log that carry it, each
//! signature verified against the origin's pinned key and the chain re-walked from the start.

use crate::auth::Principal;
use crate::{Node, NodeError};
use entente_log::{LogHead, verify_entry};
use serde::{Deserialize, Serialize};

/// Logs longer than this are not re-walked on a page view (`entente verify` checks them all).
const MAX_WALK: u64 = 20_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProvenanceEntry {
    pub seq: u64,
    pub kind: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    pub origin: String,
    pub key_fingerprint: String,
    pub log_id: String,
    pub log_entries: u64,
    /// True when every entry of the log up to its head verified and chained; None when the log
    /// was too long to re-walk here.
    pub verified: Option<bool>,
    pub problem: Option<String>,
    /// The entries of the log that concern this item.
    pub entries: Vec<ProvenanceEntry>,
    /// For a release of an earlier item this node holds and the caller may see: whether the
    /// entry it cites is a signed publication or revision of that item, by the same partner,
    /// with exactly the released text. None otherwise (or when a log is too long to walk here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_matches: Option<bool>,
}

impl Node {
    /// The provenance of an item the caller may see (others: not found).
    pub async fn item_provenance(
        &self,
        who: &Principal,
        item_id: &str,
    ) -> Result<Provenance, NodeError> {
        let it = self.item(who, item_id).await?;
        let log = self
            .store
            .log(&it.log_id)
            .await?
            .ok_or(NodeError::NotFound("item"))?;
        let key = self.key_of(&it.origin);
        let mut p = Provenance {
            origin: it.origin.to_string(),
            key_fingerprint: key.as_ref().map(|k| k.fingerprint()).unwrap_or_default(),
            log_id: it.log_id.clone(),
            log_entries: log.head_seq,
            verified: None,
            problem: None,
            entries: vec![],
            release_matches: None,
        };
        let Some(key) = key else {
            p.verified = Some(false);
            p.problem = Some(format!("no pinned key for {}", it.origin));
            return Ok(p);
        };
        if log.head_seq > MAX_WALK {
            return Ok(p);
        }
        if let Some(r) = &it.released_from
            && let Ok(src) = self.item(who, &r.item_id).await
            && self
                .store
                .log(&src.log_id)
                .await?
                .is_some_and(|l| l.head_seq <= MAX_WALK)
        {
            p.release_matches = self.release_provenance(who, &it).await?;
        }
        let mut head = LogHead::EMPTY;
        let needle = format!("\"{item_id}\"");
        'walk: loop {
            let page = self.store.entries_after(&it.log_id, head.seq, 5000).await?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                let parsed = match verify_entry(e, &key) {
                    Ok(x) if x.header.seq == head.seq + 1 && x.prev_hash() == Some(head.hash) => x,
                    Ok(x) => {
                        p.problem = Some(format!(
                            "entry {} does not continue the chain",
                            x.header.seq
                        ));
                        break 'walk;
                    }
                    Err(err) => {
                        p.problem = Some(err.to_string());
                        break 'walk;
                    }
                };
                if parsed.payload().contains(&needle) {
                    p.entries.push(ProvenanceEntry {
                        seq: parsed.header.seq,
                        kind: parsed.header.kind.clone(),
                        at: parsed.header.ts.clone(),
                    });
                }
                head = LogHead {
                    seq: parsed.header.seq,
                    hash: parsed.hash,
                };
            }
        }
        p.verified = Some(p.problem.is_none() && head == log.head());
        if p.problem.is_none() && head != log.head() {
            p.problem = Some("the stored head does not match the entries".into());
        }
        Ok(p)
    }
}
