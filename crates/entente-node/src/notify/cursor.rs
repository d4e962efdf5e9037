//! What the notifier has looked at: a cursor per log in the store. Each pass reads every log
//! beyond its cursor, composes what its entries announce, queues it, then moves the cursor, so
//! an entry committed just before the process stopped is announced after the restart (the
//! outbox ignores a notification queued twice: its id is derived from the entry). The first
//! time notifications run on a node, the cursors start at the logs' heads: history is not
//! announced.

use super::{CAUSES, Event, Settings};
use crate::{Node, NodeError};
use std::collections::HashMap;

/// Entries read per store call.
const PAGE: u32 = 500;

impl Node {
    /// The first time notifications run on this node, start every cursor at its log's head.
    /// The empty log id marks that they were started, so a log that arrives later is read from
    /// its first entry.
    pub(crate) async fn start_cursors(&self) -> Result<(), NodeError> {
        if !self.store().notify_cursors().await?.is_empty() {
            return Ok(());
        }
        let mut start: Vec<(String, u64)> = self
            .store()
            .logs()
            .await?
            .iter()
            .map(|l| (l.log_id.clone(), l.head_seq))
            .collect();
        start.push((String::new(), 0));
        Ok(self.store().set_notify_cursors(&start).await?)
    }

    /// Compose and queue what the logs hold beyond the notifier's cursors.
    pub(crate) async fn catch_up(&self, settings: &Settings) -> Result<(), NodeError> {
        let cursors: HashMap<String, u64> =
            self.store().notify_cursors().await?.into_iter().collect();
        if cursors.is_empty() {
            return self.start_cursors().await;
        }
        for l in self.store().logs().await? {
            let mut at = cursors.get(&l.log_id).copied().unwrap_or(0);
            while at < l.head_seq {
                let page = self.store().entries_after(&l.log_id, at, PAGE).await?;
                let mut events = vec![];
                let before = at;
                for e in &page {
                    // Stored entries were verified when appended; one that does not parse now
                    // announces nothing.
                    let Ok(p) = entente_log::parse_entry(e) else {
                        continue;
                    };
                    at = at.max(p.header.seq);
                    if CAUSES.contains(&p.header.kind.as_str()) {
                        events.push(Event {
                            hash: hex::encode(p.hash),
                            kind: p.header.kind,
                            payload: p.payload,
                            origin: p.header.origin,
                            audience: p.header.audience,
                            log: p.header.log,
                            seq: p.header.seq,
                            ts: p.header.ts,
                        });
                    }
                }
                if at == before {
                    break;
                }
                if !events.is_empty() {
                    let n = self.compose(settings, &events).await?;
                    if !n.is_empty() {
                        self.store().queue_notifications(&n).await?;
                    }
                }
                self.store()
                    .set_notify_cursors(&[(l.log_id.clone(), at)])
                    .await?;
            }
        }
        Ok(())
    }
}
