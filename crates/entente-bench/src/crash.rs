//! `entente-bench crash`: kill -9 a node's processes at random moments (writes, sync as
//! receiver and sender, import, alert fan-out) and check nothing acknowledged is lost.

use crate::common::*;
use crate::words::*;
use anyhow::{Result, bail};
use entente_domain::PartnerCode;
use entente_node::auth::TokenKind;
use entente_server::{ServerConfig, open};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

#[derive(Debug, Default, Serialize)]
pub struct CrashTally {
    pub kills: u64,
    /// Kills per phase: while EU's server acknowledges writes, while JPN's sync process writes
    /// pages (receiver), while EU serves a sync (sender), while `entente import` commits batches,
    /// and during alert fan-out (EU pushing a burst of alerts, JPN pulling them and signing
    /// delivery receipts; EU or JPN is killed, in turn).
    pub by_phase: std::collections::BTreeMap<String, u64>,
    /// Writes acknowledged (201) before a kill, all checked after the restart.
    pub acknowledged: u64,
    pub lost: u64,
    /// Logs that failed `verify` after a kill (signatures, chain, sequence, head).
    pub verify_failures: u64,
    /// Imports that left a partial batch behind.
    pub partial_batches: u64,
    /// Alerts raised (201) before a kill; each must end up at JPN with exactly one delivery
    /// receipt from JPN, seen at EU.
    pub alerts_acknowledged: u64,
    /// Acknowledged alerts missing at EU after a kill.
    pub alerts_lost: u64,
    /// Acknowledged alerts without JPN's receipt at EU after the final sync.
    pub receipts_missing: u64,
    /// Receipt entries JPN signed more than once for one alert.
    pub receipts_duplicated: u64,
    /// Syncs that did not complete after the restart, or left JPN with a different item count.
    pub resume_failures: u64,
    /// STIX objects each killed import left behind (whole batches of 1,000 of a 20,000-object
    /// bundle of new objects).
    pub import_objects_after_kill: Vec<usize>,
}

pub(crate) fn run_entente(exe: &Path, args: &[&str]) -> Result<std::process::Output> {
    Ok(node_command(exe)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()?)
}

