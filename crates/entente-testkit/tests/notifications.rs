//! Notifications that reach people: an alert raised at NATO to {EU, NATO, JPN} is an e-mail at
//! EU's and JPN's duty contacts (EU's relay over STARTTLS) and a signed webhook call, each
//! within 5 s; a webhook receiver that is down gets the call once it is back; a mention is an
//! e-mail to the user mentioned; and no notification holds any of the alert's or the post's
//! text, only the kind, the partners and a link.

mod common;

use common::*;
use entente_domain::alert::Severity;
use entente_node::alerts::NewAlert;
use entente_node::notify::{Settings, Smtp, Webhook, deliver::signature};
use entente_testkit::smtp::SmtpSink;
use entente_testkit::{Cluster, ClusterOptions};
use std::time::{Duration, Instant};

/// Text that must never leave a node in a notification.
const SECRET: &str = "Veldra-cable-cut-AMBER-detail";

fn smtp(sink: &SmtpSink, from: &str) -> Smtp {
    Smtp {
        host: "127.0.0.1".into(),
        port: sink.addr.port(),
        starttls: sink.cert_pem.is_some(),
        from: from.into(),
        ca_pem: sink.cert_pem.clone().map(String::into_bytes),
        username: None,
        password: None,
    }
}

/// A webhook receiver on a port chosen now and listened on only once [`Receiver::up`] is
/// called (until then the port refuses connections: the receiver is down).
struct Receiver {
    port: u16,
    calls: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<(String, String)>>,
    tx: tokio::sync::mpsc::UnboundedSender<(String, String)>,
}

