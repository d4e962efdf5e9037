//! Crisis alerts across nodes: automatic signed receipts (also from a recipient that was
//! offline), acknowledgements, the board, overdue escalation, and nothing outside the audience.

mod common;

use common::*;
use entente_domain::alert::{RecipientStatus, Severity};
use entente_domain::partner::code;
use entente_node::alerts::NewAlert;
use entente_node::clock::ManualClock;
use entente_testkit::{Cluster, ClusterOptions};
use std::sync::Arc;

fn t(s: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_acks_overdue_and_an_offline_recipient() {
    let clock = ManualClock::new(t("2026-11-27T09:00:00Z"));
    let opts = ClusterOptions {
        clock: Some(Arc::new(clock.clone())),
        ..Default::default()
    };
    let mut c = Cluster::with(&["EU", "NATO", "JPN", "KOR"], opts)
        .await
        .unwrap();
    let f = format(c.node("NATO"), "Crisis cell", &["EU", "NATO", "JPN", "KOR"]).await;
    c.sync_until_quiet().await;
    c.start_background();
    // EU is offline (all its links cut) when NATO raises the alert.
    for p in ["NATO", "JPN", "KOR"] {
        c.set_link("EU", p, false);
    }
    let (eu, nato, jpn, kor) = (c.node("EU"), c.node("NATO"), c.node("JPN"), c.node("KOR"));
    let new = NewAlert {
        format_id: f.format_id.clone(),
        severity: Severity::Critical,
        title: "EXERCISE: cable cut in the fictional Strait of Veldra".into(),
        text: "Confirm receipt and acknowledge.".into(),
        ack_deadline: "2026-11-27T10:00:00.000Z".into(),
        releasable_to: Some(vec!["EU".into(), "JPN".into()]),
    };
    let a = nato.node.raise_alert(&nato.admin(), new).await.unwrap();
    let id = a.alert.alert_id.clone();
    // JPN's node signs a receipt on its own, by push, without anyone acting.
    eventually("JPN receipt at NATO", async || {
        nato.node.alert(&nato.admin(), &id).await.unwrap().board[&code("JPN")]
            == RecipientStatus::Delivered
    })
    .await;
    assert_eq!(
        nato.node.alert(&nato.admin(), &id).await.unwrap().board[&code("EU")],
        RecipientStatus::Sent
    );
    // A non-recipient cannot acknowledge, and KOR (outside the audience) sees nothing.
    assert!(
        nato.node
            .acknowledge_alert(&nato.admin(), &id, "")
            .await
            .is_err()
    );
    assert!(kor.node.alerts(&kor.admin()).await.unwrap().is_empty());
    assert!(kor.node.alert(&kor.admin(), &id).await.is_err());
    // JPN acknowledges through its officer.
    jpn.node
        .acknowledge_alert(&jpn.admin(), &id, "desk informed")
        .await
        .unwrap();
    assert!(
        jpn.node
            .acknowledge_alert(&jpn.admin(), &id, "")
            .await
            .is_err(),
        "once"
    );
    eventually("JPN ack at NATO", async || {
        nato.node.alert(&nato.admin(), &id).await.unwrap().board[&code("JPN")]
            == RecipientStatus::Acknowledged
    })
    .await;
    // EU comes back: it pulls, receives the alert and signs its receipt.
    for p in ["NATO", "JPN", "KOR"] {
        c.set_link("EU", p, true);
    }
    let eu_report = eu.node.sync_peer(&code("NATO")).await;
    assert_eq!(eu_report.error, None);
    eventually("EU receipt at NATO", async || {
        nato.node.sync_peer(&code("EU")).await;
        nato.node.alert(&nato.admin(), &id).await.unwrap().board[&code("EU")]
            == RecipientStatus::Delivered
    })
    .await;
    // Past the deadline EU is overdue and listed for escalation; JPN is not.
    clock.set(t("2026-11-27T10:00:01Z"));
    let v = nato.node.alert(&nato.admin(), &id).await.unwrap();
    assert_eq!(v.overdue, vec![code("EU")]);
    assert_eq!(
        nato.node.overdue_alerts().await.unwrap(),
        vec![(id.clone(), vec![code("EU")])]
    );
    // Every node in the audience holds the same alert state.
    c.sync_until_quiet().await;
    let mut states: Vec<Option<String>> = vec![];
    for n in [&c.nodes[0], &c.nodes[1], &c.nodes[2]] {
        states.push(n.node.store().object("alert", &id).await.unwrap());
    }
    assert!(states.windows(2).all(|w| w[0] == w[1]), "{states:?}");
    assert!(!contains(&db_bytes(c.node("KOR")), &id));
    // Every receipt is signed once: the sweep for receipts a crash left unsigned (run after
    // each sync round) finds none owed.
    for n in ["EU", "JPN", "NATO", "KOR"] {
        assert_eq!(c.node(n).node.sign_owed_receipts().await.unwrap(), 0, "{n}");
    }
    c.node_mut("EU").stop().await;
    c.stop().await;
}

/// Receipts and acknowledgements from two recipients arrive concurrently through different
/// logs; none may be lost (each fold rewrites the whole alert state).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_receipts_and_acks_from_several_logs_are_never_lost() {
    let mut c = Cluster::new(&["EU", "NATO", "JPN"]).await.unwrap();
    let f = format(c.node("NATO"), "Crisis cell", &["EU", "NATO", "JPN"]).await;
    c.sync_until_quiet().await;
    c.start_background();
    let (eu, nato, jpn) = (c.node("EU"), c.node("NATO"), c.node("JPN"));
    let deadline =
        entente_node::clock::rfc3339(time::OffsetDateTime::now_utc() + time::Duration::hours(1));
    let mut ids = vec![];
    for i in 0..30 {
        let n = NewAlert {
            format_id: f.format_id.clone(),
            severity: Severity::Medium,
            title: format!("alert {i}"),
            text: String::new(),
            ack_deadline: deadline.clone(),
            releasable_to: None,
        };
        ids.push(
            nato.node
                .raise_alert(&nato.admin(), n)
                .await
                .unwrap()
                .alert
                .alert_id,
        );
    }
    let ack_all = |n: &entente_testkit::TestNode| {
        let (node, who, ids) = (n.node.clone(), n.admin(), ids.clone());
        tokio::spawn(async move {
            for id in ids {
                while node.acknowledge_alert(&who, &id, "").await.is_err() {
                    tokio::task::yield_now().await;
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            }
        })
    };
    let (a, b) = (ack_all(eu), ack_all(jpn));
    a.await.unwrap();
    b.await.unwrap();
    eventually("every receipt and ack at NATO", async || {
        let mut all = true;
        for id in &ids {
            let v = nato.node.alert(&nato.admin(), id).await.unwrap();
            all &= v.alert.acks.len() == 2 && v.alert.receipts.len() == 2;
        }
        if !all {
            nato.node.sync_once().await;
        }
        all
    })
    .await;
    c.stop().await;
}
