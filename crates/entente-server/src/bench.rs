//! `entente bench sync`: replicate N signed entries from one node process to another over
//! loopback and report entries/s, seconds and the peak RSS of both processes.

use crate::{ServerConfig, init, open};
use anyhow::{Context, Result, bail};
use entente_domain::payload::ItemPublish;
use entente_domain::{Audience, ItemKind, PartnerCode, Payload, Tlp};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Serialize)]
pub struct SyncBenchResult {
    pub entries: u64,
    pub seed_seconds: f64,
    pub sync_seconds: f64,
    pub entries_per_second: f64,
    pub sender_peak_rss_mb: f64,
    pub receiver_peak_rss_mb: f64,
    pub receiver_verified: bool,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_serve(exe: &Path, dir: &Path) -> Result<Proc> {
    let child = Command::new(exe)
        .args(["serve", "--dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .env("RUST_LOG", "warn")
        .spawn()
        .context("spawning entente serve")?;
    Ok(Proc(child))
}

async fn wait_healthy(http: &reqwest::Client, url: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http
            .get(format!("{url}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{url} did not become healthy")
}

/// Run the benchmark in `work` (a scratch directory) and write the figures to `out`.
pub async fn sync(
    entries: u64,
    work: &Path,
    out: &Path,
    mut progress: impl FnMut(&str, u64, u64),
) -> Result<SyncBenchResult> {
    let exe = std::env::current_exe()?;
    let (a_dir, b_dir): (PathBuf, PathBuf) = (work.join("sender-eu"), work.join("receiver-jpn"));
    let (pa, pb) = (free_port()?, free_port()?);
    init(&a_dir, "EU", ([127, 0, 0, 1], pa).into(), None).await?;
    init(&b_dir, "JPN", ([127, 0, 0, 1], pb).into(), None).await?;
    for d in [&a_dir, &b_dir] {
        ServerConfig::rewrite(d, |f| {
            f.sync.interval_secs = 3600;
            f.sync.on_start = false;
            f.sync.page_size = 5000;
        })?;
    }
    let token;
    let seed_seconds;
    {
        let a = open(&a_dir).await?;
        let b = open(&b_dir).await?;
        a.add_peer(
            "JPN",
            Some(&b.config().public_url),
            &b.public_key().to_hex(),
        )
        .await?;
        b.add_peer("EU", Some(&a.config().public_url), &a.public_key().to_hex())
            .await?;
        b.add_user(
            "bench",
            entente_domain::Role::Admin,
            &crate::generate_password()?,
        )
        .await?;
        token = b.create_token_for("bench", "bench").await?;

        // Seed the sender: item publications in one log released to {EU, JPN}.
        let t0 = Instant::now();
        let aud = Audience::new([PartnerCode::parse("EU")?, PartnerCode::parse("JPN")?])?;
        let batch = 5000u64;
        let mut done = 0;
        while done < entries {
            let n = batch.min(entries - done);
            let payloads: Vec<Payload> = (done..done + n)
                .map(|i| {
                    Payload::ItemPublish(ItemPublish {
                        item_id: entente_node::new_id(),
                        format_id: "bench-format".into(),
                        kind: ItemKind::Note,
                        title: format!("Bench note {i}"),
                        body: format!("Synthetic benchmark entry number {i}: maritime situational awareness update, nothing real."),
                        topics: vec!["maritime-security".into()],
                        tlp: Some(Tlp::Green),
                        named_users: vec![],
                        author: "bench@EU".into(),
                    })
                })
                .collect();
            a.publish(&aud, &payloads).await?;
            done += n;
            progress("seed", done, entries);
        }
        seed_seconds = t0.elapsed().as_secs_f64();
        progress("seeded", entries, entries);
    }

    let sender = spawn_serve(&exe, &a_dir)?;
    let receiver = spawn_serve(&exe, &b_dir)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()?;
    let (a_url, b_url) = (
        format!("http://127.0.0.1:{pa}"),
        format!("http://127.0.0.1:{pb}"),
    );
    wait_healthy(&http, &a_url).await?;
    wait_healthy(&http, &b_url).await?;

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
    drop(sender);
    drop(receiver);
    if applied != entries {
        bail!("receiver applied {applied} of {entries} entries: {reports}");
    }
    // Independent check: the receiver's copy verifies entry by entry.
    let b = open(&b_dir).await?;
    let report = b.verify_all(|_| {}).await?;
    let result = SyncBenchResult {
        entries,
        seed_seconds,
        sync_seconds,
        entries_per_second: entries as f64 / sync_seconds,
        sender_peak_rss_mb: sender_rss,
        receiver_peak_rss_mb: receiver_rss,
        receiver_verified: report.ok() && report.entries == entries,
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(out, serde_json::to_vec_pretty(&result)?)?;
    Ok(result)
}
