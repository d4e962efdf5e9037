//! Crisis alerts on a node: raising (officers), automatic signed delivery receipts when an
//! alert arrives, acknowledgements by recipients' officers, the per-partner board, and
//! escalation of overdue partners (re-notified on every sync tick, listed by `overdue`).

use crate::auth::Principal;
use crate::{Node, NodeError};
use entente_domain::alert::*;
use entente_domain::payload::Payload;
use entente_domain::{PartnerCode, Role};
use entente_log::ParsedEntry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use entente_domain::fold::ALERT_KIND as KIND;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewAlert {
    pub format_id: String,
    pub severity: Severity,
    pub title: String,
    #[serde(default)]
    pub text: String,
    pub ack_deadline: String,
    /// Absent: every member of the format.
    #[serde(default)]
    pub releasable_to: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertView {
    pub alert: AlertState,
    pub board: BTreeMap<PartnerCode, RecipientStatus>,
    pub overdue: Vec<PartnerCode>,
    /// Whether this node's partner still has to acknowledge.
    pub awaiting_our_ack: bool,
}

impl Node {
    pub(crate) async fn load_alert(&self, id: &str) -> Result<Option<AlertState>, NodeError> {
        self.load_object(KIND, id).await
    }

    fn alert_view(&self, a: AlertState) -> AlertView {
        let now = self.clock.now_rfc3339();
        let me = self.partner();
        AlertView {
            board: a.board(&now),
            overdue: a.overdue(&now),
            awaiting_our_ack: &a.origin != me && !a.acks.contains_key(me),
            alert: a,
        }
    }

    pub async fn raise_alert(&self, who: &Principal, n: NewAlert) -> Result<AlertView, NodeError> {
        who.require(Role::Officer, "raise alerts")?;
        let f = self
            .store
            .format(&n.format_id)
            .await?
            .ok_or(NodeError::NotFound("format"))?;
        let aud = self.audience_in(&f, n.releasable_to.as_deref())?;
        let mut r = AlertRaise {
            alert_id: crate::new_id(),
            format_id: f.format_id,
            severity: n.severity,
            title: n.title,
            text: n.text,
            ack_deadline: n.ack_deadline,
            author: who.user_id(),
        };
        validate_raise(&mut r, &self.clock.now_rfc3339())?;
        let id = r.alert_id.clone();
        self.publish(&aud, &[Payload::AlertRaise(r)]).await?;
        self.alert(who, &id).await
    }

    /// A human acknowledgement by an officer of a recipient partner.
    pub async fn acknowledge_alert(
        &self,
        who: &Principal,
        id: &str,
        note: &str,
    ) -> Result<AlertView, NodeError> {
        who.require(Role::Officer, "acknowledge alerts")?;
        let a = self
            .load_alert(id)
            .await?
            .ok_or(NodeError::NotFound("alert"))?;
        if &a.origin == self.partner() || !a.audience.contains(self.partner()) {
            return Err(NodeError::Forbidden(
                "acknowledge: this partner is not a recipient of the alert",
            ));
        }
        if a.acks.contains_key(self.partner()) {
            return Err(NodeError::Conflict("already acknowledged".into()));
        }
        let ack = AlertAck {
            alert_id: id.to_owned(),
            by: who.user_id(),
            note: note.trim().to_owned(),
        };
        self.publish(&a.audience, &[Payload::AlertAck(ack)]).await?;
        self.alert(who, id).await
    }

    pub async fn alert(&self, _who: &Principal, id: &str) -> Result<AlertView, NodeError> {
        let a = self
            .load_alert(id)
            .await?
            .filter(|a| a.audience.contains(self.partner()))
            .ok_or(NodeError::NotFound("alert"))?;
        Ok(self.alert_view(a))
    }

    pub async fn alerts(&self, _who: &Principal) -> Result<Vec<AlertView>, NodeError> {
        let mut out = vec![];
        for s in self.store.objects(KIND).await? {
            let a: AlertState =
                serde_json::from_str(&s).map_err(|e| NodeError::Internal(e.to_string()))?;
            if a.audience.contains(self.partner()) {
                out.push(self.alert_view(a));
            }
        }
        out.sort_by(|a, b| b.alert.raised_at.cmp(&a.alert.raised_at));
        Ok(out)
    }

    /// After entries from a peer are committed: sign a delivery receipt for every alert that
    /// just arrived, so the sender sees it delivered without anyone acting.
    pub(crate) async fn receipts_for(&self, entries: &[ParsedEntry]) {
        let _one_at_a_time = self.owed_lock.lock().await;
        for e in entries {
            if e.header.kind != "alert.raise" || &e.header.origin == self.partner() {
                continue;
            }
            let Ok(Payload::AlertRaise(r)) = Payload::parse(&e.header.kind, e.payload()) else {
                continue;
            };
            match self.load_alert(&r.alert_id).await {
                Ok(Some(a)) if !a.receipts.contains_key(self.partner()) => {
                    let receipt = Payload::AlertReceipt(AlertReceipt {
                        alert_id: r.alert_id.clone(),
                    });
                    if let Err(err) = self.publish(&a.audience, &[receipt]).await {
                        tracing::warn!(alert = %r.alert_id, %err, "could not sign a delivery receipt");
                    }
                }
                _ => {}
            }
        }
    }

    /// Sign the delivery receipts this node owes: alerts it holds from others without its own
    /// receipt. `receipts_for` signs them as alerts arrive; this catches the ones whose
    /// receipt a crash prevented between committing the alert and signing (run after every
    /// sync round, so also at start). Returns how many were signed.
    pub async fn sign_owed_receipts(&self) -> Result<usize, NodeError> {
        let _one_at_a_time = self.owed_lock.lock().await;
        let mut signed = 0;
        for s in self.store.objects(KIND).await? {
            let a: AlertState =
                serde_json::from_str(&s).map_err(|e| NodeError::Internal(e.to_string()))?;
            if &a.origin == self.partner()
                || !a.audience.contains(self.partner())
                || a.receipts.contains_key(self.partner())
            {
                continue;
            }
            let receipt = Payload::AlertReceipt(AlertReceipt {
                alert_id: a.alert_id.clone(),
            });
            self.publish(&a.audience, &[receipt]).await?;
            tracing::info!(alert = %a.alert_id, "signed a delivery receipt owed since a restart");
            signed += 1;
        }
        Ok(signed)
    }

    /// Overdue recipients of this node's own alerts, to be re-notified and flagged.
    pub async fn overdue_alerts(&self) -> Result<Vec<(String, Vec<PartnerCode>)>, NodeError> {
        let now = self.clock.now_rfc3339();
        let mut out = vec![];
        for s in self.store.objects(KIND).await? {
            let a: AlertState =
                serde_json::from_str(&s).map_err(|e| NodeError::Internal(e.to_string()))?;
            let overdue = a.overdue(&now);
            if !overdue.is_empty() && a.audience.contains(self.partner()) {
                out.push((a.alert_id, overdue));
            }
        }
        Ok(out)
    }
}

/// When each (alert, partner) escalation was last reported to the operator (`Node::ext`).
#[derive(Default)]
struct Escalations(
    std::sync::Mutex<std::collections::HashMap<(String, PartnerCode), std::time::Instant>>,
);

/// What alerts do at the core's fixed points: sign a delivery receipt for every alert that
/// arrives, sign the receipts still owed after each sync round, and escalate overdue partners
/// on each tick. Registered when the node is assembled (`Node::new`).
pub struct AlertHooks;

#[async_trait::async_trait]
impl crate::Hook for AlertHooks {
    async fn received(&self, node: &Node, entries: &[ParsedEntry]) {
        node.receipts_for(entries).await;
    }

    async fn round_done(&self, node: &Node) {
        if let Err(e) = node.sign_owed_receipts().await {
            tracing::warn!(error = %e, "could not sign owed delivery receipts");
        }
    }

    fn tick(&self, node: &std::sync::Arc<Node>) {
        node.escalate_overdue();
    }
}

impl Node {
    /// Re-notify partners that are overdue on this node's alerts (they pull at once if
    /// reachable), and log each one so operators see the escalation.
    pub(crate) fn escalate_overdue(self: &std::sync::Arc<Self>) {
        let node = std::sync::Arc::clone(self);
        tokio::spawn(async move {
            let Ok(list) = node.overdue_alerts().await else {
                return;
            };
            for (id, partners) in list {
                let Ok(Some(a)) = node.load_alert(&id).await else {
                    continue;
                };
                if &a.origin != node.partner() {
                    continue;
                }
                for p in partners {
                    // Re-notify on every tick; tell the operator once every ten minutes.
                    let due = {
                        let state = node.ext::<Escalations>();
                        let mut seen = state.0.lock().unwrap_or_else(|e| e.into_inner());
                        let last = seen.get(&(id.clone(), p.clone())).copied();
                        let due =
                            last.is_none_or(|t| t.elapsed() > std::time::Duration::from_secs(600));
                        if due {
                            seen.insert((id.clone(), p.clone()), std::time::Instant::now());
                        }
                        due
                    };
                    if due {
                        tracing::warn!(alert = %id, partner = %p, "alert acknowledgement overdue: escalating");
                        node.notify_escalation(crate::notify::Escalation {
                            alert_id: id.clone(),
                            partner: p.to_string(),
                            audience: a.audience.clone(),
                        });
                    }
                    node.announce(
                        &entente_log::LogDescriptor::new(a.origin.clone(), a.audience.clone()),
                        0,
                        None,
                    );
                }
            }
        });
    }
}
