//! `entente-guard`: small fixed runs of the hot paths for the performance regression guard
//! (`tests/perf-guard/run.sh`). Each run prints one JSON line per measured phase with the peak
//! heap of that phase; the guard script runs it under `valgrind --tool=callgrind`, which counts
//! the instructions of each phase (a phase starts at a call of [`phase_mark`], where callgrind
//! is told to dump the counts so far). Instruction counts, not seconds: a noisy machine cannot
//! fool them.

use anyhow::{Context, Result, bail, ensure};
use entente_domain::alert::Severity;
use entente_domain::payload::ItemPublish;
use entente_domain::{Audience, ItemKind, PartnerCode, Payload, Tlp};
use entente_node::NewFormat;
use entente_node::alerts::NewAlert;
use entente_testkit::{Cluster, ClusterOptions, TestNode};
use peak_alloc::PeakAlloc;
use std::time::Duration;

/// Counts the heap in use and its peak (a plain counter around the system allocator; no
/// backtraces, so it costs little under callgrind).
#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// The sizes the guard's baselines were taken with; changing one is a baseline change.
const SYNC_ENTRIES: u64 = 20_000;
const IMPORT_OBJECTS: usize = 20_000;
const TAXII_PAGES: usize = 20;
const ALERTS: usize = 50;

fn main() -> Result<()> {
    let which = std::env::args().nth(1).unwrap_or_default();
    // One worker thread: the node's own tasks interleave the same way from run to run.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut phases = Phases::default();
    rt.block_on(async {
        match which.as_str() {
            "sync" => sync(&mut phases).await,
            "import" => import(&mut phases).await,
            "alerts" => alerts(&mut phases).await,
            _ => bail!("usage: entente-guard sync|import|alerts"),
        }
    })?;
    phases.end();
    Ok(())
}

/// The phases of one run: each prints its name and its peak heap when the next one starts.
#[derive(Default)]
struct Phases {
    current: Option<&'static str>,
}

impl Phases {
    fn start(&mut self, name: &'static str) {
        self.end();
        phase_mark();
        HEAP.reset_peak_usage();
        self.current = Some(name);
    }

    fn end(&mut self) {
        if let Some(name) = self.current.take() {
            println!(
                "{{\"phase\":\"{name}\",\"peak_heap_bytes\":{}}}",
                HEAP.peak_usage()
            );
        }
    }
}

/// Where callgrind dumps its counts (`--dump-before=*phase_mark*`): the counts after the last
/// dump belong to the phase that starts here.
#[inline(never)]
fn phase_mark() {
    std::hint::black_box(());
}

fn code(p: &str) -> PartnerCode {
    PartnerCode::parse(p).expect("a partner code")
}

fn options(search: bool) -> ClusterOptions {
    ClusterOptions {
        page_size: 5000,
        // One page at a time: with several in flight, how many pages both nodes hold at once
        // depends on how threads interleave, and the sync phase's peak heap moved between 65
        // and 84 MB run to run (the project's CI failed on +10.7 %). The 1M sync benchmark
        // measures the prefetch; this guard watches the memory each entry costs.
        pages_in_flight: 1,
        tls: true,
        search,
        // Under callgrind everything runs some fifty times slower than natively.
        request_timeout: Duration::from_secs(1800),
        // The indexer commits every 2,000 entries and when the phase waits for it, not every
        // 200 ms of wall-clock time (under callgrind, the slower the machine, the more commits
        // a phase made: the alerts phase counted 738 to 842 million instructions for the same
        // work).
        search_commit_pause: Duration::from_secs(24 * 3600),
        search_commit_entries: 2000,
        ..ClusterOptions::default()
    }
}

async fn format(n: &TestNode, members: &[&str]) -> Result<String> {
    Ok(n.node
        .create_format(
            &n.admin(),
            NewFormat {
                title: "Guard".into(),
                description: String::new(),
                topics: vec!["maritime-security".into()],
                members: members.iter().map(|m| m.to_string()).collect(),
                stix_default_releasable_to: None,
            },
        )
        .await?
        .format_id)
}

/// Indexing is part of the work of each phase: wait until every node's index has caught up,
/// so a phase's counts do not spill into the next.
async fn settled(c: &Cluster) {
    for n in &c.nodes {
        n.node.search_settled().await;
    }
}

/// Sum of entries applied by pull rounds until one applies nothing.
async fn sync_all(c: &Cluster) -> Result<u64> {
    let mut total = 0;
    for _ in 0..20 {
        let mut applied = 0;
        for n in &c.nodes {
            for r in n.node.sync_once().await {
                if let Some(e) = r.error {
                    bail!("sync of {} from {}: {e}", n.partner, r.partner);
                }
                ensure!(r.rejected.is_empty(), "rejected pages: {:?}", r.rejected);
                applied += r.entries_applied;
            }
        }
        if applied == 0 {
            return Ok(total);
        }
        total += applied;
    }
    bail!("sync did not become quiet in 20 rounds")
}

