//! `entente bench sync`: replicate N signed entries from one node process to another over
//! loopback and report entries/s, seconds and the peak RSS of both processes.

use crate::{ServerConfig, open};
use anyhow::{Context, Result, bail};
use entente_domain::payload::ItemPublish;
use entente_domain::{Audience, ItemKind, PartnerCode, Payload, Tlp};
use entente_node::auth::TokenKind;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
    pub receiver_verified: bool,
}

#[derive(Debug, Serialize)]
pub struct SyncBenchResult {
    pub entries: u64,
    pub seed_seconds: f64,
    /// One run per variant, in the order given, each into a fresh copy of the same receiver.
    pub runs: Vec<SyncRun>,
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

/// How long a benchmark waits for a node it started: a node seeded with a million items builds
/// its search index (items and their STIX form) before it serves, which takes tens of seconds
/// here. Not part of any figure.
const START_TIMEOUT: Duration = Duration::from_secs(300);

async fn wait_healthy(http: &reqwest::Client, url: &str) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
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

/// Publish a format whose members are `members` (convened by `node`), straight to the log, and
/// return its id: items are filed only under a format their origin and audience belong to.
pub async fn bench_format(node: &entente_node::Node, members: &Audience) -> Result<String> {
    let id = entente_node::new_id();
    let charter = entente_domain::payload::FormatCharter {
        format_id: id.clone(),
        title: "Benchmark format".into(),
        description: String::new(),
        topics: vec!["maritime-security".into()],
        members: members.iter().cloned().collect(),
        convener: node.partner().clone(),
        stix_default_releasable_to: None,
    };
    node.publish(members, &[Payload::FormatCharter(charter)])
        .await?;
    Ok(id)
}

/// Publish `entries` synthetic item entries (TLP:GREEN notes) to `node`'s log for `audience`,
/// in batches of 5,000 (`entente bench seed`, and the sync benchmarks' sender).
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
                    item_id: entente_node::new_id(),
                    format_id: format_id.clone(),
                    kind: ItemKind::Note,
                    title: format!("Bench note {i}"),
                    body: format!("Synthetic benchmark entry number {i}: maritime situational awareness update, nothing real."),
                    topics: vec!["maritime-security".into()],
                    tlp: Some(Tlp::Green),
                    named_users: vec![],
                    author: author.clone(),
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
    let exe = std::env::current_exe()?;
    let (a_dir, b0_dir): (PathBuf, PathBuf) = (work.join("sender-eu"), work.join("receiver-jpn"));
    let (pa, pb) = (free_port()?, free_port()?);
    crate::init(&a_dir, "EU", ([127, 0, 0, 1], pa).into(), None).await?;
    crate::init(&b0_dir, "JPN", ([127, 0, 0, 1], pb).into(), None).await?;
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
    let seed_seconds;
    {
        let a = open(&a_dir).await?;
        let b = open(&b0_dir).await?;
        (a_key, b_key) = (a.public_key().to_hex(), b.public_key().to_hex());
        b.add_user(
            "bench",
            entente_domain::Role::Admin,
            &crate::generate_password()?,
        )
        .await?;
        token = b.create_token_for("bench", "bench", TokenKind::Api).await?;

        // Seed the sender: item publications in one log released to {EU, JPN}.
        let t0 = Instant::now();
        let aud = Audience::new([PartnerCode::parse("EU")?, PartnerCode::parse("JPN")?])?;
        seed(&a, &aud, entries, &mut progress).await?;
        seed_seconds = t0.elapsed().as_secs_f64();
        progress("seeded", entries, entries);
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
            let _ = std::fs::remove_file(d.join(crate::tls::TLS_CERT_FILE));
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
        let sender = spawn_serve(&exe, &a_dir)?;
        let receiver = spawn_serve(&exe, &b_dir)?;
        let http = if v.tls {
            let crts = [
                a_dir.join(crate::tls::TLS_CERT_FILE),
                b_dir.join(crate::tls::TLS_CERT_FILE),
            ];
            wait_for_files(&crts).await?;
            crate::tools_https(&[&crts[0], &crts[1]])?
        } else {
            crate::tools_http()
        }
        .timeout(Duration::from_secs(3600))
        .build()?;
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
            receiver_verified: report.ok() && report.entries == entries + 1,
        });
        progress("run", i as u64 + 1, variants.len() as u64);
    }
    let result = SyncBenchResult {
        entries,
        seed_seconds,
        runs,
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(out, serde_json::to_vec_pretty(&result)?)?;
    Ok(result)
}

