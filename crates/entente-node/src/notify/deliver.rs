//! Delivering the outbox: e-mail through the partner's relay (lettre over STARTTLS with
//! rustls), webhooks as signed POSTs (HMAC-SHA256 over the exact body, in
//! `X-Entente-Signature: sha256=<hex>`), a digest as one e-mail per address with everything due
//! for it, and every transient failure retried with exponential back-off (1 s doubling to
//! 10 min) until the last of [`MAX_ATTEMPTS`], kept in the delivery log with its error. A
//! permanent failure is not retried, four hours of retries would not change the answer: a
//! user's mailbox the relay says does not exist (a 5xx with an addressing status, 5.1.x), an
//! address that does not parse, a webhook answering 410 Gone. Anything else — the relay refusing
//! us (login, quota, policy), a webhook mid-deploy answering 404 — is retried, and a duty
//! contact's e-mail is always retried. E-mails to one address are paced
//! (`Settings::email_min_interval`): what falls due meanwhile goes out together in one message,
//! so a flood of alerts from a peer is not a flood of e-mails at the duty desk.

use super::Settings;
use crate::{Node, NodeError};
use entente_store::NotificationRecord;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Why a delivery failed, and whether trying again could help.
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: String,
    /// The receiver refused for good (an unknown mailbox, a webhook answering 404).
    pub permanent: bool,
}

impl Failure {
    fn transient(reason: impl Into<String>) -> Failure {
        Failure {
            reason: reason.into(),
            permanent: false,
        }
    }

    fn permanent(reason: impl Into<String>) -> Failure {
        Failure {
            reason: reason.into(),
            permanent: true,
        }
    }
}

/// Whether a webhook's HTTP status means "do not try again": only 410 Gone. A receiver that
/// is down often answers 4xx too (a 404 from an ingress with no backend mid-deploy, a 401 while
/// a secret is rotated), and an alert must not be dropped for it.
pub fn permanent_status(status: u16) -> bool {
    status == 410
}

/// Whether a relay's refusal is about the mailbox itself: a permanent (5xx) reply carrying an
/// addressing status (RFC 3463 `5.1.x`: no such user, bad address). A 5xx about us — login,
/// quota, policy, a blocklist — is the relay's state, which an operator fixes: retried.
fn mailbox_refused(e: &lettre::transport::smtp::Error) -> bool {
    e.is_permanent() && e.to_string().contains(": 5.1.")
}

/// When the last e-mail went to each address (this process's memory: after a restart the
/// first e-mail to an address goes out at once).
#[derive(Debug, Default)]
pub(crate) struct Pacing {
    last: HashMap<String, time::OffsetDateTime>,
}

/// Attempts before a notification is given up (about four hours of retries).
pub const MAX_ATTEMPTS: u32 = 30;

/// The wait before the next attempt after `attempts` failures.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.saturating_sub(1).min(10)).min(Duration::from_secs(600))
}

/// HMAC-SHA256 of a webhook body under its secret, as the receiver recomputes it.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, body).as_ref())
    )
}

/// The mail relay's client.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl Mailer {
    /// `None` when no relay is configured.
    pub fn new(s: &Settings) -> Result<Option<Mailer>, String> {
        let Some(m) = &s.smtp else { return Ok(None) };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&m.host)
            .port(m.port)
            .timeout(Some(Duration::from_secs(10)));
        if m.starttls {
            let mut tp = TlsParameters::builder(m.host.clone());
            if let Some(pem) = &m.ca_pem {
                tp =
                    tp.add_root_certificate(Certificate::from_pem(pem).map_err(|e| e.to_string())?);
            }
            b = b.tls(Tls::Required(tp.build_rustls().map_err(|e| e.to_string())?));
        }
        if let (Some(u), Some(p)) = (&m.username, &m.password) {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(Some(Mailer {
            transport: b.build(),
            from: m.from.parse().map_err(|e| format!("notify.from: {e}"))?,
        }))
    }

    async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), Failure> {
        let msg = lettre::Message::builder()
            .from(self.from.clone())
            .to(to
                .parse()
                .map_err(|e| Failure::permanent(format!("{to}: {e}")))?)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| Failure::permanent(e.to_string()))?;
        self.transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| Failure {
                permanent: mailbox_refused(&e),
                reason: e.to_string(),
            })
    }
}

