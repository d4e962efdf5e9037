//! Backups taken under write load restore to nodes that verify and resume sync without
//! duplicates; a node restored from an older backup recovers its own later entries from its
//! peers instead of reissuing their sequence numbers (which peers would see as a fork).

mod common;

use common::*;
use entente_domain::partner::code;
use entente_testkit::{Cluster, TestNode};

async fn restore(n: &mut TestNode, backup: &std::path::Path) {
    n.stop().await;
    let db = n.db_path();
    // Unlink rather than overwrite: connections of the stopped node may still hold the old file.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    std::fs::copy(backup, &db).unwrap();
    n.restart().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_under_load_restore_verify_and_resume() {
    let mut c = Cluster::new(&["EU", "JPN"]).await.unwrap();
    let f = format(c.node("EU"), "F", &["EU", "JPN"]).await;
    let tmp = tempfile::tempdir().unwrap();
    let (jpn_backup, eu_backup) = (tmp.path().join("jpn.db"), tmp.path().join("eu.db"));

    // EU writes while JPN keeps pulling; both are backed up in the middle of it. The writer
    // waits at its 30th item until the backups are taken, so they are older than the live log
    // however fast either side runs.
    let eu = c.node("EU").node.clone();
    let admin = c.node("EU").admin();
    let fid = f.format_id.clone();
    let (halfway_tx, mut halfway_rx) = tokio::sync::oneshot::channel::<()>();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        let (mut halfway_tx, mut go_rx) = (Some(halfway_tx), Some(go_rx));
        for i in 0..60 {
            if i == 30 {
                let _ = halfway_tx.take().map(|t| t.send(()));
                let _ = go_rx.take().unwrap().await;
            }
            let ni = entente_node::NewItem {
                format_id: fid.clone(),
                kind: "note".into(),
                title: format!("under load {i}"),
                body: String::new(),
                topics: vec![],
                tlp: Some("GREEN".into()),
                releasable_to: Some(vec!["JPN".into()]),
                named_users: vec![],
                attachments: vec![],
            };
            eu.create_item(&admin, ni).await.unwrap();
        }
    });
    let mut go_tx = Some(go_tx);
    for round in 0..20 {
        c.node("JPN").node.sync_peer(&code("EU")).await;
        if round == 5 {
            // The writer has written 30 items and waits; JPN has pulled some of them.
            (&mut halfway_rx).await.unwrap();
            c.node("JPN").node.sync_peer(&code("EU")).await;
            c.node("JPN")
                .node
                .store()
                .backup_to(&jpn_backup)
                .await
                .unwrap();
            c.node("EU")
                .node
                .store()
                .backup_to(&eu_backup)
                .await
                .unwrap();
            go_tx.take().unwrap().send(()).unwrap();
        }
    }
    writer.await.unwrap();
    c.sync_until_quiet().await;
    let log = entente_log::log_id(
        &code("EU"),
        &entente_domain::Audience::new([code("EU"), code("JPN")]).unwrap(),
    );
    let head = |n: &TestNode| {
        let s = n.node.store().clone();
        let log = log.clone();
        async move { s.log(&log).await.unwrap().map(|l| l.head_seq).unwrap_or(0) }
    };
    let full = head(c.node("EU")).await;
    assert!(full >= 60);

    // JPN restored: verifies, then resumes from its restored cursor with no duplicates.
    restore(c.node_mut("JPN"), &jpn_backup).await;
    let jpn = c.node("JPN");
    let at_backup = head(jpn).await;
    assert!(
        at_backup < full,
        "the backup is older than the live log ({at_backup} < {full})"
    );
    assert!(jpn.node.verify_all(|_| {}).await.unwrap().ok());
    let r = jpn.node.sync_peer(&code("EU")).await;
    assert_eq!((r.duplicates, head(jpn).await), (0, full), "{r:?}");

    // EU restored from its older backup: it pulls its own later entries back from JPN, so its
    // next publication continues the log and JPN accepts it (no fork).
    restore(c.node_mut("EU"), &eu_backup).await;
    let eu = c.node("EU");
    assert!(head(eu).await < full);
    assert!(eu.node.verify_all(|_| {}).await.unwrap().ok());
    eu.node.sync_peer(&code("JPN")).await;
    assert_eq!(head(eu).await, full, "EU recovered its own entries");
    item(
        eu,
        &f.format_id,
        "after restore",
        Some("GREEN"),
        Some(&["JPN"]),
    )
    .await;
    let r = c.node("JPN").node.sync_peer(&code("EU")).await;
    assert_eq!(
        (r.forks, r.rejected.len(), r.entries_applied),
        (0, 0, 1),
        "{r:?}"
    );
    assert!(c.node("JPN").node.forks().await.unwrap().is_empty());
    c.stop().await;
}
