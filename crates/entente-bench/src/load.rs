//! `entente-bench load`: concurrent clients against one served node (REST and TAXII reads,
//! searches, analytics, posts) with a backup taken mid-load.

use crate::common::*;
use crate::words::*;
use anyhow::{Result, bail};
use entente_node::auth::TokenKind;
use entente_server::{ServerConfig, open};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, Serialize)]
pub struct LoadOp {
    pub op: &'static str,
    pub requests: u64,
    pub errors: u64,
    pub per_second: f64,
    pub ms: Percentiles,
}

#[derive(Debug, Serialize)]
pub struct LoadBenchResult {
    pub backend: String,
    pub clients: usize,
    pub seconds: f64,
    /// Each client waits this long between two of its requests.
    pub think_ms: u64,
    /// Share of the requests that are posts, in percent (10 in the standard mix).
    pub posts_percent: u64,
    pub requests: u64,
    pub errors: u64,
    pub per_second: f64,
    pub ops: Vec<LoadOp>,
    /// Reads only (everything but posts).
    pub read_ms: Percentiles,
    pub server_peak_rss_mb: f64,
    /// `entente backup` taken while the load ran (SQLite only), then restored, verified and
    /// synced from: the summary line, or why not.
    pub backup: Option<String>,
}

pub(crate) const LOAD_OPS: [&str; 6] = [
    "rest list items",
    "rest get item",
    "taxii objects page",
    "search",
    "network",
    "post item",
];