/// The client webhooks are called with: the system's CA certificates, no redirects, short
/// timeouts (a slow receiver is retried, it does not hold the outbox up).
pub fn webhook_client() -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    let tls = rustls::ClientConfig::builder_with_provider(entente_tls::provider())
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    let b = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .http1_only();
    match tls {
        Ok(tls) => b.tls_backend_preconfigured(tls),
        Err(_) => b,
    }
    .build()
    .unwrap_or_default()
}

impl Node {
    /// Deliver what is due: digests grouped per address, the rest one by one.
    pub(crate) async fn deliver_due(
        &self,
        mailer: Option<&Mailer>,
        http: &reqwest::Client,
        settings: &Settings,
        pacing: &mut Pacing,
    ) -> Result<(), NodeError> {
        let at = self.clock().now();
        let now = crate::clock::rfc3339(at);
        let due = self.store().due_notifications(&now, 200).await?;
        // A user's e-mail goes out only while they are enabled, keep that address and still
        // want that kind: a notification queued before an administrator disabled them, or
        // before they changed their mind, is cancelled, not sent.
        // The duty contact is "duty" with an address of the settings; anything else is a user's.
        let is_user = |n: &NotificationRecord| {
            n.channel == "email"
                && !(n.recipient == "duty" && settings.duty_email.contains(&n.target))
        };
        let users = if due.iter().any(is_user) {
            self.store().users().await?
        } else {
            vec![]
        };
        let mut digests: BTreeMap<String, Vec<NotificationRecord>> = BTreeMap::new();
        let mut mails: BTreeMap<String, Vec<NotificationRecord>> = BTreeMap::new();
        let mut calls = vec![];
        for mut n in due {
            if is_user(&n) {
                let mode = users
                    .iter()
                    .find(|u| {
                        u.username == n.recipient
                            && !u.disabled
                            && u.settings.email.as_deref() == Some(n.target.as_str())
                    })
                    .map(|u| super::compose::mode_of(u, &n.kind));
                match mode {
                    None | Some("off") => {
                        n.state = "cancelled".into();
                        n.last_error =
                            "the user is disabled or no longer asks for this notification".into();
                        self.store().update_notification(&n).await?;
                        continue;
                    }
                    // The user changed how they want this kind since it was queued: it goes
                    // the new way (at once, or with the next digest), it is not lost.
                    Some(m) if (m == "digest") != n.digest => {
                        n.digest = m == "digest";
                        if n.digest {
                            n.due_at = crate::clock::rfc3339(super::compose::next_digest(
                                at,
                                settings.digest_hour_utc,
                            ));
                            self.store().update_notification(&n).await?;
                            continue;
                        }
                    }
                    Some(_) => {}
                }
            }
            if n.digest {
                digests.entry(n.target.clone()).or_default().push(n);
                continue;
            }
            match n.channel.as_str() {
                "email" => mails.entry(n.target.clone()).or_default().push(n),
                "webhook" => calls.push(n),
                other => {
                    let why = Failure::permanent(format!("unknown channel {other}"));
                    self.record_attempt(n, Err(why)).await?;
                }
            }
        }
        for (to, list) in mails {
            // Paced: an address that had an e-mail less than the interval ago gets what is due
            // for it together, when the interval has passed.
            if let Some(last) = pacing.last.get(&to)
                && at < *last + settings.email_min_interval
            {
                let next = crate::clock::rfc3339(*last + settings.email_min_interval);
                for mut n in list {
                    n.due_at = next.clone();
                    self.store().update_notification(&n).await?;
                }
                continue;
            }
            let r = match (mailer, list.as_slice()) {
                (None, _) => Err(Failure::transient("no mail relay is configured")),
                (Some(m), [n]) => m.send(&to, &n.subject, n.body.clone()).await,
                (Some(m), _) => m.send(&to, &together_subject(&list), together(&list)).await,
            };
            if r.is_ok() {
                pacing.last.insert(to, at);
            }
            for n in list {
                // A duty contact's e-mail is never given up early (a refusal that looks final
                // may be the relay's misconfiguration; the duty desk must hear of the alert).
                let r = match &r {
                    Err(f) if f.permanent && n.recipient == "duty" => {
                        Err(Failure::transient(f.reason.clone()))
                    }
                    r => r.clone(),
                };
                self.record_attempt(n, r).await?;
            }
        }
        // Webhooks after the e-mails: a receiver that hangs (10 s per call) does not hold up
        // the duty desk's e-mail.
        for n in calls {
            let r = self.call_webhook(http, settings, &n).await;
            self.record_attempt(n, r).await?;
        }
        for (to, list) in digests {
            let subject = format!(
                "[Entente] Your daily digest: {} notification(s)",
                list.len()
            );
            let r = match mailer {
                Some(m) => m.send(&to, &subject, together(&list)).await,
                None => Err(Failure::transient("no mail relay is configured")),
            };
            for n in list {
                self.record_attempt(n, r.clone()).await?;
            }
        }
        Ok(())
    }

