//! `entente-bench sync`: replicate N signed entries from one node process to another over
//! loopback and report entries/s, seconds and the peak RSS of both processes; `seed` for the
//! WAN catch-up test.

use crate::common::*;
use anyhow::{Result, bail};
use entente_domain::payload::ItemPublish;
use entente_domain::{Audience, ItemKind, PartnerCode, Payload, Tlp};
use entente_node::auth::TokenKind;
use entente_server::{ServerConfig, open};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One way of running the sync benchmark: the transport between the two processes and how
/// many page requests the receiver keeps in flight.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SyncVariant {
    /// HTTPS with mutual TLS pinned to the node keys (the default of a real node), or plain
    /// HTTP on loopback (development mode).
    pub tls: bool,
    pub pages_in_flight: usize,
}

#[derive(Debug, Serialize)]
pub struct SyncRun {
    pub variant: SyncVariant,
    pub sync_seconds: f64,
    pub entries_per_second: f64,
    pub sender_peak_rss_mb: f64,
    pub receiver_peak_rss_mb: f64,
    /// The peak RSS of each side split into anonymous and file-backed memory, sampled.
    pub sender_rss_split: crate::common::RssSplit,
    pub receiver_rss_split: crate::common::RssSplit,
    pub receiver_verified: bool,
}

#[derive(Debug, Serialize)]
pub struct SyncBenchResult {
    pub entries: u64,
    pub seed_seconds: f64,
    /// The sender's search index built before it serves (not part of the sync).
    pub index_seconds: f64,
    /// One run per variant, in the order given, each into a fresh copy of the same receiver.
    pub runs: Vec<SyncRun>,
}

/// Publish `entries` synthetic item entries (TLP:GREEN notes) to `node`'s log for `audience`,
/// in batches of 5,000 (`entente-bench seed`, and the sync benchmarks' sender).
pub async fn seed(
    node: &entente_node::Node,
    aud: &Audience,
    entries: u64,
    progress: &mut impl FnMut(&str, u64, u64),
) -> Result<()> {
    let batch = 5000u64;
    let mut done = 0;
    let author = format!("bench@{}", node.partner());
    let format_id = bench_format(node, aud).await?;
    while done < entries {
        let n = batch.min(entries - done);
        let payloads: Vec<Payload> = (done..done + n)
            .map(|i| {
                Payload::ItemPublish(ItemPublish {
                    released_from: None,
                    item_id: entente_node::new_id(),
                    format_id: format_id.clone(),
                    kind: ItemKind::Note,
                    title: format!("Bench note {i}"),
                    body: format!("Synthetic benchmark entry number {i}: maritime situational awareness update, nothing real."),
                    topics: vec!["maritime-security".into()],
                    tlp: Some(Tlp::Green),
                    named_users: vec![],
                    author: author.clone(),
                    attachments: vec![],
                })
            })
            .collect();
        node.publish(aud, &payloads).await?;
        done += n;
        progress("seed", done, entries);
    }
    Ok(())
}