/// Copy a stopped node's directory (database, keys, configuration, search index).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), dest)?;
        }
    }
    Ok(())
}

/// Wait (bounded) until every file exists: `serve` writes its certificate as it starts.
async fn wait_for_files(files: &[PathBuf]) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while !files.iter().all(|f| f.exists()) {
        if Instant::now() > deadline {
            bail!("no certificate written by serve: {files:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct ImportBenchResult {
    pub objects: u64,
    pub bundle_mb: f64,
    pub seconds: f64,
    pub objects_per_second: f64,
    pub importer_peak_rss_mb: f64,
    pub json_parse_objects_per_second: f64,
}

/// Write a deterministic bundle of `n` valid STIX 2.1 objects (indicators, notes, reports,
/// incidents, courses of action, TLP-marked) without holding it in memory.
pub fn generate_bundle(n: u64, path: &Path) -> Result<()> {
    generate_bundle_seeded(n, 0x2545F4914F6CDD1D, path)
}

/// [`generate_bundle`] with other object ids (a different nonzero seed).
pub fn generate_bundle_seeded(n: u64, seed: u64, path: &Path) -> Result<()> {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    let tlp = [
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    ];
    // A small xorshift generator: deterministic, no dependency.
    let mut s: u64 = seed.max(1);
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    write!(
        w,
        "{{\"type\":\"bundle\",\"id\":\"bundle--0b7d0f3e-8d0c-4c77-9a3e-5c1f00000001\",\"objects\":["
    )?;
    for i in 0..n {
        if i > 0 {
            w.write_all(b",")?;
        }
        let (a, b) = (next(), next());
        let uuid = format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        );
        let day = 1 + i % 28;
        let ts = format!(
            "2026-10-{day:02}T{:02}:{:02}:{:02}.000Z",
            (i / 3600) % 24,
            (i / 60) % 60,
            i % 60
        );
        let m = tlp[(a % 3) as usize];
        match i % 5 {
            0 | 1 => write!(
                w,
                "{{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":\"indicator--{uuid}\",\"created\":\"{ts}\",\"modified\":\"{ts}\",\"name\":\"Synthetic IOC {i}\",\"description\":\"Benchmark indicator {i}: suspicious infrastructure seen during a fictional exercise.\",\"indicator_types\":[\"malicious-activity\"],\"pattern\":\"[ipv4-addr:value = '198.51.{}.{}']\",\"pattern_type\":\"stix\",\"valid_from\":\"{ts}\",\"object_marking_refs\":[\"{m}\"]}}",
                (a >> 8) % 256,
                a % 256
            )?,
            2 => write!(
                w,
                "{{\"type\":\"note\",\"spec_version\":\"2.1\",\"id\":\"note--{uuid}\",\"created\":\"{ts}\",\"modified\":\"{ts}\",\"abstract\":\"Note {i}\",\"content\":\"Analyst note {i} on a fictional exercise scenario.\",\"object_refs\":[\"indicator--{uuid}\"],\"object_marking_refs\":[\"{m}\"]}}"
            )?,
            3 => write!(
                w,
                "{{\"type\":\"incident\",\"spec_version\":\"2.1\",\"id\":\"incident--{uuid}\",\"created\":\"{ts}\",\"modified\":\"{ts}\",\"name\":\"Incident {i}\",\"description\":\"Fictional incident {i} for the import benchmark.\",\"object_marking_refs\":[\"{m}\"]}}"
            )?,
            _ => write!(
                w,
                "{{\"type\":\"course-of-action\",\"spec_version\":\"2.1\",\"id\":\"course-of-action--{uuid}\",\"created\":\"{ts}\",\"modified\":\"{ts}\",\"name\":\"Mitigation {i}\",\"description\":\"Block the fictional infrastructure of exercise {i}.\",\"object_marking_refs\":[\"{m}\"]}}"
            )?,
        }
    }
    write!(w, "]}}")?;
    w.flush()?;
    Ok(())
}

/// `entente bench import`: generate a bundle, then time `entente import` of it in a child
/// process (durable: every batch committed with synchronous=FULL) and sample its peak RSS.
pub async fn import(objects: u64, work: &Path, out: &Path) -> Result<ImportBenchResult> {
    let exe = std::env::current_exe()?;
    let bundle = work.join("bundle.json");
    generate_bundle(objects, &bundle)?;
    let bundle_mb = std::fs::metadata(&bundle)?.len() as f64 / 1_048_576.0;
    // The physical floor: parsing the same file with serde_json.
    let t0 = Instant::now();
    {
        #[derive(serde::Deserialize)]
        struct B<'a> {
            #[serde(borrow)]
            objects: Vec<&'a serde_json::value::RawValue>,
        }
        let bytes = std::fs::read(&bundle)?;
        let mut n = 0;
        let b: B<'_> = serde_json::from_slice(&bytes)?;
        for o in &b.objects {
            let v: serde_json::Value = serde_json::from_str(o.get())?;
            n += v.as_object().map(|m| m.len()).unwrap_or(0);
        }
        std::hint::black_box(n);
    }
    let parse_rate = objects as f64 / t0.elapsed().as_secs_f64();
    let dir = work.join("node");
    crate::init_dev_plain(&dir, "EU", ([127, 0, 0, 1], free_port()?).into()).await?;
    let format_id = {
        let node = open(&dir).await?;
        node.add_user(
            "bench",
            entente_domain::Role::Admin,
            &crate::generate_password()?,
        )
        .await?;
        let who = node.principal_for("bench").await?;
        let f = node
            .create_format(
                &who,
                entente_node::NewFormat {
                    title: "Import bench".into(),
                    description: String::new(),
                    topics: vec!["cyber-defence".into()],
                    members: vec!["EU".into()],
                    stix_default_releasable_to: None,
                },
            )
            .await?;
        f.format_id
    };
    let t0 = Instant::now();
    let mut child = Command::new(&exe)
        .args([
            "import", "--user", "bench", "--batch", "25000", "--format", &format_id, "--dir",
        ])
        .arg(&dir)
        .arg(&bundle)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let pid = child.id();
    let mut peak: f64 = 0.0;
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!("entente import failed: {status}");
            }
            break;
        }
        peak = peak.max(peak_rss_mb(pid).max(0.0));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = t0.elapsed().as_secs_f64();
    let result = ImportBenchResult {
        objects,
        bundle_mb,
        seconds,
        objects_per_second: objects as f64 / seconds,
        importer_peak_rss_mb: peak,
        json_parse_objects_per_second: parse_rate,
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(out, serde_json::to_vec_pretty(&result)?)?;
    Ok(result)
}

