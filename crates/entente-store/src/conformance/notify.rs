//! Conformance of the notification outbox: queueing is idempotent per id, the due list is the
//! pending notifications due by a time in order, an attempt updates one row, and the delivery
//! log lists the newest first.

use crate::*;

fn note(id: &str, created: &str, due: &str) -> NotificationRecord {
    NotificationRecord {
        id: id.into(),
        created_at: created.into(),
        due_at: due.into(),
        channel: "email".into(),
        target: "duty@eu.example".into(),
        recipient: "duty".into(),
        kind: "alert".into(),
        digest: false,
        subject: "Crisis alert from NATO".into(),
        body: "Open it: https://eu.example/ui/alerts/x".into(),
        attempts: 0,
        state: "pending".into(),
        last_error: String::new(),
        sent_at: None,
    }
}

pub async fn notification_outbox(store: &dyn Store) {
    let a = note("a", "2026-12-05T10:00:00Z", "2026-12-05T10:00:00Z");
    let b = note("b", "2026-12-05T10:00:01Z", "2026-12-05T10:00:05Z");
    let mut digest = note("c", "2026-12-05T10:00:02Z", "2026-12-06T07:00:00Z");
    digest.digest = true;
    store
        .queue_notifications(&[a.clone(), b.clone(), digest.clone()])
        .await
        .unwrap();
    // Queued again (the same cause seen twice): still one row each, unchanged.
    let mut again = a.clone();
    again.subject = "changed".into();
    store.queue_notifications(&[again]).await.unwrap();
    let due = store
        .due_notifications("2026-12-05T10:00:05Z", 10)
        .await
        .unwrap();
    assert_eq!(due, vec![a.clone(), b.clone()]);
    assert_eq!(
        store
            .due_notifications("2026-12-05T10:00:04Z", 10)
            .await
            .unwrap(),
        vec![a.clone()]
    );
    // A failed attempt moves it later; a delivery takes it out of the due list for good.
    let mut tried = a.clone();
    tried.attempts = 1;
    tried.due_at = "2026-12-05T10:00:09Z".into();
    tried.last_error = "connection refused".into();
    store.update_notification(&tried).await.unwrap();
    let mut sent = b.clone();
    sent.attempts = 1;
    sent.state = "sent".into();
    sent.sent_at = Some("2026-12-05T10:00:05Z".into());
    store.update_notification(&sent).await.unwrap();
    assert!(
        store
            .due_notifications("2026-12-05T10:00:08Z", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .due_notifications("2026-12-07T00:00:00Z", 10)
            .await
            .unwrap(),
        vec![tried.clone(), digest.clone()]
    );
    assert_eq!(
        store
            .due_notifications("2026-12-07T00:00:00Z", 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.notifications(10).await.unwrap(),
        vec![digest.clone(), sent.clone(), tried.clone()]
    );
    // Pruning takes what is done and older than the cut, never what is pending.
    let mut old_pending = note("d", "2026-12-01T00:00:00Z", "2026-12-09T00:00:00Z");
    old_pending.digest = true;
    store
        .queue_notifications(&[old_pending.clone()])
        .await
        .unwrap();
    assert_eq!(
        store
            .prune_notifications("2026-12-05T10:00:02Z")
            .await
            .unwrap(),
        1,
        "only the sent one, queued before the cut"
    );
    let left = store.notifications(10).await.unwrap();
    assert_eq!(left.len(), 3);
    assert!(left.contains(&old_pending) && left.contains(&digest) && left.contains(&tried));
    // A digest item whose recipient now wants the kind at once keeps that change.
    let mut at_once = old_pending.clone();
    at_once.digest = false;
    at_once.due_at = "2026-12-05T10:00:06Z".into();
    store.update_notification(&at_once).await.unwrap();
    assert!(
        store
            .due_notifications("2026-12-05T10:00:07Z", 10)
            .await
            .unwrap()
            .contains(&at_once)
    );
    // Undigest: only that recipient's pending digest e-mails of that kind.
    let mut other_kind = note("e", "2026-12-05T10:00:00Z", "2026-12-09T07:00:00Z");
    other_kind.digest = true;
    other_kind.kind = "other".into();
    other_kind.recipient = "anna".into();
    let mut mine = note("f", "2026-12-05T10:00:00Z", "2026-12-09T07:00:00Z");
    mine.digest = true;
    mine.recipient = "anna".into();
    store
        .queue_notifications(&[other_kind.clone(), mine.clone()])
        .await
        .unwrap();
    let n = store
        .undigest_notifications(&mine.recipient, &mine.kind, "2026-12-05T11:00:00Z")
        .await
        .unwrap();
    assert_eq!(n, 1);
    let due = store
        .due_notifications("2026-12-05T11:00:00Z", 10)
        .await
        .unwrap();
    let got = due.iter().find(|x| x.id == mine.id).expect("now due");
    assert!(!got.digest);
    assert!(!due.iter().any(|x| x.id == other_kind.id));
}

/// The notifier's cursors: absent until set, moved by a later set, one per log.
pub async fn notify_cursors(store: &dyn Store) {
    assert!(store.notify_cursors().await.unwrap().is_empty());
    store
        .set_notify_cursors(&[("log-a".into(), 3), ("log-b".into(), 0)])
        .await
        .unwrap();
    store
        .set_notify_cursors(&[("log-a".into(), 9)])
        .await
        .unwrap();
    // Never back (two processes of one node may both move it).
    store
        .set_notify_cursors(&[("log-a".into(), 5)])
        .await
        .unwrap();
    let mut c = store.notify_cursors().await.unwrap();
    c.sort();
    assert_eq!(c, vec![("log-a".into(), 9), ("log-b".into(), 0)]);
}