/// Publish 20,000 item entries at EU (phase `publish`), then replicate them to NATO over
/// mutual TLS, pages of 5,000 (phase `sync`).
async fn sync(ph: &mut Phases) -> Result<()> {
    let c = Cluster::with(&["EU", "NATO"], options(true)).await?;
    let (eu, nato) = (c.node("EU"), c.node("NATO"));
    let format_id = format(eu, &["EU", "NATO"]).await?;
    sync_all(&c).await?;
    let aud = Audience::new([code("EU"), code("NATO")])?;
    ph.start("publish");
    let mut done = 0;
    while done < SYNC_ENTRIES {
        let n = 5000.min(SYNC_ENTRIES - done);
        let payloads: Vec<Payload> = (done..done + n)
            .map(|i| {
                Payload::ItemPublish(ItemPublish {
                    released_from: None,
                    item_id: format!("guard-item-{i:08}"),
                    format_id: format_id.clone(),
                    kind: ItemKind::Note,
                    title: format!("Guard note {i}"),
                    body: format!("Synthetic guard entry number {i}: maritime situational awareness update, nothing real."),
                    topics: vec!["maritime-security".into()],
                    tlp: Some(Tlp::Green),
                    named_users: vec![],
                    author: "admin@EU".into(),
                    attachments: vec![],
                })
            })
            .collect();
        eu.node.publish(&aud, &payloads).await?;
        done += n;
    }
    settled(&c).await;
    ph.start("sync");
    let applied = sync_all(&c).await?;
    settled(&c).await;
    ensure!(
        applied >= SYNC_ENTRIES,
        "NATO applied {applied} entries, expected at least {SYNC_ENTRIES}"
    );
    ph.end();
    let held = nato.node.store().item("guard-item-00019999").await?;
    ensure!(held.is_some(), "NATO lacks the last item");
    c.stop().await;
    Ok(())
}

/// One deterministic STIX indicator (the read probe's shape, ~500 bytes).
fn indicator(i: usize) -> String {
    format!(
        concat!(
            r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-{:012x}","#,
            r#""created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","#,
            r#""name":"guard indicator {}","description":"Deterministic guard object {} for read benchmarks.","#,
            r#""indicator_types":["malicious-activity"],"pattern":"[ipv4-addr:value = '10.{}.{}.{}']","#,
            r#""pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","#,
            r#""object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}}"#
        ),
        i,
        i,
        i,
        (i >> 16) & 255,
        (i >> 8) & 255,
        i & 255
    )
}

/// Import a bundle of 20,000 indicators (phase `import`), then read 20 pages of 1,000 through
/// TAXII over HTTPS with Basic auth, following `next` (phase `taxii_read`).
async fn import(ph: &mut Phases) -> Result<()> {
    // `entente import` runs without the search index (the node rebuilds it when it starts).
    let c = Cluster::with(&["EU"], options(false)).await?;
    let eu = c.node("EU");
    let format_id = format(eu, &["EU"]).await?;
    let objects: Vec<String> = (0..IMPORT_OBJECTS).map(indicator).collect();
    let bundle = format!(
        r#"{{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":[{}]}}"#,
        objects.join(",")
    );
    drop(objects);
    ph.start("import");
    let n = eu
        .node
        .import_stix_bundle(&eu.admin(), &format_id, bundle.as_bytes(), 1000, |_, _| {})
        .await?;
    ensure!(n as usize == IMPORT_OBJECTS, "imported {n} objects");
    drop(bundle);
    let client = eu.http();
    let base = format!(
        "{}/taxii2/entente/collections/{format_id}/objects/?limit=1000",
        eu.url()
    );
    // One request before the phase, so connection set-up is not counted.
    get_page(&client, eu, &base).await?;
    ph.start("taxii_read");
    let mut url = base.clone();
    let mut objects = 0;
    for page in 0..TAXII_PAGES {
        // Scanned, not parsed: the client's work is not what is measured.
        let body = get_page(&client, eu, &url).await?;
        objects += body.matches(r#""type":"indicator""#).count();
        let next = body
            .split_once(r#""next":""#)
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(token, _)| token);
        match next {
            Some(next) => url = format!("{base}&next={next}"),
            None if page + 1 == TAXII_PAGES => {}
            None => bail!("no next after page {page}"),
        }
    }
    ensure!(
        objects >= TAXII_PAGES * 1000,
        "read {objects} objects in {TAXII_PAGES} pages"
    );
    ph.end();
    c.stop().await;
    Ok(())
}

async fn get_page(client: &reqwest::Client, n: &TestNode, url: &str) -> Result<String> {
    let r = client
        .get(url)
        .header("Accept", "application/taxii+json;version=2.1")
        .basic_auth("admin", Some(&n.token))
        .send()
        .await?;
    ensure!(r.status().is_success(), "{url}: {}", r.status());
    r.text().await.context("a TAXII page")
}

/// NATO raises 50 alerts to EU and JPN; both receive them, sign receipts and acknowledge, and
/// the receipts and acknowledgements reach NATO (phase `alerts`).
async fn alerts(ph: &mut Phases) -> Result<()> {
    let c = Cluster::with(&["EU", "NATO", "JPN"], options(true)).await?;
    let (eu, nato, jpn) = (c.node("EU"), c.node("NATO"), c.node("JPN"));
    let format_id = format(nato, &["EU", "NATO", "JPN"]).await?;
    sync_all(&c).await?;
    ph.start("alerts");
    let mut ids = vec![];
    for i in 0..ALERTS {
        let a = nato
            .node
            .raise_alert(
                &nato.admin(),
                NewAlert {
                    format_id: format_id.clone(),
                    severity: Severity::High,
                    title: format!("Guard alert {i}"),
                    text: "Confirm receipt and acknowledge.".into(),
                    ack_deadline: "2099-01-01T00:00:00.000Z".into(),
                    releasable_to: None,
                },
            )
            .await?;
        ids.push(a.alert.alert_id);
    }
    sync_all(&c).await?;
    for n in [eu, jpn] {
        for id in &ids {
            n.node.acknowledge_alert(&n.admin(), id, "seen").await?;
        }
    }
    sync_all(&c).await?;
    settled(&c).await;
    for id in &ids {
        let a = nato.node.alert(&nato.admin(), id).await?;
        ensure!(
            a.alert.acks.len() == 2 && a.alert.receipts.len() == 2,
            "alert {id}: {} receipts, {} acks at NATO",
            a.alert.receipts.len(),
            a.alert.acks.len()
        );
    }
    ph.end();
    c.stop().await;
    Ok(())
}