#[derive(Debug, Serialize)]
pub struct AlertBenchResult {
    pub alerts: u64,
    pub interval_ms: u64,
    pub recipients: u64,
    pub receipt_ms: Percentiles,
    pub ack_ms: Percentiles,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub n: usize,
}

fn percentiles(mut v: Vec<f64>) -> Percentiles {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| {
        if v.is_empty() {
            f64::NAN
        } else {
            v[((v.len() - 1) as f64 * p).round() as usize]
        }
    };
    Percentiles {
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
        max: at(1.0),
        n: v.len(),
    }
}

fn ms_between(a: &str, b: &str) -> Option<f64> {
    let (a, b) = (
        entente_node::clock::parse_rfc3339(a)?,
        entente_node::clock::parse_rfc3339(b)?,
    );
    Some((b - a).as_seconds_f64() * 1000.0)
}

/// `entente bench alerts`: the three demo nodes on loopback; NATO raises N alerts to EU and
/// JPN through the REST API; a client per recipient acknowledges each through the REST API as
/// soon as it sees it. Latencies come from the signed entries' timestamps (one host, one clock):
/// raise → delivery receipt (automatic, by push) and raise → acknowledgement.
pub async fn alerts(n: u64, interval_ms: u64, work: &Path, out: &Path) -> Result<AlertBenchResult> {
    let base = loop {
        let p = free_port()?;
        if p < 65000 && (1..3).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok()) {
            break p;
        }
    };
    let demo = crate::demo::start(&work.join("demo"), base).await?;
    let node = |p: &str| {
        demo.file
            .nodes
            .iter()
            .find(|n| n.partner == p)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no {p}"))
    };
    let (nato, eu, jpn) = (node("NATO")?, node("EU")?, node("JPN")?);
    let http = crate::tools_http().build()?;
    let formats: serde_json::Value = http
        .get(format!("{}/api/v1/formats", nato.url))
        .bearer_auth(&nato.token)
        .send()
        .await?
        .json()
        .await?;
    let format_id = formats
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|f| f["members"].as_array().is_some_and(|m| m.len() == 3))
        })
        .and_then(|f| f["id"].as_str())
        .ok_or_else(|| anyhow::anyhow!("no three-member format"))?
        .to_owned();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut ackers = vec![];
    for r in [eu, jpn] {
        let (http, stop) = (http.clone(), std::sync::Arc::clone(&stop));
        ackers.push(tokio::spawn(async move {
            let mut acked = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let list: serde_json::Value = match http
                    .get(format!("{}/api/v1/alerts?awaiting_ack=true", r.url))
                    .bearer_auth(&r.token)
                    .send()
                    .await
                {
                    Ok(resp) => resp.json().await.unwrap_or_default(),
                    Err(_) => serde_json::Value::Null,
                };
                for a in list.as_array().into_iter().flatten() {
                    if let Some(id) = a["alert"]["alert_id"].as_str() {
                        let ok = http
                            .post(format!("{}/api/v1/alerts/{id}/ack", r.url))
                            .bearer_auth(&r.token)
                            .json(&serde_json::json!({"note": "bench"}))
                            .send()
                            .await
                            .is_ok_and(|x| x.status().is_success());
                        acked += ok as u64;
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            acked
        }));
    }
    let t0 = Instant::now();
    let deadline = crate::bench::rfc3339_in(3600);
    let mut ids = vec![];
    for i in 0..n {
        let body = serde_json::json!({"format_id": format_id, "severity": "high", "title": format!("EXERCISE bench alert {i}"),
            "text": "Benchmark alert: acknowledge.", "ack_deadline": deadline});
        let v: serde_json::Value = http
            .post(format!("{}/api/v1/alerts", nato.url))
            .bearer_auth(&nato.token)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        ids.push(
            v["alert"]["alert_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        tokio::time::sleep(Duration::from_millis(interval_ms)).await;
    }
    // Wait until NATO holds both acknowledgements of every alert.
    let wait_until = Instant::now() + Duration::from_secs(300);
    let mut done: Vec<serde_json::Value>;
    loop {
        let all: serde_json::Value = http
            .get(format!("{}/api/v1/alerts", nato.url))
            .bearer_auth(&nato.token)
            .send()
            .await?
            .json()
            .await?;
        done = all.as_array().cloned().unwrap_or_default();
        // Only this run's alerts count (the demo seeds others, some already acknowledged).
        let complete = done
            .iter()
            .filter(|a| ids.iter().any(|id| a["alert"]["alert_id"] == id.as_str()))
            .filter(|a| a["alert"]["acks"].as_object().is_some_and(|m| m.len() == 2))
            .count();
        if complete as u64 >= n {
            break;
        }
        if Instant::now() > wait_until {
            bail!("only {complete} of {n} alerts fully acknowledged after 300 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = t0.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for a in ackers {
        let _ = a.await;
    }
    let (mut receipt, mut ack) = (vec![], vec![]);
    for a in done
        .iter()
        .filter(|a| ids.iter().any(|id| a["alert"]["alert_id"] == id.as_str()))
    {
        let raised = a["alert"]["raised_at"].as_str().unwrap_or_default();
        for (_, ts) in a["alert"]["receipts"].as_object().into_iter().flatten() {
            receipt.extend(ms_between(raised, ts.as_str().unwrap_or_default()));
        }
        for (_, r) in a["alert"]["acks"].as_object().into_iter().flatten() {
            ack.extend(ms_between(raised, r["at"].as_str().unwrap_or_default()));
        }
    }
    demo.stop().await;
    let result = AlertBenchResult {
        alerts: n,
        interval_ms,
        recipients: 2,
        receipt_ms: percentiles(receipt),
        ack_ms: percentiles(ack),
        seconds,
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(out, serde_json::to_vec_pretty(&result)?)?;
    Ok(result)
}

fn rfc3339_in(secs: i64) -> String {
    entente_node::clock::rfc3339(time::OffsetDateTime::now_utc() + time::Duration::seconds(secs))
}

#[derive(Debug, Serialize)]
pub struct SearchBenchResult {
    pub items: u64,
    pub queries: usize,
    pub seed_seconds: f64,
    /// Rebuilding the index from the store (what `entente reindex` and a start after a crash do).
    pub index_seconds: f64,
    pub index_docs_per_second: f64,
    pub index_mb: f64,
    pub indexed_documents: u64,
    /// Whole `Node::search` calls: index query, visibility filter, facet counts and the re-check
    /// of every hit against the store.
    pub query_ms: Percentiles,
    pub mean_total_hits: f64,
    /// The ten slowest queries: (milliseconds, query, topic filter, matches).
    pub slowest: Vec<(f64, String, Option<String>, usize)>,
    pub peak_rss_mb: f64,
}

/// Security-policy vocabulary for the synthetic items, most frequent first (sampled with a
/// Zipf-like law, so a few words are everywhere and most are specific).
const VOCAB: &[&str] = &[
    "security",
    "cooperation",
    "partners",
    "maritime",
    "cyber",
    "threat",
    "exercise",
    "joint",
    "information",
    "report",
    "defence",
    "resilience",
    "crisis",
    "hybrid",
    "response",
    "capability",
    "disinformation",
    "infrastructure",
    "critical",
    "assessment",
    "strategic",
    "regional",
    "coordination",
    "military",
    "mobility",
    "space",
    "situational",
    "awareness",
    "incident",
    "attack",
    "campaign",
    "network",
    "supply",
    "chain",
    "energy",
    "port",
    "cable",
    "undersea",
    "satellite",
    "terrorism",
    "financing",
    "sanctions",
    "export",
    "controls",
    "nuclear",
    "proliferation",
    "chemical",
    "biological",
    "radiological",
    "pandemic",
    "health",
    "migration",
    "border",
    "coast",
    "guard",
    "patrol",
    "vessel",
    "shipping",
    "strait",
    "piracy",
    "fisheries",
    "drone",
    "uav",
    "missile",
    "air",
    "defence-industrial",
    "procurement",
    "research",
    "technology",
    "artificial",
    "intelligence",
    "quantum",
    "semiconductor",
    "foundry",
    "ransomware",
    "phishing",
    "malware",
    "botnet",
    "vulnerability",
    "exploit",
    "indicator",
    "attribution",
    "espionage",
    "election",
    "interference",
    "influence",
    "manipulation",
    "media",
    "narrative",
    "amplification",
    "bot",
    "account",
    "platform",
    "takedown",
    "sabotage",
    "pipeline",
    "grid",
    "outage",
    "blackout",
    "telecommunications",
    "5g",
    "submarine",
    "arctic",
    "indo-pacific",
    "baltic",
    "mediterranean",
    "black",
    "sea",
    "balkans",
    "sahel",
    "horn",
    "africa",
    "gulf",
    "peacekeeping",
    "mission",
    "training",
    "capacity-building",
    "liaison",
    "officer",
    "embassy",
    "consular",
    "evacuation",
    "humanitarian",
    "disaster",
    "earthquake",
    "flood",
    "wildfire",
    "climate",
    "water",
    "food",
    "logistics",
    "rail",
    "ferry",
    "airport",
    "customs",
    "smuggling",
    "trafficking",
    "weapons",
    "firearms",
    "explosives",
    "ied",
    "counter-terrorism",
    "radicalisation",
    "recruitment",
    "foreign",
    "fighters",
    "prison",
    "cbrn",
    "detection",
    "laboratory",
    "sample",
    "forensics",
    "tabletop",
    "scenario",
    "lessons",
    "learned",
    "best",
    "practice",
    "checklist",
    "procedure",
    "protocol",
    "agreement",
    "memorandum",
    "dialogue",
    "summit",
    "ministerial",
    "statement",
    "declaration",
    "roadmap",
    "milestone",
    "progress",
    "deliverable",
    "funding",
    "budget",
    "contract",
    "industry",
    "standardisation",
    "interoperability",
    "certification",
    "testing",
    "evaluation",
    "wargame",
    "simulation",
    "modelling",
    "early",
    "warning",
    "alert",
    "acknowledgement",
    "escalation",
    "de-escalation",
    "deterrence",
    "posture",
    "readiness",
    "reinforcement",
    "prepositioning",
    "stockpile",
    "ammunition",
    "munitions",
    "artillery",
    "armour",
    "helicopter",
    "frigate",
    "corvette",
    "destroyer",
    "aircraft",
    "carrier",
    "tanker",
    "refuelling",
    "airlift",
    "sealift",
    "convoy",
    "escort",
    "boarding",
    "inspection",
    "interdiction",
    "embargo",
    "blockade",
    "zone",
    "corridor",
    "chokepoint",
    "anchorage",
    "terminal",
    "lng",
    "oil",
    "gas",
    "wind",
    "farm",
    "nuclear-plant",
    "reactor",
    "uranium",
    "enrichment",
    "safeguards",
    "iaea",
    "treaty",
    "verification",
];

/// Deterministic pseudo-random numbers (xorshift), so every run indexes the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// A word index with probability falling like 1/rank.
    fn zipf(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (((n as f64 + 1.0).powf(u) - 1.0) as usize).min(n - 1)
    }
    fn words(&mut self, k: usize) -> String {
        (0..k)
            .map(|_| VOCAB[self.zipf(VOCAB.len())])
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Seed a node with `items` items (several audiences, TLP levels and authors), rebuild its search
/// index, then time `queries` searches by users who each see a different part of it.
pub async fn search(
    items: u64,
    queries: usize,
    work: &Path,
    out: &Path,
    mut progress: impl FnMut(&str, u64, u64),
) -> Result<SearchBenchResult> {
    let dir = work.join("search-eu");
    crate::init_dev_plain(&dir, "EU", ([127, 0, 0, 1], free_port()?).into()).await?;
    let cfg = ServerConfig::load(&dir)?;
    let node = crate::open_with(&cfg).await?;
    let p = |c: &str| PartnerCode::parse(c);
    let audiences = [
        Audience::new([p("EU")?])?,
        Audience::new([p("EU")?, p("JPN")?])?,
        Audience::new([p("EU")?, p("NATO")?])?,
        Audience::new([p("EU")?, p("NATO")?, p("JPN")?])?,
        Audience::new([p("EU")?, p("KOR")?, p("AUS")?, p("NZL")?])?,
        Audience::new([
            p("EU")?,
            p("NATO")?,
            p("JPN")?,
            p("KOR")?,
            p("AUS")?,
            p("NZL")?,
        ])?,
    ];
    let topics: Vec<&str> = entente_domain::taxonomy::TOPICS
        .iter()
        .map(|(s, _)| *s)
        .collect();
    let tlps = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];
    const AUTHORS: usize = 20;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let format_id = bench_format(&node, &audiences[audiences.len() - 1]).await?;
    let t0 = Instant::now();
    let batch = 5000u64;
    let mut done = 0;
    while done < items {
        let n = batch.min(items - done);
        let aud = &audiences[(done / batch) as usize % audiences.len()];
        let payloads: Vec<Payload> = (0..n)
            .map(|_| {
                let tw = 5 + rng.below(6);
                let bw = 30 + rng.below(50);
                let nt = 1 + rng.below(2);
                Payload::ItemPublish(ItemPublish {
                    item_id: entente_node::new_id(),
                    format_id: format_id.clone(),
                    kind: ItemKind::ALL[rng.below(ItemKind::ALL.len())],
                    title: rng.words(tw),
                    body: rng.words(bw),
                    topics: (0..nt)
                        .map(|_| topics[rng.below(topics.len())].to_owned())
                        .collect(),
                    tlp: Some(tlps[rng.below(tlps.len())]),
                    named_users: vec![],
                    author: format!("analyst{}@EU", rng.below(AUTHORS)),
                })
            })
            .collect();
        node.publish(aud, &payloads).await?;
        done += n;
        progress("seed", done, items);
    }
    let seed_seconds = t0.elapsed().as_secs_f64();
    progress("index", 0, items);
    let report = crate::attach_search(&node, &cfg)
        .await?
        .context("a new index over a seeded store is rebuilt")?;
    let (indexed, bytes) = node.search_stats().unwrap_or_default();
    for k in 0..AUTHORS {
        node.add_user(
            &format!("analyst{k}"),
            entente_domain::Role::Analyst,
            "bench-password-1",
        )
        .await?;
    }
    let mut users = vec![];
    for k in 0..AUTHORS {
        users.push(node.principal_for(&format!("analyst{k}")).await?);
    }
    // Queries: one to three words, skewed away from the handful of words in nearly every
    // item (nobody searches for "security" alone); some with a topic filter, some phrases.
    let mut latencies = vec![];
    let mut hits_total = 0usize;
    let mut slowest = vec![];
    for i in 0..(queries + 50) {
        let k = 1 + rng.below(3);
        let mut words: Vec<&str> = vec![];
        while words.len() < k {
            let w = VOCAB[(5 + rng.zipf(VOCAB.len() - 5)).min(VOCAB.len() - 1)];
            // Nobody types the same word twice.
            if !words.contains(&w) {
                words.push(w);
            }
        }
        let q = if i % 10 == 3 && k >= 2 {
            format!("\"{}\"", words.join(" "))
        } else {
            words.join(" ")
        };
        let req = entente_node::search::SearchRequest {
            q,
            topic: (i % 5 == 0).then(|| topics[rng.below(topics.len())].to_owned()),
            ..Default::default()
        };
        let who = &users[rng.below(users.len())];
        let (text, topic) = (req.q.clone(), req.topic.clone());
        let t = Instant::now();
        let r = node.search(who, req).await?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if i >= 50 {
            latencies.push(ms);
            hits_total += r.total;
            slowest.push((ms, text, topic, r.total));
        }
        progress("query", i as u64, (queries + 50) as u64);
    }
    let result = SearchBenchResult {
        items,
        queries,
        seed_seconds,
        index_seconds: report.seconds,
        index_docs_per_second: report.documents as f64 / report.seconds,
        index_mb: bytes as f64 / 1e6,
        indexed_documents: indexed,
        query_ms: percentiles(latencies),
        mean_total_hits: hits_total as f64 / queries.max(1) as f64,
        slowest: {
            slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
            slowest.truncate(10);
            slowest
        },
        peak_rss_mb: peak_rss_mb(std::process::id()),
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(out, serde_json::to_vec_pretty(&result)?)?;
    Ok(result)
}

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

/// A format of EU and JPN whose unmarked STIX objects go to JPN (the load and crash tests).
async fn eu_jpn_format(
    node: &entente_node::Node,
    who: &entente_node::auth::Principal,
    title: &str,
) -> Result<entente_domain::FormatState> {
    Ok(node
        .create_format(
            who,
            entente_node::NewFormat {
                title: title.into(),
                description: String::new(),
                topics: vec!["maritime-security".into()],
                members: vec!["EU".into(), "JPN".into()],
                stix_default_releasable_to: Some(vec!["JPN".into()]),
            },
        )
        .await?)
}

const LOAD_OPS: [&str; 6] = [
    "rest list items",
    "rest get item",
    "taxii objects page",
    "search",
    "network",
    "post item",
];

/// `entente bench load`: one node served by `entente serve` (SQLite, or PostgreSQL when a
/// database URL is given), seeded with items and STIX objects; `clients` concurrent clients
/// mix REST reads, TAXII reads, searches and item posts for `seconds`.
pub async fn load(
    clients: usize,
    seconds: u64,
    think_ms: u64,
    database: Option<&str>,
    work: &Path,
    out: &Path,
) -> Result<LoadBenchResult> {
    let exe = std::env::current_exe()?;
    let dir = work.join("load-eu");
    let port = free_port()?;
    crate::init_dev_plain(&dir, "EU", ([127, 0, 0, 1], port).into()).await?;
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
    let server = spawn_serve(&exe, &dir)?;
    let url = format!("http://127.0.0.1:{port}");
    let http = crate::tools_http()
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(30))
        .build()?;
    wait_healthy(&http, &url).await?;
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
                let roll = rng.below(100);
                let op = match roll {
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
        let r = crate::backup(&dir, &backup_file).await;
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
async fn restore_and_check(live: &Path, backup: &Path, work: &Path) -> Result<String> {
    let copy = work.join("restored-eu");
    std::fs::create_dir_all(&copy)?;
    for f in [crate::KEY_FILE, crate::CONFIG_FILE] {
        std::fs::copy(live.join(f), copy.join(f))?;
    }
    crate::restore(&copy, backup).await?;
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

fn run_entente(exe: &Path, args: &[&str]) -> Result<std::process::Output> {
    Ok(Command::new(exe)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("ENTENTE_TEST_PG_URL")
        .output()?)
}

/// `entente bench crash`: kill -9 processes of a two-node setup (EU serving, JPN syncing) at
/// random moments, `kills` times, cycling through four phases; after each kill, check that every
/// acknowledged write is there, every log verifies, imports left whole batches only, and sync
/// resumes to the same state. Prints and writes the tally; fails if anything was lost.
pub async fn crash(kills: u64, work: &Path, out: &Path) -> Result<CrashTally> {
    let exe = std::env::current_exe()?;
    let (eu, jpn) = (work.join("eu"), work.join("jpn"));
    let (pe, pj) = (free_port()?, free_port()?);
    crate::init_dev_plain(&eu, "EU", ([127, 0, 0, 1], pe).into()).await?;
    crate::init_dev_plain(&jpn, "JPN", ([127, 0, 0, 1], pj).into()).await?;
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
    let http = crate::tools_http()
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
                let server = spawn_serve(&exe, &eu)?;
                wait_healthy(&http, &url).await?;
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
                    let mut sync = Command::new(&exe)
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
                let eu_server = spawn_serve(&exe, &eu)?;
                let jpn_server = spawn_serve(&exe, &jpn)?;
                wait_healthy(&http, &url).await?;
                wait_healthy(&http, &jpn_url).await?;
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
                let server = spawn_serve(&exe, &eu)?;
                wait_healthy(&http, &url).await?;
                let mut sync = Command::new(&exe)
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
                let mut import = Command::new(&exe)
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
        let server = spawn_serve(&exe, serving)?;
        wait_healthy(&http, serving_url).await?;
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
                    entente_domain::Payload::parse(&p.header.kind, &p.payload)
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
async fn alert_ids(
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
