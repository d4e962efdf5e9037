//! `entente-bench import`: generate a STIX bundle and time `entente import` of it (durable),
//! with peak RSS.

use crate::common::*;
use anyhow::{Result, bail};
use entente_server::open;
use serde::Serialize;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

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

/// `entente-bench import`: generate a bundle, then time `entente import` of it in a child
/// process (durable: every batch committed with synchronous=FULL) and sample its peak RSS.
pub async fn import(objects: u64, work: &Path, out: &Path) -> Result<ImportBenchResult> {
    let exe = crate::common::entente_exe()?;
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
    entente_server::init_dev_plain(&dir, "EU", ([127, 0, 0, 1], free_port()?).into()).await?;
    let format_id = {
        let node = open(&dir).await?;
        node.add_user(
            "bench",
            entente_domain::Role::Admin,
            &entente_server::generate_password()?,
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
    let mut child = node_command(&exe)
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
