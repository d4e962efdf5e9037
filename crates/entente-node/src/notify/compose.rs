//! What a committed entry (or an escalation) announces, to whom and how: the duty contact and
//! the webhooks for alerts and escalations, users by their own preferences for alerts, awaited
//! stances, mentions and replies. Every message is built here from metadata only: kind,
//! originating partner, audience, a link — never a title or a text.

use super::{Escalation, Event, KINDS, Settings};
use crate::{Node, NodeError};
use entente_domain::coord::mentions_in;
use entente_domain::fold::Coord;
use entente_domain::payload::Payload;
use entente_store::{NotificationRecord, UserRecord};
use sha2::{Digest, Sha256};

/// What one notification says, before it is addressed.
struct Message {
    /// What caused it (an entry's hash, or the escalation), so the same cause queued twice
    /// is one notification per recipient.
    cause: String,
    kind: &'static str,
    subject: String,
    lines: Vec<String>,
    link: String,
    /// The webhook's JSON fields besides `id`, `kind` and `link`.
    fields: serde_json::Value,
}

fn releasable(a: &entente_domain::Audience) -> String {
    a.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
}

/// Whether an id from a peer's entry may go into a link as it is: ids are made of letters,
/// digits, `-`, `_`, `.` and `:` (uuids, `PARTNER-uuid`, STIX ids); anything else announces
/// nothing rather than put a peer's text into a URL.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// `name@PARTNER` with a name of at most 64 letters, digits, `.`, `_` or `-` and a partner code
/// of capitals: safe to print in an e-mail as it is.
fn plain_user_id(id: &str) -> bool {
    id.rsplit_once('@').is_some_and(|(name, partner)| {
        !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && !partner.is_empty()
            && partner.len() <= 16
            && partner.bytes().all(|b| b.is_ascii_uppercase())
    })
}

/// A user's choice for a kind: `immediately`, `digest` or `off`.
pub(crate) fn mode_of<'a>(u: &'a UserRecord, kind: &str) -> &'a str {
    u.settings
        .notify
        .get(kind)
        .map(String::as_str)
        .or_else(|| KINDS.iter().find(|(k, _)| *k == kind).map(|(_, d)| *d))
        .unwrap_or("off")
}

/// The next time the daily digest goes out (today's hour if still ahead, else tomorrow's).
pub(super) fn next_digest(now: time::OffsetDateTime, hour: u8) -> time::OffsetDateTime {
    let today =
        now.replace_time(time::Time::from_hms(hour.min(23), 0, 0).unwrap_or(time::Time::MIDNIGHT));
    if today > now {
        today
    } else {
        today + time::Duration::days(1)
    }
}

impl Node {
    fn link(&self, path: &str) -> String {
        format!("{}{path}", self.config().public_url.trim_end_matches('/'))
    }

    async fn enabled_users(&self) -> Result<Vec<UserRecord>, NodeError> {
        let mut users = self.store().users().await?;
        users.retain(|u| !u.disabled);
        Ok(users)
    }

    /// Address a message: the duty contact and webhooks when `duty`, and each user (with an
    /// address) whose preference for its kind is not off.
    fn address(
        &self,
        settings: &Settings,
        m: &Message,
        duty: bool,
        users: &[&UserRecord],
    ) -> Vec<NotificationRecord> {
        let now = self.clock().now();
        let at = crate::clock::rfc3339(now);
        let digest_at = crate::clock::rfc3339(next_digest(now, settings.digest_hour_utc));
        let body = format!(
            "{}\n\nThis message carries nothing of what it announces. Open it (sign-in required):\n{}\n",
            m.lines.join("\n"),
            m.link
        );
        let note = |channel: &str, target: &str, recipient: &str, digest: bool, body: String| {
            let id =
                Sha256::digest(format!("{}\n{channel}\n{target}\n{}", m.cause, m.kind).as_bytes());
            NotificationRecord {
                id: hex::encode(&id[..16]),
                created_at: at.clone(),
                due_at: if digest {
                    digest_at.clone()
                } else {
                    at.clone()
                },
                channel: channel.into(),
                target: target.into(),
                recipient: recipient.into(),
                kind: m.kind.into(),
                digest,
                subject: m.subject.clone(),
                body,
                attempts: 0,
                state: "pending".into(),
                last_error: String::new(),
                sent_at: None,
            }
        };
        let mut out = vec![];
        if duty {
            for a in &settings.duty_email {
                out.push(note("email", a, "duty", false, body.clone()));
            }
            for w in &settings.webhooks {
                let mut json = m.fields.clone();
                json["kind"] = m.kind.into();
                json["link"] = m.link.clone().into();
                json["partner"] = self.partner().as_str().into();
                let mut n = note("webhook", &w.url, "webhook", false, String::new());
                json["id"] = n.id.clone().into();
                json["at"] = at.clone().into();
                n.body = json.to_string();
                out.push(n);
            }
        }
        for u in users {
            let Some(addr) = u.settings.email.as_deref().filter(|a| !a.is_empty()) else {
                continue;
            };
            match mode_of(u, m.kind) {
                "immediately" => out.push(note("email", addr, &u.username, false, body.clone())),
                "digest" => out.push(note("email", addr, &u.username, true, body.clone())),
                _ => {}
            }
        }
        out
    }