/// `entente-bench crash`: kill -9 processes of a two-node setup (EU serving, JPN syncing) at
/// random moments, `kills` times, cycling through four phases; after each kill, check that every
/// acknowledged write is there, every log verifies, imports left whole batches only, and sync
/// resumes to the same state. Prints and writes the tally; fails if anything was lost.
pub async fn crash(kills: u64, work: &Path, out: &Path) -> Result<CrashTally> {
    let exe = crate::common::entente_exe()?;
    let (eu, jpn) = (work.join("eu"), work.join("jpn"));
    let (pe, pj) = (free_port()?, free_port()?);
    entente_server::init_dev_plain(&eu, "EU", ([127, 0, 0, 1], pe).into()).await?;
    entente_server::init_dev_plain(&jpn, "JPN", ([127, 0, 0, 1], pj).into()).await?;
    for d in [&eu, &jpn] {
        ServerConfig::rewrite(d, |f| {
            f.sync.on_start = false;
            f.sync.interval_secs = 3600;
            f.sync.page_size = 50;
            // Four writers of one user post as fast as they can; no limit may refuse them.
            f.limits.user_requests_per_minute = 0;
        })?;
    }
    let (token, format_id) = {
        let (a, b) = (open(&eu).await?, open(&jpn).await?);
        a.add_peer(
            "JPN",
            Some(&b.config().public_url),
            &b.public_key().to_hex(),
        )
        .await?;
        b.add_peer("EU", Some(&a.config().public_url), &a.public_key().to_hex())
            .await?;
        a.add_user("writer", entente_domain::Role::Officer, "writer-password-1")
            .await?;
        a.add_user("admin", entente_domain::Role::Admin, "admin-password-1")
            .await?;
        let who = a.principal_for("writer").await?;
        let f = eu_jpn_format(&a, &who, "Crash").await?;
        (
            a.create_token_for("writer", "crash", TokenKind::Api)
                .await?,
            f.format_id,
        )
    };
    // Each import kill imports objects not held yet, 20 batches of 1,000.
    const IMPORT: u64 = 20_000;
    const BATCH: usize = 1_000;
    let bundle = work.join("bundle.json");
    let url = format!("http://127.0.0.1:{pe}");
    let http = entente_server::tools_http()
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut tally = CrashTally::default();
    let mut acked: Vec<String> = vec![];
    let mut acked_alerts: Vec<String> = vec![];
    let mut lost_alerts = std::collections::BTreeSet::new();
    let jpn_url = format!("http://127.0.0.1:{pj}");
    let mut rng = Rng(0xc0ff_ee00_1234_5678);
    let verify = |dir: &Path| -> Result<bool> {
        Ok(
            run_entente(&exe, &["verify", "--dir", dir.to_str().unwrap_or_default()])?
                .status
                .success(),
        )
    };
    let jpn_s = jpn.to_str().unwrap_or_default().to_owned();
    let eu_s = eu.to_str().unwrap_or_default().to_owned();
    for k in 0..kills {
        let phase = [
            "writes",
            "sync receiver",
            "sync sender",
            "import",
            "alert fan-out",
        ][(k % 5) as usize];
        *tally.by_phase.entry(phase.to_owned()).or_default() += 1;
        tally.kills += 1;
        match phase {
            "writes" | "sync sender" => {
                let mut server = spawn_serve(&exe, &eu)?;
                wait_healthy(&http, &url, &mut server).await?;
                if phase == "writes" {
                    // Four writers; the server is killed after a random number of acknowledgements,
                    // with writes in flight.
                    let target = 5 + rng.below(25);
                    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(64);
                    let mut writers = vec![];
                    for w in 0..4 {
                        let (http, url, token, format_id, tx) = (
                            http.clone(),
                            url.clone(),
                            token.clone(),
                            format_id.clone(),
                            tx.clone(),
                        );
                        writers.push(tokio::spawn(async move {
                            for i in 0.. {
                                let r = http
                                    .post(format!("{url}/api/v1/items"))
                                    .bearer_auth(&token)
                                    .json(&serde_json::json!({"format_id": format_id, "kind": "note",
                                        "title": format!("kill {k} writer {w} item {i}"), "tlp": "GREEN",
                                        "releasable_to": ["JPN"]}))
                                    .send()
                                    .await;
                                let Ok(r) = r else { return };
                                if r.status() != 201 {
                                    return;
                                }
                                let Ok(v) = r.json::<serde_json::Value>().await else { return };
                                let id = v["id"].as_str().unwrap_or_default().to_owned();
                                if tx.send(id).await.is_err() {
                                    return;
                                }
                            }
                        }));
                    }
                    drop(tx);
                    let mut n = 0;
                    while let Some(id) = rx.recv().await {
                        acked.push(id);
                        n += 1;
                        if n == target {
                            break;
                        }
                    }
                    drop(server); // kill -9 (SIGKILL), writes in flight
                    while let Some(id) = rx.recv().await {
                        acked.push(id); // acknowledged before the kill landed
                    }
                    for w in writers {
                        let _ = w.await;
                    }
                } else {
                    // JPN pulls (page by page) while EU is killed under it.
                    let mut sync = node_command(&exe)
                        .args(["sync", "--once", "--dir", &jpn_s])
                        .env("RUST_LOG", "error")
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()?;
                    tokio::time::sleep(Duration::from_millis(rng.below(200) as u64)).await;
                    drop(server);
                    let _ = sync.wait();
                }
            }
            "alert fan-out" => {
                let mut eu_server = spawn_serve(&exe, &eu)?;
                let mut jpn_server = spawn_serve(&exe, &jpn)?;
                wait_healthy(&http, &url, &mut eu_server).await?;
                wait_healthy(&http, &jpn_url, &mut jpn_server).await?;
                // A burst of alerts: each is pushed to JPN, which pulls it and signs a receipt
                // that it pushes back. One side is killed while that is under way.
                let burst = 1 + rng.below(4);
                for i in 0..burst {
                    let r = http
                        .post(format!("{url}/api/v1/alerts"))
                        .bearer_auth(&token)
                        .json(
                            &serde_json::json!({"format_id": format_id, "severity": "high",
                            "title": format!("kill {k} alert {i}"),
                            "ack_deadline": "2099-01-01T00:00:00Z"}),
                        )
                        .send()
                        .await?;
                    if r.status() != 201 {
                        bail!("raising an alert: {}", r.text().await?);
                    }
                    let v: serde_json::Value = r.json().await?;
                    acked_alerts.push(
                        v["alert"]["alert_id"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
                tokio::time::sleep(Duration::from_millis(rng.below(150) as u64)).await;
                if (k / 5) % 2 == 0 {
                    drop(jpn_server);
                    drop(eu_server);
                } else {
                    drop(eu_server);
                    drop(jpn_server);
                }
            }
            "sync receiver" => {
                let mut server = spawn_serve(&exe, &eu)?;
                wait_healthy(&http, &url, &mut server).await?;
                let mut sync = node_command(&exe)
                    .args(["sync", "--once", "--dir", &jpn_s])
                    .env("RUST_LOG", "error")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()?;
                tokio::time::sleep(Duration::from_millis(rng.below(300) as u64)).await;
                let _ = sync.kill();
                let _ = sync.wait();
                drop(server);
            }
            _ => {
                generate_bundle_seeded(IMPORT, 0x9e37_79b9 + k, &bundle)?;
                let stix_held = async || -> Result<usize> {
                    let node = open(&eu).await?;
                    let rows = node
                        .store()
                        .stix_query(&entente_store::StixQuery {
                            collection: format_id.clone(),
                            limit: u32::MAX,
                            ..Default::default()
                        })
                        .await?;
                    Ok(rows
                        .iter()
                        .filter(|r| !r.raw.starts_with(entente_node::ITEM_MARKER))
                        .count())
                };
                let before = stix_held().await?;
                let mut import = node_command(&exe)
                    .args([
                        "import",
                        "--dir",
                        &eu_s,
                        "--format",
                        &format_id,
                        "--user",
                        "admin",
                        "--batch",
                        &BATCH.to_string(),
                    ])
                    .arg(&bundle)
                    .env("RUST_LOG", "error")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()?;
                tokio::time::sleep(Duration::from_millis(20 + rng.below(400) as u64)).await;
                let _ = import.kill();
                let _ = import.wait();
                let added = stix_held().await? - before;
                tally.import_objects_after_kill.push(added);
                if added % BATCH != 0 {
                    tally.partial_batches += 1;
                }
            }
        }
        // After every kill: both stores verify offline, and nothing acknowledged is missing.
        for dir in [&eu, &jpn] {
            if !verify(dir)? {
                tally.verify_failures += 1;
            }
        }
        let node = open(&eu).await?;
        let held = node.store().items_by_id(&acked).await?;
        tally.lost += (acked.len() - held.len()) as u64;
        let alerts = alert_ids(&node, "admin").await?;
        lost_alerts.extend(
            acked_alerts
                .iter()
                .filter(|a| !alerts.contains_key(a.as_str()))
                .cloned(),
        );
    }
    // Sync resumes: one more pull leaves JPN with every item and alert EU released to it (and
    // JPN signs the receipts it owes), then EU pulls the receipts.
    for (serving, serving_url, pulling) in [(&eu, &url, &jpn_s), (&jpn, &jpn_url, &eu_s)] {
        let mut server = spawn_serve(&exe, serving)?;
        wait_healthy(&http, serving_url, &mut server).await?;
        if !run_entente(&exe, &["sync", "--once", "--dir", pulling])?
            .status
            .success()
        {
            tally.resume_failures += 1;
        }
        drop(server);
    }
    {
        let node = open(&eu).await?;
        let alerts = alert_ids(&node, "admin").await?;
        let jpn_code = PartnerCode::parse("JPN")?;
        tally.receipts_missing = acked_alerts
            .iter()
            .filter(|a| {
                !alerts
                    .get(a.as_str())
                    .is_some_and(|s| s.receipts.contains_key(&jpn_code))
            })
            .count() as u64;
        // Receipts JPN signed, counted from its own logs.
        let node = open(&jpn).await?;
        let mut signed: std::collections::HashMap<String, u64> = Default::default();
        for l in node.store().logs().await? {
            if l.origin != jpn_code {
                continue;
            }
            for e in node.store().entries_after(&l.log_id, 0, u32::MAX).await? {
                let p = entente_log::parse_owned(e)?;
                if let Ok(entente_domain::Payload::AlertReceipt(r)) =
                    entente_domain::Payload::parse(&p.header.kind, p.payload())
                {
                    *signed.entry(r.alert_id).or_default() += 1;
                }
            }
        }
        tally.receipts_duplicated = signed.values().map(|n| n.saturating_sub(1)).sum();
    }
    let count = |dir: PathBuf| async move {
        let node = open(&dir).await?;
        let mut q = entente_store::ItemQuery {
            limit: 100_000,
            ..Default::default()
        };
        q.origin = Some(PartnerCode::parse("EU")?);
        anyhow::Ok(node.store().items(&q).await?.len())
    };
    if count(eu.clone()).await? != count(jpn.clone()).await? {
        tally.resume_failures += 1;
    }
    for dir in [&eu, &jpn] {
        if !verify(dir)? {
            tally.verify_failures += 1;
        }
    }
    tally.acknowledged = acked.len() as u64;
    tally.alerts_acknowledged = acked_alerts.len() as u64;
    tally.alerts_lost = lost_alerts.len() as u64;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(out, serde_json::to_vec_pretty(&tally)?)?;
    Ok(tally)
}

/// The alerts a node holds, by id, as `user` sees them.
pub(crate) async fn alert_ids(
    node: &entente_node::Node,
    user: &str,
) -> Result<std::collections::HashMap<String, entente_domain::alert::AlertState>> {
    let who = node.principal_for(user).await?;
    Ok(node
        .alerts(&who)
        .await?
        .into_iter()
        .map(|v| (v.alert.alert_id.clone(), v.alert))
        .collect())
}
