//! `entente-bench alerts`: three demo nodes; NATO raises alerts, EU and JPN acknowledge by API;
//! latencies of alert→receipt and alert→acknowledgement.

use crate::common::*;
use anyhow::{Result, bail};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a 429 answer asks the client to wait (`Retry-After`, seconds), at least 100 ms.
fn retry_after(r: &reqwest::Response) -> Duration {
    let s = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_millis((s * 1000).max(100))
}

#[derive(Debug, Serialize)]
pub struct AlertBenchResult {
    pub alerts: u64,
    pub interval_ms: u64,
    pub recipients: u64,
    pub receipt_ms: Percentiles,
    pub ack_ms: Percentiles,
    pub seconds: f64,
    /// Requests the nodes answered with 429 (the per-user rate limit), waited out as a real
    /// client does.
    pub throttled: u64,
}
/// `entente-bench alerts`: the three demo nodes on loopback; NATO raises N alerts to EU and
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
    let demo = entente_server::demo::start(&work.join("demo"), base).await?;
    let node = |p: &str| {
        demo.file
            .nodes
            .iter()
            .find(|n| n.partner == p)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no {p}"))
    };
    let (nato, eu, jpn) = (node("NATO")?, node("EU")?, node("JPN")?);
    // The demo serves HTTPS with each node's self-signed certificate: trust exactly those.
    let certs: Vec<std::path::PathBuf> = demo
        .file
        .nodes
        .iter()
        .map(|n| std::path::PathBuf::from(&n.certificate))
        .collect();
    let cert_refs: Vec<&Path> = certs.iter().map(|p| p.as_path()).collect();
    let http = entente_server::tools_https(&cert_refs)?.build()?;
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
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let throttled = Arc::new(AtomicU64::new(0));
    let mut ackers = vec![];
    for r in [eu, jpn] {
        let (http, stop, throttled) = (http.clone(), Arc::clone(&stop), Arc::clone(&throttled));
        ackers.push(tokio::spawn(async move {
            let mut acked = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // A refused or failed poll is not "no alerts": wait as told, then ask again.
                let resp = http
                    .get(format!("{}/api/v1/alerts?awaiting_ack=true", r.url))
                    .bearer_auth(&r.token)
                    .send()
                    .await;
                let list: serde_json::Value = match resp {
                    Ok(resp) if resp.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                        throttled.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(retry_after(&resp)).await;
                        continue;
                    }
                    Ok(resp) if resp.status().is_success() => resp.json().await.unwrap_or_default(),
                    _ => serde_json::Value::Null,
                };
                for a in list.as_array().into_iter().flatten() {
                    let Some(id) = a["alert"]["alert_id"].as_str() else {
                        continue;
                    };
                    loop {
                        let resp = http
                            .post(format!("{}/api/v1/alerts/{id}/ack", r.url))
                            .bearer_auth(&r.token)
                            .json(&serde_json::json!({"note": "bench"}))
                            .send()
                            .await;
                        match resp {
                            Ok(x) if x.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                                throttled.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(retry_after(&x)).await;
                            }
                            Ok(x) => {
                                acked += x.status().is_success() as u64;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                }
                // Twenty polls a second at most: within the default per-user limit (1,200 a
                // minute) with room for the acknowledgements.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            acked
        }));
    }
    let t0 = Instant::now();
    let deadline = crate::common::rfc3339_in(3600);
    let mut ids = vec![];
    for i in 0..n {
        let body = serde_json::json!({"format_id": format_id, "severity": "high", "title": format!("EXERCISE bench alert {i}"),
            "text": "Benchmark alert: acknowledge.", "ack_deadline": deadline});
        let v: serde_json::Value = loop {
            let resp = http
                .post(format!("{}/api/v1/alerts", nato.url))
                .bearer_auth(&nato.token)
                .json(&body)
                .send()
                .await?;
            let status = resp.status();
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                throttled.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(retry_after(&resp)).await;
                continue;
            }
            if !status.is_success() {
                bail!("raising alert {i}: HTTP {status}: {}", resp.text().await?);
            }
            break resp.json().await?;
        };
        ids.push(
            v["alert"]["alert_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        tokio::time::sleep(Duration::from_millis(interval_ms)).await;
    }
    // Wait until NATO holds both acknowledgements of every alert, saying how far it got every
    // ten seconds; give up (loudly) after five minutes without progress.
    let mut done: Vec<serde_json::Value>;
    let (mut best, mut progressed, mut said) = (0usize, Instant::now(), Instant::now());
    loop {
        let resp = http
            .get(format!("{}/api/v1/alerts", nato.url))
            .bearer_auth(&nato.token)
            .send()
            .await?;
        if resp.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            throttled.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(retry_after(&resp)).await;
            continue;
        }
        let all: serde_json::Value = resp.error_for_status()?.json().await?;
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
        if complete > best {
            (best, progressed) = (complete, Instant::now());
        }
        if said.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  {complete} of {n} alerts acknowledged by both after {:.0} s ({} requests throttled)",
                t0.elapsed().as_secs_f64(),
                throttled.load(Ordering::Relaxed)
            );
            said = Instant::now();
        }
        if progressed.elapsed() > Duration::from_secs(300) {
            bail!(
                "only {complete} of {n} alerts fully acknowledged, none more in 300 s ({} requests throttled)",
                throttled.load(Ordering::Relaxed)
            );
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
        throttled: throttled.load(Ordering::Relaxed),
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(out, serde_json::to_vec_pretty(&result)?)?;
    Ok(result)
}