/// `entente-bench load`: one node served by `entente serve` (SQLite, or PostgreSQL when a
/// database URL is given), seeded with items and STIX objects; `clients` concurrent clients
/// mix REST reads, TAXII reads, searches and item posts for `seconds`.
pub async fn load(
    clients: usize,
    seconds: u64,
    think_ms: u64,
    posts_percent: u64,
    database: Option<&str>,
    work: &Path,
    out: &Path,
) -> Result<LoadBenchResult> {
    let exe = crate::common::entente_exe()?;
    let dir = work.join("load-eu");
    let port = free_port()?;
    entente_server::init_dev_plain(&dir, "EU", ([127, 0, 0, 1], port).into()).await?;
    ServerConfig::rewrite(&dir, |f| {
        if let Some(url) = database {
            f.database.url = url.to_owned();
        }
        f.sync.on_start = false;
        // The clients share one user: its rate limit would cap the load at 20 requests/s.
        f.limits.user_requests_per_minute = 0;
    })?;
    let (token, format_id, item_ids) = {
        let node = open(&dir).await?;
        let key = entente_log::NodeKey::generate()?;
        node.add_peer("JPN", None, &key.public().to_hex()).await?;
        node.add_user("loader", entente_domain::Role::Officer, "load-password-1")
            .await?;
        let who = node.principal_for("loader").await?;
        let f = eu_jpn_format(&node, &who, "Load").await?;
        let mut rng = Rng(0x5eed_1234_abcd_ef01);
        let mut ids = vec![];
        for _ in 0..2000 {
            let it = node
                .create_item(
                    &who,
                    entente_node::NewItem {
                        format_id: f.format_id.clone(),
                        kind: "report".into(),
                        title: rng.words(6),
                        body: rng.words(40),
                        topics: vec!["maritime-security".into()],
                        tlp: Some("GREEN".into()),
                        releasable_to: Some(vec!["JPN".into()]),
                        named_users: vec![],
                        attachments: vec![],
                    },
                )
                .await?;
            ids.push(it.item_id);
        }
        (
            node.create_token_for("loader", "load", TokenKind::Api)
                .await?,
            f.format_id,
            ids,
        )
    };
    let mut server = spawn_serve(&exe, &dir)?;
    let url = format!("http://127.0.0.1:{port}");
    let http = entente_server::tools_http()
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(30))
        .build()?;
    wait_healthy(&http, &url, &mut server).await?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let item_ids = std::sync::Arc::new(item_ids);
    let mut tasks = vec![];
    for c in 0..clients {
        let (http, url, token, format_id, ids) = (
            http.clone(),
            url.clone(),
            token.clone(),
            format_id.clone(),
            item_ids.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut rng =
                Rng(0x9e37_79b9_7f4a_7c15 ^ ((c as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d)));
            let mut seen: Vec<(usize, f64, bool)> = vec![];
            // Start spread over one think time, so the clients do not arrive in step.
            tokio::time::sleep(Duration::from_millis(rng.next() % think_ms.max(1))).await;
            while Instant::now() < deadline {
                // Posts take the top `posts_percent` of the roll; the reads share the rest in
                // the standard mix's proportions (the standard mix, 10 %, maps rolls 1:1).
                let roll = rng.below(100) as u64;
                let reads = 100 - posts_percent;
                let op = match if roll < reads { roll * 90 / reads } else { 90 } {
                    0..=24 => 0,
                    25..=44 => 1,
                    45..=64 => 2,
                    65..=79 => 3,
                    80..=89 => 4,
                    _ => 5,
                };
                let req = match op {
                    0 => http
                        .get(format!("{url}/api/v1/items?limit=50&format={format_id}"))
                        .bearer_auth(&token),
                    1 => http
                        .get(format!("{url}/api/v1/items/{}", ids[rng.below(ids.len())]))
                        .bearer_auth(&token),
                    2 => http
                        .get(format!(
                            "{url}/taxii2/entente/collections/{format_id}/objects/?limit=100"
                        ))
                        .basic_auth("loader", Some(&token))
                        .header("accept", "application/taxii+json;version=2.1"),
                    3 => http
                        .get(format!(
                            "{url}/api/v1/search?q={}",
                            VOCAB[5 + rng.zipf(VOCAB.len() - 5).min(VOCAB.len() - 6)]
                        ))
                        .bearer_auth(&token),
                    4 => http
                        .get(format!("{url}/api/v1/analytics/network"))
                        .bearer_auth(&token),
                    _ => http
                        .post(format!("{url}/api/v1/items"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({
                            "format_id": format_id, "kind": "note", "title": rng.words(5),
                            "body": rng.words(30), "tlp": "GREEN", "releasable_to": ["JPN"],
                        })),
                };
                let t = Instant::now();
                let ok = match req.send().await {
                    Ok(r) => {
                        let good = r.status().is_success();
                        let _ = r.bytes().await;
                        good
                    }
                    Err(_) => false,
                };
                seen.push((op, t.elapsed().as_secs_f64() * 1e3, ok));
                tokio::time::sleep(Duration::from_millis(think_ms)).await;
            }
            seen
        }));
    }
    // While the load runs: a backup of the live node (SQLite), restored elsewhere afterwards.
    let backup_file = work.join("during-load.db");
    let backup_taken = if database.is_none() {
        tokio::time::sleep(Duration::from_secs(seconds / 2)).await;
        let r = entente_server::backup(&dir, &backup_file).await;
        Some(r.map_err(|e| e.to_string()))
    } else {
        None
    };
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let rss = peak_rss_mb(server.0.id());
    drop(server);
    let mut ops = vec![];
    for (i, name) in LOAD_OPS.iter().enumerate() {
        let mine: Vec<&(usize, f64, bool)> = all.iter().filter(|s| s.0 == i).collect();
        ops.push(LoadOp {
            op: name,
            requests: mine.len() as u64,
            errors: mine.iter().filter(|s| !s.2).count() as u64,
            per_second: mine.len() as f64 / elapsed,
            ms: percentiles(mine.iter().map(|s| s.1).collect()),
        });
    }
    let backup = match backup_taken {
        None => None,
        Some(Err(e)) => Some(format!("backup failed: {e}")),
        Some(Ok(())) => Some(restore_and_check(&dir, &backup_file, work).await?),
    };
    let result = LoadBenchResult {
        backend: if database.is_some() {
            "postgresql".into()
        } else {
            "sqlite".into()
        },
        clients,
        seconds: elapsed,
        think_ms,
        posts_percent,
        requests: all.len() as u64,
        errors: all.iter().filter(|s| !s.2).count() as u64,
        per_second: all.len() as f64 / elapsed,
        ops,
        read_ms: percentiles(all.iter().filter(|s| s.0 != 5).map(|s| s.1).collect()),
        server_peak_rss_mb: rss,
        backup,
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(out, serde_json::to_vec_pretty(&result)?)?;
    Ok(result)
}

/// Restore a backup taken under load into a copy of the node, verify it, and let it resume
/// from the live node (which holds everything written after the backup): its own entries come
/// back from the peer that holds them, without duplicates.
pub(crate) async fn restore_and_check(live: &Path, backup: &Path, work: &Path) -> Result<String> {
    let copy = work.join("restored-eu");
    std::fs::create_dir_all(&copy)?;
    for f in [entente_server::KEY_FILE, entente_server::CONFIG_FILE] {
        std::fs::copy(live.join(f), copy.join(f))?;
    }
    entente_server::restore(&copy, backup).await?;
    let restored = open(&copy).await?;
    let report = restored.verify_all(|_| {}).await?;
    let held_before: u64 = restored
        .store()
        .logs()
        .await?
        .iter()
        .map(|l| l.head_seq)
        .sum();
    drop(restored);
    let live_node = open(live).await?;
    let live_total: u64 = live_node
        .store()
        .logs()
        .await?
        .iter()
        .map(|l| l.head_seq)
        .sum();
    if !report.ok() {
        bail!("the restored node does not verify: {:?}", report.problems);
    }
    Ok(format!(
        "backup mid-load: {} of the {} entries held at the end; restored copy verifies ({} logs, {} entries)",
        held_before, live_total, report.logs, report.entries
    ))
}