impl Receiver {
    fn new() -> Receiver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Receiver {
            port,
            calls: tokio::sync::Mutex::new(rx),
            tx,
        }
    }

    async fn up(&self) {
        let tx = self.tx.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |h: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                    let sig = h
                        .get("x-entente-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let _ = tx.send((sig, String::from_utf8_lossy(&body).into_owned()));
                    "ok"
                },
            ),
        );
        let l = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
    }

    async fn next(&self, within: Duration) -> Option<(String, String)> {
        tokio::time::timeout(within, self.calls.lock().await.recv())
            .await
            .ok()
            .flatten()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_reaches_the_duty_contacts_and_the_webhook_and_carries_no_content() {
    let eu_relay = SmtpSink::start(true).await.unwrap();
    let jpn_relay = SmtpSink::start(false).await.unwrap();
    let hook = Receiver::new();
    let secret = b"a-shared-webhook-secret".to_vec();
    let mut opts = ClusterOptions::default();
    opts.notify.insert(
        "EU".into(),
        Settings {
            smtp: Some(smtp(&eu_relay, "entente@eu.example")),
            duty_email: vec!["duty@eu.example".into()],
            webhooks: vec![Webhook {
                url: format!("http://127.0.0.1:{}/hook", hook.port),
                secret: secret.clone(),
            }],
            digest_hour_utc: 7,
            // Its users' e-mails come in quick succession here; pacing has its own test.
            email_min_interval: time::Duration::ZERO,
        },
    );
    opts.notify.insert(
        "JPN".into(),
        Settings {
            smtp: Some(smtp(&jpn_relay, "entente@jpn.example")),
            duty_email: vec!["duty@jpn.example".into()],
            webhooks: vec![],
            digest_hour_utc: 7,
            email_min_interval: time::Duration::minutes(1),
        },
    );
    let mut c = Cluster::with(&["EU", "NATO", "JPN", "KOR"], opts)
        .await
        .unwrap();
    let f = format(c.node("NATO"), "Crisis cell", &["EU", "NATO", "JPN", "KOR"]).await;
    c.sync_until_quiet().await;
    c.start_background();
    let (eu, nato, jpn) = (c.node("EU"), c.node("NATO"), c.node("JPN"));
    // An EU analyst who wants mentions at once.
    eu.node
        .set_user_settings(
            &eu.admin(),
            entente_node::UserSettings {
                email: Some("anna@eu.example".into()),
                notify: [("mention".to_owned(), "immediately".to_owned())].into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        eu.node
            .set_user_settings(
                &eu.admin(),
                entente_node::UserSettings {
                    email: Some("not an address".into()),
                    ..Default::default()
                },
            )
            .await
            .is_err()
    );

    let raised = Instant::now();
    let a = nato
        .node
        .raise_alert(
            &nato.admin(),
            NewAlert {
                format_id: f.format_id.clone(),
                severity: Severity::Critical,
                title: format!("Cable cut: {SECRET}"),
                text: format!("Details: {SECRET}"),
                ack_deadline: "2030-01-01T00:00:00Z".into(),
                releasable_to: Some(vec!["EU".into(), "JPN".into()]),
            },
        )
        .await
        .unwrap();
    let id = a.alert.alert_id.clone();
    for (who, relay, duty) in [
        ("EU", &eu_relay, "duty@eu.example"),
        ("JPN", &jpn_relay, "duty@jpn.example"),
    ] {
        let mut got = None;
        while let Some(m) = relay.next(Duration::from_secs(5)).await {
            if m.to == [duty] {
                got = Some(m);
                break;
            }
        }
        let m = got.unwrap_or_else(|| panic!("no e-mail at {who}'s duty contact within 5 s"));
        println!(
            "alert at NATO -> e-mail at {who}'s duty contact: {:?}",
            raised.elapsed()
        );
        assert!(raised.elapsed() < Duration::from_secs(5));
        assert_eq!(m.tls, who == "EU", "EU's relay takes STARTTLS");
        assert!(
            m.text().contains(&format!("/ui/alerts/{id}")),
            "{}",
            m.text()
        );
        assert!(m.text().contains("NATO"));
        assert!(!m.text().contains(SECRET), "the alert's text in an e-mail");
        assert!(
            !m.text().contains("Cable cut"),
            "the alert's title in an e-mail"
        );
    }

    // The webhook receiver is down: the call is tried, fails, and is retried until it is up.
    eventually(
        "a failed webhook attempt in EU's delivery log",
        async || {
            outbox(eu)
                .await
                .iter()
                .any(|n| n.channel == "webhook" && n.attempts >= 1 && n.state == "pending")
        },
    )
    .await;
    hook.up().await;
    let (sig, body) = hook
        .next(Duration::from_secs(30))
        .await
        .expect("the webhook call after the receiver came back");
    assert_eq!(sig, signature(&secret, body.as_bytes()), "signed body");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["kind"], "alert");
    assert_eq!(v["from"], "NATO");
    assert_eq!(v["severity"], "critical");
    assert!(!body.contains(SECRET) && !body.contains("Cable cut"));
    eventually("the webhook call recorded as sent", async || {
        outbox(eu)
            .await
            .iter()
            .filter(|n| n.channel == "webhook")
            .all(|n| n.state == "sent")
    })
    .await;
    // With the receiver up, the next alert's call arrives within 5 s.
    let raised = Instant::now();
    nato.node
        .raise_alert(
            &nato.admin(),
            NewAlert {
                format_id: f.format_id.clone(),
                severity: Severity::High,
                title: "Second".into(),
                text: "Second".into(),
                ack_deadline: "2030-01-01T00:00:00Z".into(),
                releasable_to: None,
            },
        )
        .await
        .unwrap();
    let (sig, body) = hook
        .next(Duration::from_secs(5))
        .await
        .expect("the second alert's webhook call within 5 s");
    println!(
        "alert at NATO -> webhook call at EU's receiver: {:?}",
        raised.elapsed()
    );
    assert_eq!(sig, signature(&secret, body.as_bytes()));
    assert!(body.contains("\"severity\":\"high\""), "{body}");
    let log = outbox(eu).await;
    assert!(log.iter().all(|n| !n.body.contains(SECRET)));

    // A mention of EU's admin in a discussion JPN starts for {EU, JPN}: an e-mail to them.
    let t = jpn
        .node
        .start_thread(
            &jpn.admin(),
            entente_node::discussions::NewThread {
                attachments: vec![],
                format_id: f.format_id.clone(),
                title: format!("Ferries {SECRET}"),
                body: format!("@admin@EU please confirm {SECRET}"),
                subject: None,
                releasable_to: Some(vec!["EU".into(), "JPN".into()]),
            },
        )
        .await
        .unwrap();
    let mut got = None;
    while let Some(m) = eu_relay.next(Duration::from_secs(10)).await {
        if m.to == ["anna@eu.example"] && m.text().contains(&t.thread_id) {
            got = Some(m);
            break;
        }
    }
    let m = got.expect("the mention e-mail");
    // A statement from NATO that needs EU's stance: an e-mail to the EU user (stances are
    // wanted at once by default).
    let st = nato
        .node
        .create_statement(
            &nato.admin(),
            entente_node::statements::NewStatement {
                format_id: f.format_id.clone(),
                title: format!("Statement {SECRET}"),
                text: format!("We condemn {SECRET}"),
                releasable_to: None,
                required: Some(vec!["EU".into(), "NATO".into()]),
                rule: entente_domain::statement::AdoptionRule::Unanimity,
                deadline: None,
            },
        )
        .await
        .unwrap();
    let mut stance = None;
    while let Some(m) = eu_relay.next(Duration::from_secs(10)).await {
        if m.to == ["anna@eu.example"] && m.text().contains(&st.state.statement_id) {
            stance = Some(m);
            break;
        }
    }
    let stance = stance.expect("the stance e-mail");
    assert!(!stance.text().contains(SECRET) && !stance.text().contains("condemn"));
    assert!(m.text().contains(&t.thread_id), "{}", m.text());
    assert!(m.text().contains("admin@JPN"));
    assert!(!m.text().contains(SECRET) && !m.text().contains("Ferries"));
}

/// EU and JPN on a manual clock at 2026-12-05 06:00 UTC, a format of the two, EU's
/// notifications through `relay` (no duty contact, digests at 07:00, no pacing), background
/// sync on.
async fn eu_and_jpn_on_a_manual_clock() -> (
    SmtpSink,
    entente_node::clock::ManualClock,
    Cluster,
    entente_domain::FormatState,
) {
    eu_and_jpn_on_a_manual_clock_with(vec![], time::Duration::ZERO).await
}

/// [`eu_and_jpn_on_a_manual_clock`] with EU's duty contacts and e-mail pacing.
async fn eu_and_jpn_on_a_manual_clock_with(
    duty_email: Vec<String>,
    email_min_interval: time::Duration,
) -> (
    SmtpSink,
    entente_node::clock::ManualClock,
    Cluster,
    entente_domain::FormatState,
) {
    let relay = SmtpSink::start(false).await.unwrap();
    let clock =
        entente_node::clock::ManualClock::new(time::macros::datetime!(2026-12-05 06:00 UTC));
    let mut opts = ClusterOptions {
        clock: Some(std::sync::Arc::new(clock.clone())),
        ..Default::default()
    };
    opts.notify.insert(
        "EU".into(),
        Settings {
            smtp: Some(smtp(&relay, "entente@eu.example")),
            duty_email,
            webhooks: vec![],
            digest_hour_utc: 7,
            email_min_interval,
        },
    );
    let mut c = Cluster::with(&["EU", "JPN"], opts).await.unwrap();
    let f = format(c.node("EU"), "Dialogue", &["EU", "JPN"]).await;
    c.sync_until_quiet().await;
    c.start_background();
    (relay, clock, c, f)
}

/// The admin of `n` gets e-mail at `address`, every kind as it is by default.
async fn mail_to(n: &entente_testkit::TestNode, address: &str) {
    n.node
        .set_user_settings(
            &n.admin(),
            entente_node::UserSettings {
                email: Some(address.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

/// EU's delivery log, the latest 50.
async fn outbox(eu: &entente_testkit::TestNode) -> Vec<entente_node::notify::NotificationRecord> {
    eu.node.notification_log(&eu.admin(), 50).await.unwrap()
}

/// EU starts the thread "Ferries" in `f` (everyone of the format), synced to JPN.
async fn eu_starts_a_thread(
    c: &Cluster,
    f: &entente_domain::FormatState,
) -> entente_domain::coord::ThreadState {
    let eu = c.node("EU");
    let t = eu
        .node
        .start_thread(
            &eu.admin(),
            entente_node::discussions::NewThread {
                attachments: vec![],
                format_id: f.format_id.clone(),
                title: "Ferries".into(),
                body: "What do we know?".into(),
                subject: None,
                releasable_to: None,
            },
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;
    t
}

/// JPN's admin replies `body` in the thread.
async fn jpn_replies(c: &Cluster, thread_id: &str, body: &str) {
    let jpn = c.node("JPN");
    jpn.node
        .reply(
            &jpn.admin(),
            thread_id,
            entente_node::discussions::NewPost {
                attachments: vec![],
                body: body.into(),
                quote: None,
            },
        )
        .await
        .unwrap();
}

/// A user who wants replies in a daily digest gets nothing at once, and one e-mail with every
/// reply at the digest hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_wait_for_the_daily_digest() {
    let (relay, clock, c, f) = eu_and_jpn_on_a_manual_clock().await;
    let eu = c.node("EU");
    mail_to(eu, "anna@eu.example").await;
    let t = eu_starts_a_thread(&c, &f).await;
    for i in 0..2 {
        jpn_replies(&c, &t.thread_id, &format!("Reply {i}")).await;
    }
    eventually("two replies queued for the digest", async || {
        outbox(eu)
            .await
            .iter()
            .filter(|n| n.digest && n.kind == "reply" && n.state == "pending")
            .count()
            == 2
    })
    .await;
    assert!(
        relay.next(Duration::from_millis(1500)).await.is_none(),
        "nothing before the digest hour"
    );
    // The user moves to another address before the digest goes out: what was queued for the
    // old one is cancelled (never sent there), a reply after the change goes to the new one.
    mail_to(eu, "anna.new@eu.example").await;
    jpn_replies(&c, &t.thread_id, "Reply 2").await;
    eventually("the third reply queued for the new address", async || {
        outbox(eu)
            .await
            .iter()
            .any(|n| n.digest && n.target == "anna.new@eu.example")
    })
    .await;
    clock.advance(time::Duration::hours(1));
    let m = relay
        .next(Duration::from_secs(10))
        .await
        .expect("the digest at 07:00 UTC");
    assert_eq!(m.to, ["anna.new@eu.example"]);
    assert!(m.text().contains("1 notification(s)"), "{}", m.text());
    assert!(!m.text().contains("Reply") && !m.text().contains("Ferries"));
    let log = outbox(eu).await;
    assert_eq!(
        log.iter()
            .filter(|n| n.target == "anna@eu.example" && n.state == "cancelled")
            .count(),
        2,
        "{log:?}"
    );
    assert!(
        relay.next(Duration::from_millis(1500)).await.is_none(),
        "nothing to the old address"
    );
    // A month on, the delivery log has let go of what was done.
    clock.advance(time::Duration::days(31));
    eventually("the delivery log pruned after 30 days", async || {
        outbox(eu).await.is_empty()
    })
    .await;
}

/// Red-team finding: only the entry the fold applied is announced. A second `alert.raise` of an
/// alert id NATO already used, and a second post under a post id NATO already used (this one
/// mentioning EU's admin), are kept as evidence and announce nothing; an alert raised after
/// them is the barrier that shows EU's notifier has looked at them. A disabled user's queued
/// e-mail is cancelled, not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_kept_as_evidence_announce_nothing() {
    use entente_domain::Payload;
    use entente_domain::alert::AlertRaise;
    use entente_domain::coord::ThreadPost;
    let eu_relay = SmtpSink::start(false).await.unwrap();
    let mut opts = ClusterOptions::default();
    opts.notify.insert(
        "EU".into(),
        Settings {
            smtp: Some(smtp(&eu_relay, "entente@eu.example")),
            duty_email: vec!["duty@eu.example".into()],
            webhooks: vec![],
            digest_hour_utc: 7,
            email_min_interval: time::Duration::ZERO,
        },
    );
    let mut c = Cluster::with(&["EU", "NATO"], opts).await.unwrap();
    let f = format(c.node("NATO"), "Crisis cell", &["EU", "NATO"]).await;
    c.sync_until_quiet().await;
    c.start_background();
    let (eu, nato) = (c.node("EU"), c.node("NATO"));
    eu.node
        .set_user_settings(
            &eu.admin(),
            entente_node::UserSettings {
                email: Some("anna@eu.example".into()),
                notify: [
                    ("mention".to_owned(), "immediately".to_owned()),
                    ("alert".to_owned(), "off".to_owned()),
                ]
                .into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let raise = |title: &str| NewAlert {
        format_id: f.format_id.clone(),
        severity: Severity::High,
        title: title.into(),
        text: "Confirm.".into(),
        ack_deadline: "2030-01-01T00:00:00Z".into(),
        releasable_to: None,
    };
    let first = nato
        .node
        .raise_alert(&nato.admin(), raise("First"))
        .await
        .unwrap();
    let a1 = first.alert.alert_id.clone();
    let m = eu_relay
        .next(Duration::from_secs(10))
        .await
        .expect("the first alert's e-mail");
    assert!(m.text().contains(&a1));
    let t = nato
        .node
        .start_thread(
            &nato.admin(),
            entente_node::discussions::NewThread {
                attachments: vec![],
                format_id: f.format_id.clone(),
                title: "Ports".into(),
                body: "No mention here.".into(),
                subject: None,
                releasable_to: None,
            },
        )
        .await
        .unwrap();
    let p1 = t.posts[0].post_id.clone();

    // The same alert id raised again, and the same post id posted again with a mention.
    nato.node
        .publish(
            &first.alert.audience,
            &[
                Payload::AlertRaise(AlertRaise {
                    alert_id: a1.clone(),
                    format_id: f.format_id.clone(),
                    severity: Severity::Critical,
                    title: "Again".into(),
                    text: "Again.".into(),
                    ack_deadline: "2030-01-01T00:00:00Z".into(),
                    author: "admin@NATO".into(),
                }),
                Payload::ThreadPost(ThreadPost {
                    attachments: vec![],
                    thread_id: t.thread_id.clone(),
                    post_id: p1.clone(),
                    body: "@admin@EU look at this".into(),
                    quote: None,
                    mentions: vec!["admin@EU".into()],
                    author: "admin@NATO".into(),
                }),
            ],
        )
        .await
        .unwrap();
    let second = nato
        .node
        .raise_alert(&nato.admin(), raise("Second"))
        .await
        .unwrap();
    let a2 = second.alert.alert_id.clone();
    let mut seen = vec![];
    loop {
        let m = eu_relay
            .next(Duration::from_secs(10))
            .await
            .expect("the second alert's e-mail");
        let done = m.text().contains(&a2);
        seen.push(m);
        if done {
            break;
        }
    }
    assert_eq!(
        seen.len(),
        1,
        "only the second alert is announced: {:?}",
        seen.iter()
            .map(|m| (m.to.clone(), m.text()))
            .collect::<Vec<_>>()
    );
    let log = outbox(eu).await;
    assert!(
        log.iter().all(|n| n.kind != "mention"),
        "a mention from an entry kept as evidence: {log:?}"
    );
    assert_eq!(log.iter().filter(|n| n.kind == "alert").count(), 2);
    assert_eq!(
        eu.node.alert(&eu.admin(), &a1).await.unwrap().alert.title,
        "First"
    );
    // The same raise twice in one batch (same signing time, same fields): the second is kept as
    // evidence and the alert announced once (the cause is the alert, not the entry).
    let twin = entente_node::new_id();
    let raise_twin = Payload::AlertRaise(AlertRaise {
        alert_id: twin.clone(),
        format_id: f.format_id.clone(),
        severity: Severity::Critical,
        title: "Twin".into(),
        text: "Twin.".into(),
        ack_deadline: "2030-01-01T00:00:00Z".into(),
        author: "admin@NATO".into(),
    });
    nato.node
        .publish(&first.alert.audience, &[raise_twin.clone(), raise_twin])
        .await
        .unwrap();
    let m = eu_relay
        .next(Duration::from_secs(10))
        .await
        .expect("the twin alert's e-mail");
    assert!(m.text().contains(&twin));
    assert!(
        eu_relay.next(Duration::from_millis(1500)).await.is_none(),
        "the twin alert announced twice"
    );
    let log = outbox(eu).await;
    assert_eq!(log.iter().filter(|n| n.kind == "alert").count(), 3);
}

/// Overdue milestones: once the date passes a milestone's due date, a user of a partner that
/// leads the action who asked for them gets an e-mail with the due date and a link, not the
/// milestone's title; an action another partner leads notifies no one here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_milestone_of_an_action_we_lead_is_announced_once_the_day_passes() {
    use entente_node::coord::{NewAction, NewMilestone};
    let (relay, clock, c, f) = eu_and_jpn_on_a_manual_clock().await;
    let eu = c.node("EU");
    eu.node
        .set_user_settings(
            &eu.admin(),
            entente_node::UserSettings {
                email: Some("anna@eu.example".into()),
                notify: [("milestone".to_owned(), "immediately".to_owned())].into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let action = |leads: &[&str]| NewAction {
        format_id: f.format_id.clone(),
        title: "Ferry capacity".into(),
        description: String::new(),
        group: String::new(),
        topics: vec![],
        leads: leads.iter().map(|s| s.to_string()).collect(),
        participants: vec![],
        milestones: vec![
            NewMilestone {
                title: format!("Survey {SECRET}"),
                due: "2026-12-05".into(),
            },
            NewMilestone {
                title: "Later".into(),
                due: "2026-12-20".into(),
            },
        ],
    };
    let ours = eu
        .node
        .create_action(&eu.admin(), action(&["EU"]))
        .await
        .unwrap();
    eu.node
        .create_action(&eu.admin(), action(&["JPN"]))
        .await
        .unwrap();
    assert!(
        relay.next(Duration::from_millis(1500)).await.is_none(),
        "due today is not overdue"
    );
    clock.advance(time::Duration::days(1));
    let m = relay
        .next(Duration::from_secs(10))
        .await
        .expect("the overdue milestone's e-mail");
    assert_eq!(m.to, ["anna@eu.example"]);
    assert!(m.text().contains("due 2026-12-05"), "{}", m.text());
    assert!(
        m.text()
            .contains(&format!("/ui/actions/{}", ours.action_id)),
        "{}",
        m.text()
    );
    assert!(!m.text().contains(SECRET) && !m.text().contains("Survey"));
    let log = outbox(eu).await;
    assert_eq!(
        log.iter().filter(|n| n.kind == "milestone").count(),
        1,
        "one milestone of one action EU leads: {log:?}"
    );
}

/// Red-team finding: what the notifier had not looked at when the process stopped is announced
/// after the restart. EU runs without notifications while NATO's alert arrives (as if the
/// process had stopped between the commit and the notifier), then with them again: the alert
/// reaches EU's duty contact, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_committed_before_a_restart_is_announced_after_it() {
    let relay = SmtpSink::start(false).await.unwrap();
    let settings = Settings {
        smtp: Some(smtp(&relay, "entente@eu.example")),
        duty_email: vec!["duty@eu.example".into()],
        webhooks: vec![],
        digest_hour_utc: 7,
        email_min_interval: time::Duration::ZERO,
    };
    let mut opts = ClusterOptions::default();
    opts.notify.insert("EU".into(), settings.clone());
    let mut c = Cluster::with(&["EU", "NATO"], opts).await.unwrap();
    let f = format(c.node("NATO"), "Crisis cell", &["EU", "NATO"]).await;
    c.sync_until_quiet().await;
    c.node_mut("EU").config_mut().notify = None;
    c.node_mut("EU").restart().await.unwrap();
    let nato = c.node("NATO");
    let a = nato
        .node
        .raise_alert(
            &nato.admin(),
            NewAlert {
                format_id: f.format_id.clone(),
                severity: Severity::High,
                title: "While EU's notifier was down".into(),
                text: "Confirm.".into(),
                ack_deadline: "2030-01-01T00:00:00Z".into(),
                releasable_to: None,
            },
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;
    assert!(
        c.node("EU")
            .node
            .alert(&c.node("EU").admin(), &a.alert.alert_id)
            .await
            .is_ok(),
        "EU holds the alert"
    );
    c.node_mut("EU").config_mut().notify = Some(settings);
    c.node_mut("EU").restart().await.unwrap();
    let m = relay
        .next(Duration::from_secs(10))
        .await
        .expect("the alert's e-mail after the restart");
    assert_eq!(m.to, ["duty@eu.example"]);
    assert!(m.text().contains(&a.alert.alert_id), "{}", m.text());
    assert!(
        relay.next(Duration::from_millis(1500)).await.is_none(),
        "announced once"
    );
}

/// Red-team finding: history is not news. An alert EU received while its notifications were off
/// and that was signed more than a day before they came back on is not announced; one raised
/// after is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_signed_more_than_a_day_ago_is_not_announced_late() {
    let relay = SmtpSink::start(false).await.unwrap();
    let clock =
        entente_node::clock::ManualClock::new(time::macros::datetime!(2026-12-05 06:00 UTC));
    let settings = Settings {
        smtp: Some(smtp(&relay, "entente@eu.example")),
        duty_email: vec!["duty@eu.example".into()],
        webhooks: vec![],
        digest_hour_utc: 7,
        email_min_interval: time::Duration::ZERO,
    };
    let mut opts = ClusterOptions {
        clock: Some(std::sync::Arc::new(clock.clone())),
        ..Default::default()
    };
    opts.notify.insert("EU".into(), settings.clone());
    let mut c = Cluster::with(&["EU", "NATO"], opts).await.unwrap();
    let f = format(c.node("NATO"), "Crisis cell", &["EU", "NATO"]).await;
    c.sync_until_quiet().await;
    c.node_mut("EU").config_mut().notify = None;
    c.node_mut("EU").restart().await.unwrap();
    let raise = |title: &str| NewAlert {
        format_id: f.format_id.clone(),
        severity: Severity::High,
        title: title.into(),
        text: "Confirm.".into(),
        ack_deadline: "2030-01-01T00:00:00Z".into(),
        releasable_to: None,
    };
    let nato = c.node("NATO");
    let old = nato
        .node
        .raise_alert(&nato.admin(), raise("Old"))
        .await
        .unwrap();
    c.sync_until_quiet().await;
    clock.advance(time::Duration::hours(25));
    c.node_mut("EU").config_mut().notify = Some(settings);
    c.node_mut("EU").restart().await.unwrap();
    let nato = c.node("NATO");
    let new = nato
        .node
        .raise_alert(&nato.admin(), raise("New"))
        .await
        .unwrap();
    c.sync_until_quiet().await;
    let m = relay
        .next(Duration::from_secs(10))
        .await
        .expect("the new alert's e-mail");
    assert!(
        m.text().contains(&new.alert.alert_id),
        "the first e-mail is the new alert's, not the day-old one's: {}",
        m.text()
    );
    assert!(!m.text().contains(&old.alert.alert_id));
}

/// Raise a critical alert at `who` to {EU, JPN} in format `f`.
async fn raise(
    who: &entente_testkit::TestNode,
    f: &entente_domain::FormatState,
    title: &str,
) -> String {
    who.node
        .raise_alert(
            &who.admin(),
            NewAlert {
                format_id: f.format_id.clone(),
                severity: Severity::Critical,
                title: title.into(),
                text: format!("Details: {SECRET}"),
                ack_deadline: "2030-01-01T00:00:00Z".into(),
                releasable_to: Some(vec!["EU".into(), "JPN".into()]),
            },
        )
        .await
        .unwrap()
        .alert
        .alert_id
}

/// Red-team finding: a flood of alerts from a peer was a flood of e-mails at the duty desk, and
/// a mailbox the relay says does not exist was retried for four hours. Now the first alert is an
/// e-mail at once, the ones within the next minute go out together in one e-mail (its subject
/// the crisis alert's) when the minute has passed, and a user's refused mailbox fails after one
/// attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_alerts_is_paced_and_a_refused_mailbox_is_not_retried() {
    let (relay, clock, c, f) = eu_and_jpn_on_a_manual_clock_with(
        vec!["duty@eu.example".into(), "nobody@desk.example".into()],
        time::Duration::minutes(1),
    )
    .await;
    let (eu, jpn) = (c.node("EU"), c.node("JPN"));
    // EU's admin wants alerts at once (the default) at an address the relay refuses.
    mail_to(eu, "nobody@eu.example").await;
    let first = raise(jpn, &f, "Alert 0").await;
    let m = relay
        .next(Duration::from_secs(10))
        .await
        .expect("the first alert at once");
    assert_eq!(m.to, ["duty@eu.example"]);
    assert!(m.text().contains(&first), "{}", m.text());
    eventually("the refused mailbox failed after one attempt", async || {
        outbox(eu)
            .await
            .iter()
            .any(|n| n.target == "nobody@eu.example" && n.state == "failed" && n.attempts == 1)
    })
    .await;
    let mut ids = vec![];
    for i in 1..4 {
        ids.push(raise(jpn, &f, &format!("Alert {i}")).await);
    }
    eventually("three alerts waiting for the minute to pass", async || {
        outbox(eu)
            .await
            .iter()
            .filter(|n| n.target == "duty@eu.example" && n.state == "pending")
            .count()
            == 3
    })
    .await;
    assert!(
        relay.next(Duration::from_millis(1500)).await.is_none(),
        "nothing more within the minute"
    );
    clock.advance(time::Duration::seconds(61));
    let m = relay
        .next(Duration::from_secs(10))
        .await
        .expect("the three alerts together after the minute");
    assert_eq!(m.to, ["duty@eu.example"]);
    let text = m.text();
    assert!(
        text.contains("Crisis alert from JPN") && text.contains("(+2 more)"),
        "{text}"
    );
    for id in &ids {
        assert!(text.contains(id.as_str()), "{id} missing: {text}");
    }
    assert!(!text.contains(SECRET));
    assert!(
        relay.next(Duration::from_millis(1500)).await.is_none(),
        "one e-mail for the three"
    );
    // The refused mailbox: each of its notifications failed after one attempt, not retried.
    let log = outbox(eu).await;
    let refused: Vec<_> = log
        .iter()
        .filter(|n| n.target == "nobody@eu.example")
        .collect();
    assert_eq!(refused.len(), 4, "{log:?}");
    for n in refused {
        assert_eq!((n.state.as_str(), n.attempts), ("failed", 1), "{n:?}");
        assert!(n.last_error.contains("not retried"), "{n:?}");
    }
    // A duty contact's e-mail is never given up early, whatever the relay says.
    let duty: Vec<_> = log
        .iter()
        .filter(|n| n.target == "nobody@desk.example")
        .collect();
    assert_eq!(duty.len(), 4, "{log:?}");
    for n in duty {
        assert_eq!(n.state, "pending", "{n:?}");
        assert!(
            n.attempts >= 1 && !n.last_error.contains("not retried"),
            "{n:?}"
        );
    }
}

/// Red-team finding: a user who switched a kind from the daily digest to "at once" lost what
/// was queued for the digest (cancelled). Now it goes out at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_from_the_digest_to_at_once_sends_what_was_queued() {
    let (relay, _clock, c, f) = eu_and_jpn_on_a_manual_clock().await;
    let eu = c.node("EU");
    let settings = |mode: &str| entente_node::UserSettings {
        email: Some("anna@eu.example".into()),
        notify: [("reply".to_owned(), mode.to_owned())].into(),
        ..Default::default()
    };
    eu.node
        .set_user_settings(&eu.admin(), settings("digest"))
        .await
        .unwrap();
    let t = eu_starts_a_thread(&c, &f).await;
    jpn_replies(&c, &t.thread_id, "Reply 0").await;
    eventually("the reply queued for the digest", async || {
        outbox(eu)
            .await
            .iter()
            .any(|n| n.digest && n.kind == "reply" && n.state == "pending")
    })
    .await;
    assert!(relay.next(Duration::from_millis(1500)).await.is_none());
    eu.node
        .set_user_settings(&eu.admin(), settings("immediately"))
        .await
        .unwrap();
    // Still 06:00, an hour before the digest: the queued reply goes out now.
    let m = relay
        .next(Duration::from_secs(10))
        .await
        .expect("the queued reply at once after the switch");
    assert_eq!(m.to, ["anna@eu.example"]);
    assert!(m.text().contains(&t.thread_id), "{}", m.text());
    eventually("the reply recorded as sent on its own", async || {
        outbox(eu)
            .await
            .iter()
            .all(|n| n.kind != "reply" || (n.state == "sent" && !n.digest))
    })
    .await;
}