    async fn call_webhook(
        &self,
        http: &reqwest::Client,
        settings: &Settings,
        n: &NotificationRecord,
    ) -> Result<(), Failure> {
        let Some(w) = settings.webhooks.iter().find(|w| w.url == n.target) else {
            return Err(Failure::permanent("this webhook is no longer configured"));
        };
        let r = http
            .post(&w.url)
            .header("content-type", "application/json")
            .header(
                "x-entente-signature",
                signature(&w.secret, n.body.as_bytes()),
            )
            .header("x-entente-delivery", &n.id)
            .body(n.body.clone())
            .send()
            .await
            .map_err(|e| Failure::transient(e.to_string()))?;
        let status = r.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(Failure {
                reason: format!("the receiver answered {status}"),
                permanent: permanent_status(status.as_u16()),
            })
        }
    }

    async fn record_attempt(
        &self,
        mut n: NotificationRecord,
        r: Result<(), Failure>,
    ) -> Result<(), NodeError> {
        let now = self.clock().now();
        n.attempts += 1;
        match r {
            Ok(()) => {
                n.state = "sent".into();
                n.sent_at = Some(crate::clock::rfc3339(now));
                n.last_error.clear();
            }
            Err(e) => {
                tracing::info!(id = %n.id, channel = %n.channel, attempts = n.attempts, error = %e.reason, permanent = e.permanent, "notification not delivered");
                n.last_error = e.reason.chars().take(500).collect();
                if e.permanent {
                    n.state = "failed".into();
                    n.last_error
                        .insert_str(0, "refused for good, not retried: ");
                } else if n.attempts >= MAX_ATTEMPTS {
                    n.state = "failed".into();
                } else {
                    n.due_at = crate::clock::rfc3339(now + backoff(n.attempts));
                }
            }
        }
        Ok(self.store().update_notification(&n).await?)
    }
}

/// The subject of several notifications in one message: the most urgent one's (a crisis alert
/// or an escalation, which duty desks route on), and how many more.
fn together_subject(list: &[NotificationRecord]) -> String {
    let lead = list
        .iter()
        .find(|n| n.kind == "alert" || n.kind == "escalation")
        .unwrap_or(&list[0]);
    format!("{} (+{} more)", lead.subject, list.len() - 1)
}

/// Several notifications in one message: each one's subject and text, one after the other.
fn together(list: &[NotificationRecord]) -> String {
    list.iter()
        .map(|n| format!("— {}\n{}", n.subject, n.body))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_410_gone_is_final_for_a_webhook() {
        assert!(permanent_status(410));
        for s in [
            400, 401, 403, 404, 408, 422, 425, 429, 500, 502, 503, 504, 302,
        ] {
            assert!(!permanent_status(s), "{s}");
        }
    }

    #[test]
    fn back_off_doubles_to_ten_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(20), Duration::from_secs(600));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
