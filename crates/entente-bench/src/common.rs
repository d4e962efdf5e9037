//! What the benchmarks share: free ports, peak RSS of a process, starting `entente serve`
//! processes and waiting for them, percentiles, time stamps.

use anyhow::{Context, Result, bail};
use entente_domain::{Audience, Payload};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) fn peak_rss_mb(pid: u32) -> f64 {
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

/// The most memory each of some processes held while it was sampled, split by kind: anonymous
/// (the heap and stacks: what the process itself allocated) and file-backed (pages of mapped
/// files that are resident, such as the search index's segments: the kernel's page cache,
/// which it can reclaim; shared memory, as files on a tmpfs are, counts here too). `VmHWM`
/// counts both and keeps no split, so they are sampled every 50 ms: each is a lower bound of
/// its peak, and the two peaks need not fall at the same moment (they do not add up to one).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RssSplit {
    pub peak_anon_mb: f64,
    pub peak_file_mb: f64,
}

/// Samples [`RssSplit`] of `pids` every 50 ms on a thread of its own until [`RssSampler::stop`]
/// (or until dropped, when a benchmark returns early).
pub(crate) struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<RssSplit>>>,
    count: usize,
}

impl RssSampler {
    pub(crate) fn start(pids: Vec<u32>) -> RssSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let count = pids.len();
        let thread = std::thread::spawn(move || {
            let mut peaks = vec![RssSplit::default(); pids.len()];
            loop {
                for (pid, peak) in pids.iter().zip(&mut peaks) {
                    let (anon, file) = rss_split_mb(*pid);
                    peak.peak_anon_mb = peak.peak_anon_mb.max(anon);
                    peak.peak_file_mb = peak.peak_file_mb.max(file);
                }
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    return peaks;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        RssSampler {
            stop,
            thread: Some(thread),
            count,
        }
    }

    /// The peaks, in the order of the pids given (not a number if the sampler failed).
    pub(crate) fn stop(mut self) -> Vec<RssSplit> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let unknown = RssSplit {
            peak_anon_mb: f64::NAN,
            peak_file_mb: f64::NAN,
        };
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_else(|| vec![unknown; self.count])
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A process's resident anonymous and file-backed memory now, in MB (0 once it is gone).
fn rss_split_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        kb("RssAnon:") / 1024.0,
        (kb("RssFile:") + kb("RssShmem:")) / 1024.0,
    )
}

pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A command running the node binary. `ENTENTE_BIN` (which chose the binary) and the test
/// suite's `ENTENTE_TEST_PG_URL` are not passed on: the node reads every `ENTENTE_*` variable as
/// a setting and refuses one it does not know.
pub(crate) fn node_command(exe: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(exe);
    c.env_remove("ENTENTE_BIN")
        .env_remove("ENTENTE_TEST_PG_URL");
    c
}

pub(crate) fn spawn_serve(exe: &Path, dir: &Path) -> Result<Proc> {
    let child = node_command(exe)
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
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(300);

/// Wait (bounded) until the node `proc` serves `url`; fail at once, with its exit status, if it
/// exits first (a node that refuses its configuration used to cost the whole timeout).
pub(crate) async fn wait_healthy(http: &reqwest::Client, url: &str, proc: &mut Proc) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(status) = proc.0.try_wait()? {
            bail!("the node for {url} exited before it served ({status}); its error is above");
        }
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

/// Copy a stopped node's directory (database, keys, configuration, search index).
pub(crate) fn copy_dir(from: &Path, to: &Path) -> Result<()> {
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
pub(crate) async fn wait_for_files(files: &[PathBuf], procs: &mut [&mut Proc]) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while !files.iter().all(|f| f.exists()) {
        if Instant::now() > deadline {
            bail!("no certificate written by serve: {files:?}");
        }
        for p in procs.iter_mut() {
            if let Some(status) = p.0.try_wait()? {
                bail!(
                    "a node exited before it wrote its certificate ({status}); its error is above"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub n: usize,
}

pub(crate) fn percentiles(mut v: Vec<f64>) -> Percentiles {
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

pub(crate) fn ms_between(a: &str, b: &str) -> Option<f64> {
    let (a, b) = (
        entente_node::clock::parse_rfc3339(a)?,
        entente_node::clock::parse_rfc3339(b)?,
    );
    Some((b - a).as_seconds_f64() * 1000.0)
}

pub(crate) fn rfc3339_in(secs: i64) -> String {
    entente_node::clock::rfc3339(time::OffsetDateTime::now_utc() + time::Duration::seconds(secs))
}

/// The node binary the benchmarks start (`entente serve`, `entente import`, …): `ENTENTE_BIN`,
/// or `entente` beside this binary (both are built into the same target directory).
pub(crate) fn entente_exe() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ENTENTE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe()?;
    let exe = me.with_file_name(format!("entente{}", std::env::consts::EXE_SUFFIX));
    if !exe.is_file() {
        bail!(
            "{} not found: build the node binary too (cargo build --release -p entente-cli -p entente-bench) or set ENTENTE_BIN",
            exe.display()
        );
    }
    Ok(exe)
}

/// A format of EU and JPN whose unmarked STIX objects go to JPN (the load and crash tests).
pub(crate) async fn eu_jpn_format(
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

/// Publish a format whose members are `members` (convened by `node`), straight to the log, and
/// return its id: items are filed only under a format their origin and audience belong to.
pub(crate) async fn bench_format(node: &entente_node::Node, members: &Audience) -> Result<String> {
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

#[cfg(test)]
mod tests {
    /// The node refuses to start with an `ENTENTE_*` variable it does not know, so the one that
    /// chose its binary must not reach it (a load run with `ENTENTE_BIN` set waited five minutes
    /// for a node that had exited at once).
    #[test]
    fn the_node_does_not_inherit_entente_bin() {
        let c = super::node_command("entente");
        assert!(
            c.get_envs().any(|(k, v)| k == "ENTENTE_BIN" && v.is_none()),
            "ENTENTE_BIN is removed from the node's environment"
        );
        assert!(
            c.get_envs()
                .any(|(k, v)| k == "ENTENTE_TEST_PG_URL" && v.is_none()),
            "ENTENTE_TEST_PG_URL is removed from the node's environment"
        );
    }

    /// A node that exits before it serves (it refused its configuration) fails the wait at once
    /// instead of after the start-up timeout, which is minutes long.
    #[tokio::test]
    async fn waiting_for_a_node_that_exited_fails_at_once() {
        let mut gone = super::Proc(std::process::Command::new("false").spawn().unwrap());
        let http = entente_server::tools_http()
            .timeout(std::time::Duration::from_secs(1))
            .build()
            .unwrap();
        let waited = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            super::wait_healthy(&http, "http://127.0.0.1:9", &mut gone),
        )
        .await
        .expect("the wait ends long before the start-up timeout");
        let e = waited.expect_err("a node that exited is not healthy");
        assert!(e.to_string().contains("exited"), "{e}");
    }
}