    /// The notifications a batch of committed entries causes.
    pub(crate) async fn compose(
        &self,
        settings: &Settings,
        events: &[Event],
    ) -> Result<Vec<NotificationRecord>, NodeError> {
        let me = self.partner().clone();
        let users = self.enabled_users().await?;
        let everyone: Vec<&UserRecord> = users.iter().collect();
        let mut out = vec![];
        for ev in events {
            if !ev.audience.contains(&me) {
                continue;
            }
            let Ok(p) = Payload::parse(&ev.kind, &ev.payload) else {
                continue;
            };
            match p {
                // This partner's own alerts are not announced to it: its own staff raised them.
                Payload::AlertRaise(_) if ev.origin == me => {}
                Payload::AlertRaise(r) => {
                    // Announced only if this very entry raised the alert the fold keeps (a
                    // second raise of the same id, kept as evidence, announces nothing).
                    if !valid_id(&r.alert_id)
                        || self.load_alert(&r.alert_id).await?.is_none_or(|a| {
                            a.origin != ev.origin
                                || a.audience != ev.audience
                                || a.raised_at != ev.ts
                                || a.title != r.title
                                || a.text != r.text
                                || a.severity != r.severity
                        })
                    {
                        continue;
                    }
                    let m = Message {
                        // The alert, not the entry: a second raise identical to the first
                        // (same signing time and fields, kept as evidence) passes the check
                        // above, and the outbox keeps one notification per cause.
                        cause: format!("alert {} {}", ev.origin, r.alert_id),
                        kind: "alert",
                        subject: format!(
                            "[Entente] Crisis alert from {} (severity {})",
                            ev.origin,
                            r.severity.label()
                        ),
                        lines: vec![
                            format!(
                                "{} raised a crisis alert, severity {}.",
                                ev.origin,
                                r.severity.label()
                            ),
                            format!("Releasable to: {}.", releasable(&ev.audience)),
                        ],
                        link: self.link(&format!("/ui/alerts/{}", r.alert_id)),
                        fields: serde_json::json!({
                            "from": ev.origin.as_str(),
                            "severity": r.severity.label(),
                            "releasable_to": ev.audience.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                        }),
                    };
                    out.extend(self.address(settings, &m, true, &everyone));
                }
                Payload::StatementDraft(d) if d.required.contains(&me) && ev.origin != me => {
                    let applied = self
                        .store()
                        .statement(&d.statement_id)
                        .await?
                        .is_some_and(|s| {
                            s.origin == ev.origin
                                && s.versions.iter().any(|v| {
                                    v.version == d.version && v.entry == (ev.log.clone(), ev.seq)
                                })
                        });
                    if !applied || !valid_id(&d.statement_id) {
                        continue;
                    }
                    let m = Message {
                        cause: ev.hash.clone(),
                        kind: "stance",
                        subject: format!(
                            "[Entente] Your stance is awaited on a statement from {}",
                            ev.origin
                        ),
                        lines: vec![
                            format!(
                                "{} asks for {me}'s stance on version {} of a statement.",
                                ev.origin, d.version
                            ),
                            format!("Releasable to: {}.", releasable(&ev.audience)),
                        ],
                        link: self.link(&format!("/ui/statements/{}", d.statement_id)),
                        fields: serde_json::json!({}),
                    };
                    out.extend(self.address(settings, &m, false, &everyone));
                }
                Payload::ThreadStart(t) => {
                    out.extend(
                        self.thread_notes(settings, ev, &t.thread_id, &t.post_id, &t.body, &users)
                            .await?,
                    );
                }
                Payload::ThreadPost(t) => {
                    out.extend(
                        self.thread_notes(settings, ev, &t.thread_id, &t.post_id, &t.body, &users)
                            .await?,
                    );
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// A post's mentions of this partner's users, and a reply to the others who took part.
    async fn thread_notes(
        &self,
        settings: &Settings,
        ev: &Event,
        thread_id: &str,
        post_id: &str,
        body: &str,
        users: &[UserRecord],
    ) -> Result<Vec<NotificationRecord>, NodeError> {
        if !valid_id(thread_id) || !valid_id(post_id) {
            return Ok(vec![]);
        }
        let Some(Coord::Thread(t)) = self.load_coord("thread", thread_id).await? else {
            return Ok(vec![]);
        };
        // Only the entry the fold applied as this post (not one it kept as evidence).
        let Some(post) = t.post(post_id).filter(|p| {
            p.partner == ev.origin
                && p.retracted.is_none()
                && p.entry_log == ev.log
                && p.entry_seq == ev.seq
        }) else {
            return Ok(vec![]);
        };
        let me = self.partner().as_str();
        // The mentions in this entry's own text (the fold checked it; a later edit is not this
        // entry), read as the fold reads them.
        let mentioned: Vec<String> = mentions_in(body)
            .into_iter()
            .filter(|m| m.rsplit_once('@').is_some_and(|(_, p)| p == me))
            .collect();
        // The author as shown: a plain `name@PARTNER`, else only the partner (the name is a
        // peer's text and goes into an e-mail sent from this partner's relay).
        let author = if plain_user_id(&post.author) {
            post.author.clone()
        } else {
            post.partner.to_string()
        };
        let user_id = |u: &UserRecord| format!("{}@{me}", u.username);
        let link = self.link(&format!("/ui/discussions/{thread_id}#post-{post_id}"));
        let lines = vec![format!("Releasable to: {}.", releasable(&t.audience))];
        let mention_to: Vec<&UserRecord> = users
            .iter()
            .filter(|u| mentioned.contains(&user_id(u)) && user_id(u) != post.author)
            .collect();
        let reply_to: Vec<&UserRecord> = users
            .iter()
            .filter(|u| {
                let id = user_id(u);
                // Those who posted before this post (in the thread's order).
                id != post.author
                    && !mentioned.contains(&id)
                    && t.posts
                        .iter()
                        .take_while(|p| p.post_id != post_id)
                        .any(|p| p.author == id)
            })
            .collect();
        let mut out = vec![];
        let mention = Message {
            cause: ev.hash.clone(),
            kind: "mention",
            subject: format!("[Entente] {author} mentioned you in a discussion"),
            lines: [
                vec![format!(
                    "{author} mentioned you in a discussion started by {}.",
                    t.origin
                )],
                lines.clone(),
            ]
            .concat(),
            link: link.clone(),
            fields: serde_json::json!({}),
        };
        out.extend(self.address(settings, &mention, false, &mention_to));
        let reply = Message {
            cause: ev.hash.clone(),
            kind: "reply",
            subject: "[Entente] A new reply in a discussion you take part in".into(),
            lines: [
                vec![format!(
                    "{author} replied in a discussion you took part in."
                )],
                lines,
            ]
            .concat(),
            link,
            fields: serde_json::json!({}),
        };
        out.extend(self.address(settings, &reply, false, &reply_to));
        Ok(out)
    }

    /// Milestones past their due date and not done, of the joint actions this partner leads,
    /// for its users who asked for them: once per milestone and due date (a milestone moved to
    /// a later date that passes too is announced again). Checked once a day by the notifier.
    pub(crate) async fn compose_overdue_milestones(
        &self,
        settings: &Settings,
    ) -> Result<Vec<NotificationRecord>, NodeError> {
        let me = self.partner().clone();
        let today = self.clock().now().date().to_string();
        let oldest = (self.clock().now() - time::Duration::days(super::KEEP_DAYS - 1))
            .date()
            .to_string();
        let users = self.enabled_users().await?;
        let everyone: Vec<&UserRecord> = users.iter().collect();
        let mut out = vec![];
        for c in self.coords("action").await? {
            let Coord::Action(a) = c else { continue };
            if !a.leads.contains(&me)
                || !valid_id(&a.action_id)
                || matches!(
                    a.status,
                    entente_domain::coord::ActionStatus::Implemented
                        | entente_domain::coord::ActionStatus::Dropped
                )
            {
                continue;
            }
            for m in &a.milestones {
                // Dates are YYYY-MM-DD, so text order is date order; anything else is skipped.
                let is_date = time::Date::parse(
                    &m.due,
                    time::macros::format_description!("[year]-[month]-[day]"),
                )
                .is_ok();
                // Only milestones that fell due within the delivery log's keep time: the log
                // is what makes the announcement once (older ones were announced already, or
                // before notifications were on).
                if m.done
                    || !is_date
                    || m.due >= today
                    || m.due < oldest
                    || !valid_id(&m.milestone_id)
                {
                    continue;
                }
                let msg = Message {
                    cause: format!("milestone {} {} {}", a.action_id, m.milestone_id, m.due),
                    kind: "milestone",
                    subject: format!(
                        "[Entente] A milestone of a joint action {me} leads is overdue"
                    ),
                    lines: vec![
                        format!(
                            "A milestone due {} of a joint action {me} leads is not marked done.",
                            m.due
                        ),
                        format!("Releasable to: {}.", releasable(&a.audience)),
                    ],
                    link: self.link(&format!("/ui/actions/{}", a.action_id)),
                    fields: serde_json::json!({}),
                };
                out.extend(self.address(settings, &msg, false, &everyone));
            }
        }
        Ok(out)
    }

    /// An escalation goes to the duty contact and the webhooks.
    pub(crate) async fn compose_escalation(
        &self,
        settings: &Settings,
        e: &Escalation,
    ) -> Result<Vec<NotificationRecord>, NodeError> {
        // One per alert, partner and ten-minute window (the alerts module escalates that often).
        let window = self.clock().now().unix_timestamp() / 600;
        let m = Message {
            cause: format!("escalation {} {} {window}", e.alert_id, e.partner),
            kind: "escalation",
            subject: format!(
                "[Entente] Escalation: {} has not acknowledged an alert of {}",
                e.partner,
                self.partner()
            ),
            lines: vec![
                format!(
                    "{} has not acknowledged {}'s crisis alert by its deadline.",
                    e.partner,
                    self.partner()
                ),
                format!("Releasable to: {}.", releasable(&e.audience)),
            ],
            link: self.link(&format!("/ui/alerts/{}", e.alert_id)),
            fields: serde_json::json!({
                "overdue": e.partner,
                "releasable_to": e.audience.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            }),
        };
        Ok(self.address(settings, &m, true, &[]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_user_ids_go_into_an_e_mail() {
        assert!(plain_user_id("anna.k@EU"));
        assert!(plain_user_id("admin@NATO"));
        for bad in [
            "Click https://evil.example/x now@NATO",
            "anna\n\nSubject: hi@EU",
            "anna\u{202e}@EU",
            "anna@eu",
            "@EU",
            "anna@",
            "anna",
        ] {
            assert!(!plain_user_id(bad), "{bad}");
        }
        assert!(!plain_user_id(&format!("{}@EU", "a".repeat(65))));
    }

    #[test]
    fn the_digest_goes_out_at_the_next_digest_hour() {
        let t = time::macros::datetime!(2026-12-05 06:30 UTC);
        assert_eq!(
            next_digest(t, 7),
            time::macros::datetime!(2026-12-05 07:00 UTC)
        );
        let t = time::macros::datetime!(2026-12-05 07:00 UTC);
        assert_eq!(
            next_digest(t, 7),
            time::macros::datetime!(2026-12-06 07:00 UTC)
        );
    }
}