/// Run the benchmark in `work` (a scratch directory) and write the figures to `out`: the
/// sender is seeded once, then each variant replicates everything into a fresh copy of the
/// same (empty) receiver, so the runs differ only in the variant.
pub async fn sync(
    entries: u64,
    variants: &[SyncVariant],
    work: &Path,
    out: &Path,
    mut progress: impl FnMut(&str, u64, u64),
) -> Result<SyncBenchResult> {
    let exe = crate::common::entente_exe()?;
    let (a_dir, b0_dir): (PathBuf, PathBuf) = (work.join("sender-eu"), work.join("receiver-jpn"));
    let (pa, pb) = (free_port()?, free_port()?);
    entente_server::init(&a_dir, "EU", ([127, 0, 0, 1], pa).into(), None).await?;
    entente_server::init(&b0_dir, "JPN", ([127, 0, 0, 1], pb).into(), None).await?;
    for d in [&a_dir, &b0_dir] {
        ServerConfig::rewrite(d, |f| {
            f.sync.interval_secs = 3600;
            f.sync.on_start = false;
            f.sync.page_size = 5000;
            // A capacity measurement: the per-peer rate limit would measure itself.
            f.limits.peer_requests_per_minute = 0;
        })?;
    }
    let (token, a_key, b_key);
    let (seed_seconds, index_seconds);
    {
        let a = open(&a_dir).await?;
        let b = open(&b0_dir).await?;
        (a_key, b_key) = (a.public_key().to_hex(), b.public_key().to_hex());
        b.add_user(
            "bench",
            entente_domain::Role::Admin,
            &entente_server::generate_password()?,
        )
        .await?;
        token = b.create_token_for("bench", "bench", TokenKind::Api).await?;

        // Seed the sender: item publications in one log released to {EU, JPN}.
        let t0 = Instant::now();
        let aud = Audience::new([PartnerCode::parse("EU")?, PartnerCode::parse("JPN")?])?;
        seed(&a, &aud, entries, &mut progress).await?;
        seed_seconds = t0.elapsed().as_secs_f64();
        progress("seeded", entries, entries);
        // The sender's search index is built here, as a serving node has it: otherwise the
        // sender process rebuilds it at start-up, during the sync, and the two cores measured
        // the sender's index build beside the sync (a third of the sender's time in a profile
        // of 300,000 entries).
        let t1 = Instant::now();
        entente_server::attach_search(&a, &ServerConfig::load(&a_dir)?).await?;
        a.search_settled().await;
        index_seconds = t1.elapsed().as_secs_f64();
    }

    let mut runs = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        let b_dir = work.join(format!("receiver-jpn-{i}"));
        copy_dir(&b0_dir, &b_dir)?;
        let scheme = if v.tls { "https" } else { "http" };
        for d in [&a_dir, &b_dir] {
            ServerConfig::rewrite(d, |f| {
                f.tls.mode = if v.tls { "pinned" } else { "off" }.into();
                f.public_url = f.public_url.replacen(
                    if v.tls { "http://" } else { "https://" },
                    &format!("{scheme}://"),
                    1,
                );
                f.sync.pages_in_flight = v.pages_in_flight;
            })?;
            // A certificate left by the run before is rewritten when the node serves.
            let _ = std::fs::remove_file(d.join(entente_server::tls::TLS_CERT_FILE));
        }
        let (a_url, b_url) = (
            format!("{scheme}://127.0.0.1:{pa}"),
            format!("{scheme}://127.0.0.1:{pb}"),
        );
        open(&a_dir)
            .await?
            .add_peer("JPN", Some(&b_url), &b_key)
            .await?;
        open(&b_dir)
            .await?
            .add_peer("EU", Some(&a_url), &a_key)
            .await?;
        let mut sender = spawn_serve(&exe, &a_dir)?;
        let mut receiver = spawn_serve(&exe, &b_dir)?;
        let http = if v.tls {
            let crts = [
                a_dir.join(entente_server::tls::TLS_CERT_FILE),
                b_dir.join(entente_server::tls::TLS_CERT_FILE),
            ];
            wait_for_files(&crts, &mut [&mut sender, &mut receiver]).await?;
            entente_server::tools_https(&[&crts[0], &crts[1]])?
        } else {
            entente_server::tools_http()
        }
        .timeout(Duration::from_secs(3600))
        .build()?;
        wait_healthy(&http, &a_url, &mut sender).await?;
        wait_healthy(&http, &b_url, &mut receiver).await?;

        let sampler = crate::common::RssSampler::start(vec![sender.0.id(), receiver.0.id()]);
        let t0 = Instant::now();
        let resp = http
            .post(format!("{b_url}/api/v1/sync"))
            .bearer_auth(&token)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("sync request failed: HTTP {}", resp.status());
        }
        let reports: serde_json::Value = resp.json().await?;
        let sync_seconds = t0.elapsed().as_secs_f64();
        let applied = reports[0]["entries_applied"].as_u64().unwrap_or(0);
        let sender_rss = peak_rss_mb(sender.0.id());
        let receiver_rss = peak_rss_mb(receiver.0.id());
        let split = sampler.stop();
        drop(sender);
        drop(receiver);
        // The seed's format charter is the log's first entry.
        if applied != entries + 1 {
            bail!(
                "receiver applied {applied} of {} entries: {reports}",
                entries + 1
            );
        }
        // Independent check: the receiver's copy verifies entry by entry.
        let b = open(&b_dir).await?;
        let report = b.verify_all(|_| {}).await?;
        drop(b);
        let _ = std::fs::remove_dir_all(&b_dir);
        runs.push(SyncRun {
            variant: *v,
            sync_seconds,
            entries_per_second: entries as f64 / sync_seconds,
            sender_peak_rss_mb: sender_rss,
            receiver_peak_rss_mb: receiver_rss,
            sender_rss_split: split.first().copied().unwrap_or_default(),
            receiver_rss_split: split.get(1).copied().unwrap_or_default(),
            receiver_verified: report.ok() && report.entries == entries + 1,
        });
        progress("run", i as u64 + 1, variants.len() as u64);
    }
    let result = SyncBenchResult {
        entries,
        seed_seconds,
        index_seconds,
        runs,
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(out, serde_json::to_vec_pretty(&result)?)?;
    Ok(result)
}
