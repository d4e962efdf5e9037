//! What the notifier has looked at: a cursor per log in the store. Each pass reads every log
//! beyond its cursor, composes what its entries announce, queues it, then moves the cursor, so
//! an entry committed just before the process stopped is announced after the restart (the
//! outbox ignores a notification queued twice: its id is derived from the entry). The first
//! time notifications run on a node, the cursors start at the logs' heads, and an entry signed
//! more than a day ago is never announced: history is not news.

use super::{CAUSES, Event, Settings};
use crate::{Node, NodeError};
use std::collections::HashMap;

/// Entries read per store call.
const PAGE: u32 = 500;
/// Entries read per pass of the notifier (about a second apart).
const PASS_BUDGET: u32 = 5_000;
/// Entries signed longer ago than this many hours are not announced.
pub const FRESH_HOURS: i64 = 24;

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

    /// Compose and queue what the logs hold beyond the notifier's cursors, reading at most
    /// [`PASS_BUDGET`] entries (the rest on the next pass, so deliveries are not held up by a
    /// long backlog). A log that fails is retried on the next pass; the others go on.
    pub(crate) async fn catch_up(&self, settings: &Settings) -> Result<(), NodeError> {
        let cursors: HashMap<String, u64> =
            self.store().notify_cursors().await?.into_iter().collect();
        if cursors.is_empty() {
            return self.start_cursors().await;
        }
        // Entries signed longer ago than this are not announced: a log seen for the first time
        // (a new partner's history, a node rebuilt from its peers) or a backlog after
        // notifications were off is past news, not a notification.
        let fresh = crate::clock::rfc3339(self.clock().now() - time::Duration::hours(FRESH_HOURS));
        let mut budget = PASS_BUDGET;
        for l in self.store().logs().await? {
            let at = cursors.get(&l.log_id).copied().unwrap_or(0);
            if at >= l.head_seq || budget == 0 {
                continue;
            }
            match self
                .catch_up_log(settings, &l.log_id, at, l.head_seq, &fresh, &mut budget)
                .await
            {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(log = %l.log_id, error = %e, "notifications: a log could not be read; retried");
                }
            }
        }
        Ok(())
    }

    async fn catch_up_log(
        &self,
        settings: &Settings,
        log_id: &str,
        mut at: u64,
        head: u64,
        fresh: &str,
        budget: &mut u32,
    ) -> Result<(), NodeError> {
        while at < head && *budget > 0 {
            let page = self
                .store()
                .entries_after(log_id, at, PAGE.min(*budget))
                .await?;
            *budget = budget.saturating_sub(page.len() as u32);
            let mut events = vec![];
            let before = at;
            for e in &page {
                // Stored entries were verified when appended; one that does not parse now
                // announces nothing.
                let Ok(p) = entente_log::parse_entry(e) else {
                    continue;
                };
                at = at.max(p.header.seq);
                if CAUSES.contains(&p.header.kind.as_str()) && p.header.ts.as_str() >= fresh {
                    let payload = p.payload().to_owned();
                    events.push(Event {
                        hash: hex::encode(p.hash),
                        kind: p.header.kind,
                        payload,
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
                .set_notify_cursors(&[(log_id.to_owned(), at)])
                .await?;
        }
        Ok(())
    }
}
