//! Notifications that reach people: when an alert is raised to this partner, a stance is
//! awaited from it, a user is mentioned, a thread they follow gets a reply or a milestone of a
//! joint action it leads is overdue (looked at once a day), this node queues
//! e-mails (to the partner's 24/7 duty contact and to users who asked for them, at once or in a
//! daily digest) and signed webhook calls in a durable outbox (`notifications` in the store),
//! and delivers them with retries and back-off (`deliver`). A notification carries no content
//! of what it announces — no title, no text — only its kind, the partner it came from, the
//! partners it is releasable to and a link, so it never holds more than its recipient may see
//! nor anything above TLP:GREEN. Only what the fold applied is announced (an entry kept as
//! evidence is not). Does not decide who may see what: the linked page does, as always.

mod compose;
mod cursor;
pub mod deliver;

use crate::{Node, NodeError};
use entente_log::ParsedEntry;
/// One notification in the outbox and the delivery log.
pub use entente_store::NotificationRecord;
use std::sync::{Arc, OnceLock};

// The settings and the vocabulary of preferences are configuration (the core validates users'
// preferences against them); this module uses them under their short names.
pub use crate::config::{
    NOTIFY_KINDS as KINDS, NOTIFY_MODES as MODES, NotifySettings as Settings, Smtp, Webhook,
};

/// One committed entry the notifier looks at (only kinds that can cause a notification).
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub kind: String,
    pub payload: String,
    pub origin: entente_domain::PartnerCode,
    pub audience: entente_domain::Audience,
    pub hash: String,
    /// Where the entry is (log id, sequence number) and when its origin signed it: the fold's
    /// state names the entry it applied, and only that entry is announced.
    pub log: String,
    pub seq: u64,
    pub ts: String,
}

/// Days the delivery log keeps a notification once it is sent, failed or cancelled.
pub const KEEP_DAYS: i64 = 30;

/// Kinds of entry that may cause a notification.
const CAUSES: [&str; 4] = [
    "alert.raise",
    "statement.draft",
    "thread.start",
    "thread.post",
];

/// An escalation of this partner's alert (a partner is overdue acknowledging it).
#[derive(Debug, Clone)]
pub(crate) struct Escalation {
    pub alert_id: String,
    pub partner: String,
    pub audience: entente_domain::Audience,
}

/// The notifier's wake-ups, set when notifications are configured: a commit that may cause a
/// notification wakes it (what it announces is read back from the store, from its cursors, so
/// nothing committed is missed if the process stops before the notifier looked), and
/// escalations are handed over as they happen (they recur every ten minutes while overdue).
pub(crate) struct Wake {
    entries: Arc<tokio::sync::Notify>,
    escalations: tokio::sync::mpsc::UnboundedSender<Escalation>,
}

#[derive(Default)]
pub(crate) struct Slot(OnceLock<Wake>);

/// Wakes the notifier after a commit holding an entry that may cause a notification.
pub(crate) struct NotifyHook;

#[async_trait::async_trait]
impl crate::Hook for NotifyHook {
    fn committed(
        &self,
        node: &Node,
        _projections: &mut Vec<entente_store::Projection>,
        entries: &[ParsedEntry],
    ) {
        if let Some(w) = node.ext::<Slot>().0.get()
            && entries
                .iter()
                .any(|e| CAUSES.contains(&e.header.kind.as_str()))
        {
            w.entries.notify_one();
        }
    }
}

impl Node {
    /// Start the notifier if notifications are configured: the hook that hands it entries and
    /// the task that composes, queues and delivers. The task holds the node weakly.
    pub(crate) async fn start_notifier(self: &Arc<Self>) -> Result<(), NodeError> {
        let Some(settings) = self.config().notify.clone() else {
            return Ok(());
        };
        // Before anything is committed: the cursors start at the heads the first time.
        self.start_cursors().await?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Escalation>();
        let wake = Arc::new(tokio::sync::Notify::new());
        let slot = Wake {
            entries: wake.clone(),
            escalations: tx,
        };
        if self.ext::<Slot>().0.set(slot).is_err() {
            return Ok(());
        }
        self.add_hook(Arc::new(NotifyHook));
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mailer = match deliver::Mailer::new(&settings) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(error = %e, "notifications: the mail relay settings do not work; e-mail is off");
                    None
                }
            };
            let http = deliver::webhook_client();
            // Retries and digests fall due with time: look every second.
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut checked: Option<time::Date> = None;
            let mut pacing = deliver::Pacing::default();
            loop {
                let mut escalations = vec![];
                tokio::select! {
                    _ = wake.notified() => {}
                    e = rx.recv() => match e {
                        Some(e) => escalations.push(e),
                        None => return,
                    },
                    _ = tick.tick() => {}
                }
                while let Ok(e) = rx.try_recv() {
                    escalations.push(e);
                }
                let Some(node) = weak.upgrade() else { return };
                // Overdue milestones: looked at once a day (at start, then when the date changes).
                let today = node.clock().now().date();
                if checked != Some(today) {
                    checked = Some(today);
                    let n = node.compose_overdue_milestones(&settings).await;
                    node.queue_composed(n).await;
                    // The delivery log keeps what is done for KEEP_DAYS days.
                    let cut =
                        crate::clock::rfc3339(node.clock().now() - time::Duration::days(KEEP_DAYS));
                    if let Err(e) = node.store().prune_notifications(&cut).await {
                        tracing::warn!(error = %e, "notifications: could not prune the log");
                    }
                }
                if let Err(e) = node.catch_up(&settings).await {
                    tracing::warn!(error = %e, "notifications: could not read what was committed");
                }
                for x in escalations {
                    let n = node.compose_escalation(&settings, &x).await;
                    node.queue_composed(n).await;
                }
                if let Err(e) = node
                    .deliver_due(mailer.as_ref(), &http, &settings, &mut pacing)
                    .await
                {
                    tracing::warn!(error = %e, "notifications: delivery pass failed");
                }
            }
        });
        Ok(())
    }

    /// Put composed notifications in the outbox (a failure is logged; the cause is composed
    /// again on the next pass only for entries, whose cursor has not moved).
    pub(crate) async fn queue_composed(&self, n: Result<Vec<NotificationRecord>, NodeError>) {
        match n {
            Ok(n) if n.is_empty() => {}
            Ok(n) => {
                if let Err(e) = self.store().queue_notifications(&n).await {
                    tracing::warn!(error = %e, "notifications: could not queue");
                }
            }
            Err(e) => tracing::warn!(error = %e, "notifications: could not compose"),
        }
    }

    /// Tell the duty contact that a partner is overdue acknowledging this partner's alert.
    pub(crate) fn notify_escalation(&self, e: Escalation) {
        if let Some(w) = self.ext::<Slot>().0.get() {
            let _ = w.escalations.send(e);
        }
    }

    /// The delivery log: the latest notifications, newest first (administrators).
    pub async fn notification_log(
        &self,
        who: &crate::auth::Principal,
        limit: u32,
    ) -> Result<Vec<entente_store::NotificationRecord>, NodeError> {
        who.require(entente_domain::Role::Admin, "read the delivery log")?;
        Ok(self.store().notifications(limit).await?)
    }
}
