//! The `entente-bench` binary: the benchmarks and the crash harness, apart from the product
//! binary (`entente`), whose processes they start. Parses flags, prints figures; the measuring
//! is in the library.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "entente-bench",
    version,
    about = "Benchmarks of Entente nodes: figures printed and written to bench-results/"
)]
struct Cli {
    #[command(subcommand)]
    cmd: BenchCmd,
}

#[derive(Debug, Args)]
struct DirArg {
    /// The node's data directory.
    #[arg(long, env = "ENTENTE_DIR", default_value = "entente-data")]
    dir: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
enum BenchCmd {
    /// Seed a stopped node with N synthetic signed item entries for one audience (for the
    /// WAN catch-up benchmark, `tests/netns/wan.py`).
    Seed {
        #[command(flatten)]
        dir: DirArg,
        /// Partner codes of the log's audience, e.g. EU,JPN (this node's partner included).
        #[arg(long, value_delimiter = ',')]
        audience: Vec<String>,
        #[arg(long, default_value_t = 100_000)]
        entries: u64,
    },
    /// Replicate N signed entries between two node processes over loopback (HTTPS with mutual
    /// TLS, as real nodes run).
    Sync {
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        #[arg(long, default_value = "bench-results/sync.json")]
        out: PathBuf,
        /// Page requests the receiver keeps in flight (the node's `sync.pages_in_flight`). The
        /// bench's pages hold 5,000 entries; 4 of them are about what a node with the defaults
        /// keeps in flight (8 pages of 2,000). 8 of 5,000 held 31 MB more at the receiver for
        /// no gain on loopback (1M entries: 29.4 s, 445 MB; with 4: 28.3 s, 409 MB).
        #[arg(long, default_value_t = 4)]
        pages_in_flight: usize,
        /// Plain HTTP (development mode) instead of TLS.
        #[arg(long)]
        plain_http: bool,
        /// Side by side in one run: plain HTTP with one page in flight (the protocol before
        /// pipelining), plain HTTP and TLS with `--pages-in-flight`.
        #[arg(long)]
        compare: bool,
    },
    /// Three demo nodes on loopback: NATO raises N alerts, EU and JPN acknowledge by API;
    /// prints p50/p95/p99 of alert→receipt and alert→acknowledgement.
    Alerts {
        #[arg(long, default_value_t = 1000)]
        alerts: u64,
        /// Pause between two raises (40 ms = 25 alerts/s).
        #[arg(long, default_value_t = 40)]
        interval_ms: u64,
        #[arg(long, default_value = "bench-results/alerts.json")]
        out: PathBuf,
    },
    /// kill -9 a node's processes N times at random moments (writes, sync as receiver and as
    /// sender, bulk import) and check nothing acknowledged is lost and everything verifies.
    Crash {
        #[arg(long, default_value_t = 100)]
        kills: u64,
        #[arg(long, default_value = "bench-results/crash.json")]
        out: PathBuf,
    },
    /// N concurrent clients against one served node for a fixed time: REST and TAXII reads,
    /// searches, network analytics and item posts; throughput, errors, p50/p95/p99 per operation.
    Load {
        #[arg(long, default_value_t = 200)]
        clients: usize,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Pause of each client between two requests.
        #[arg(long, default_value_t = 100)]
        think_ms: u64,
        /// Share of the requests that are item posts, in percent (the rest are reads in the
        /// standard mix's proportions); 100 measures posts at saturation.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=100))]
        posts_percent: u64,
        /// A PostgreSQL URL (a fresh, empty database) to run on instead of SQLite.
        #[arg(long)]
        database: Option<String>,
        #[arg(long, default_value = "bench-results/load.json")]
        out: PathBuf,
    },
    /// Seed N items, rebuild the search index, time searches (p50/p95/p99), index size.
    Search {
        #[arg(long, default_value_t = 1_000_000)]
        items: u64,
        #[arg(long, default_value_t = 1000)]
        queries: usize,
        #[arg(long, default_value = "bench-results/search.json")]
        out: PathBuf,
    },
    /// Time and memory of viewing a statement whose revision replaced every line.
    Statements {
        #[arg(long, default_value = "bench-results/statements.json")]
        out: PathBuf,
    },
    /// Generate a STIX bundle and time `entente import` of it (durable), with peak RSS.
    Import {
        #[arg(long, default_value_t = 1_000_000)]
        objects: u64,
        #[arg(long, default_value = "bench-results/import.json")]
        out: PathBuf,
    },
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

fn tempdir_in_target() -> Result<PathBuf> {
    let base = std::env::temp_dir().join(format!("entente-bench-{}", std::process::id()));
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    Ok(base)
}

/// Errors end the process with one line: what failed, then why.
fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        BenchCmd::Alerts {
            alerts,
            interval_ms,
            out,
        } => {
            let work = tempdir_in_target()?;
            let r = entente_bench::alerts::alerts(alerts, interval_ms, &work, &out).await;
            let _ = std::fs::remove_dir_all(&work);
            let r = r?;
            println!(
                "alert benchmark: {} alerts from NATO to EU and JPN, one every {} ms (three nodes, loopback), acknowledged by API",
                r.alerts, r.interval_ms
            );
            println!(
                "  alert → receipt  p50 {:.0} ms  p95 {:.0} ms  p99 {:.0} ms  max {:.0} ms  (n={})",
                r.receipt_ms.p50,
                r.receipt_ms.p95,
                r.receipt_ms.p99,
                r.receipt_ms.max,
                r.receipt_ms.n
            );
            println!(
                "  alert → ack      p50 {:.0} ms  p95 {:.0} ms  p99 {:.0} ms  max {:.0} ms  (n={})",
                r.ack_ms.p50, r.ack_ms.p95, r.ack_ms.p99, r.ack_ms.max, r.ack_ms.n
            );
            println!(
                "  total {:.1} s; {} requests throttled (429, waited out); written to {}",
                r.seconds,
                r.throttled,
                out.display()
            );
        }
        BenchCmd::Crash { kills, out } => {
            let work = tempdir_in_target()?;
            let r = entente_bench::crash::crash(kills, &work, &out).await;
            let _ = std::fs::remove_dir_all(&work);
            let r = r?;
            println!("crash test: {} kills (kill -9)", r.kills);
            for (phase, n) in &r.by_phase {
                println!("  during {phase:<14} {n}");
            }
            println!(
                "  acknowledged writes {}  lost {}  logs failing verify {}  partial import batches {}  sync resume failures {}",
                r.acknowledged, r.lost, r.verify_failures, r.partial_batches, r.resume_failures
            );
            println!(
                "  alerts raised {}  lost {}  without JPN's receipt after resync {}  duplicate receipts {}",
                r.alerts_acknowledged, r.alerts_lost, r.receipts_missing, r.receipts_duplicated
            );
            println!("  written to {}", out.display());
            if r.lost
                + r.verify_failures
                + r.partial_batches
                + r.resume_failures
                + r.alerts_lost
                + r.receipts_missing
                + r.receipts_duplicated
                > 0
            {
                bail!("the crash test found lost or damaged data");
            }
        }
        BenchCmd::Load {
            clients,
            seconds,
            think_ms,
            posts_percent,
            database,
            out,
        } => {
            let work = tempdir_in_target()?;
            let r = entente_bench::load::load(
                clients,
                seconds,
                think_ms,
                posts_percent,
                database.as_deref(),
                &work,
                &out,
            )
            .await;
            let _ = std::fs::remove_dir_all(&work);
            let r = r?;
            println!(
                "load test ({}): {} clients for {:.0} s, {} ms between a client's requests, {} % posts",
                r.backend, r.clients, r.seconds, r.think_ms, r.posts_percent
            );
            println!(
                "  total:      {} requests  {:.0}/s  errors {}",
                r.requests, r.per_second, r.errors
            );
            for o in &r.ops {
                println!(
                    "  {:<20} {:>7} req  {:>6.0}/s  errors {:>3}  p50 {:>6.1} ms  p95 {:>6.1} ms  p99 {:>6.1} ms",
                    o.op, o.requests, o.per_second, o.errors, o.ms.p50, o.ms.p95, o.ms.p99
                );
            }
            println!(
                "  all reads:  p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms",
                r.read_ms.p50, r.read_ms.p95, r.read_ms.p99
            );
            println!("  server peak RSS {:.0} MB", r.server_peak_rss_mb);
            if let Some(b) = &r.backup {
                println!("  {b}");
            }
            println!("  written to {}", out.display());
        }
        BenchCmd::Search {
            items,
            queries,
            out,
        } => {
            let work = tempdir_in_target()?;
            let pb = bar(items, "seed");
            let r =
                entente_bench::search::search(items, queries, &work, &out, |what, done, total| {
                    pb.set_message(what.to_owned());
                    pb.set_length(total);
                    pb.set_position(done)
                })
                .await;
            pb.finish_and_clear();
            let _ = std::fs::remove_dir_all(&work);
            let r = r?;
            println!(
                "search benchmark: {} items (6 audiences, 5 TLP levels, 20 authors), {} queries by 20 users",
                r.items, r.queries
            );
            println!("  seed:         {:.1} s (signed, durable)", r.seed_seconds);
            println!(
                "  index:        {:.1} s   {:.0} documents/s   {} documents   {:.0} MB on disk",
                r.index_seconds, r.index_docs_per_second, r.indexed_documents, r.index_mb
            );
            println!(
                "  query:        p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms  (n={}, mean {:.0} matches visible to the user)",
                r.query_ms.p50,
                r.query_ms.p95,
                r.query_ms.p99,
                r.query_ms.max,
                r.query_ms.n,
                r.mean_total_hits
            );
            println!(
                "  misspelt:     p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  (n={}, {} found the word by a near spelling)",
                r.misspelt_ms.p50,
                r.misspelt_ms.p95,
                r.misspelt_ms.p99,
                r.misspelt_ms.n,
                r.misspelt_found
            );
            println!("  peak RSS:     {:.0} MB", r.peak_rss_mb);
            println!("  written to {}", out.display());
        }
        BenchCmd::Statements { out } => {
            let work = tempdir_in_target()?;
            let r = entente_bench::statements::statements(&work, &out).await;
            let _ = std::fs::remove_dir_all(&work);
            let r = r?;
            println!("statement diff benchmark: a revision that replaces every line");
            for v in &r.views {
                println!(
                    "  {:>6} lines, {:<22} {:>8.1} ms   RSS {:>+7.1} MB   peak {:>+7.1} MB   {} diff lines{}",
                    v.lines_per_version,
                    v.what,
                    v.milliseconds,
                    v.rss_growth_mb,
                    v.peak_growth_mb,
                    v.diff_lines,
                    if v.approximate { " (deadline hit)" } else { "" }
                );
            }
            println!("  written to {}", out.display());
        }
        BenchCmd::Import { objects, out } => {
            let work = tempdir_in_target()?;
            let r = entente_bench::import::import(objects, &work, &out).await;
            let _ = std::fs::remove_dir_all(&work);
            let r = r?;
            println!(
                "import benchmark: {} objects ({:.0} MB bundle) through `entente import`",
                r.objects, r.bundle_mb
            );
            println!(
                "  import:       {:.2} s   {:.0} objects/s (durable, indexed)",
                r.seconds, r.objects_per_second
            );
            println!(
                "  peak RSS:     {:.0} MB (importer process)",
                r.importer_peak_rss_mb
            );
            println!(
                "  for scale:    serde_json parses the same bundle at {:.0} objects/s",
                r.json_parse_objects_per_second
            );
            println!("  written to {}", out.display());
        }
        BenchCmd::Seed {
            dir,
            audience,
            entries,
        } => {
            let node = entente_server::open(&dir.dir).await?;
            let aud = entente_domain::Audience::new(
                audience
                    .iter()
                    .map(|p| entente_domain::PartnerCode::parse(p.trim()))
                    .collect::<Result<Vec<_>, _>>()?,
            )?;
            let pb = bar(entries, "seed");
            entente_bench::sync::seed(&node, &aud, entries, &mut |_, done, _| {
                pb.set_position(done)
            })
            .await?;
            pb.finish_and_clear();
            println!("seeded {entries} entries for {}", audience.join(","));
        }
        BenchCmd::Sync {
            entries,
            out,
            pages_in_flight,
            plain_http,
            compare,
        } => {
            use entente_bench::sync::SyncVariant;
            let variants = if compare {
                vec![
                    SyncVariant {
                        tls: false,
                        pages_in_flight: 1,
                    },
                    SyncVariant {
                        tls: false,
                        pages_in_flight,
                    },
                    SyncVariant {
                        tls: true,
                        pages_in_flight,
                    },
                ]
            } else {
                vec![SyncVariant {
                    tls: !plain_http,
                    pages_in_flight,
                }]
            };
            let work = tempdir_in_target()?;
            let pb = bar(entries, "seed");
            let r = entente_bench::sync::sync(entries, &variants, &work, &out, |_, done, _| {
                pb.set_position(done)
            })
            .await;
            pb.finish_and_clear();
            let _ = std::fs::remove_dir_all(&work);
            let r = r?;
            println!(
                "sync benchmark: {} entries, one log, two `entente serve` processes on loopback",
                r.entries
            );
            println!("  seed (sign + store on sender): {:.1} s", r.seed_seconds);
            println!(
                "  sender's search index built before serving: {:.1} s",
                r.index_seconds
            );
            let first = r.runs.first().map(|x| x.sync_seconds);
            for run in &r.runs {
                let v = run.variant;
                println!(
                    "  {:<5} {} page(s) in flight: {:>7.2} s  {:>8.0} entries/s  peak RSS sender {:.0} MB, receiver {:.0} MB (during the sync, sampled every 50 ms, anonymous / file-backed: sender {:.0} / {:.0} MB, receiver {:.0} / {:.0} MB)  verifies: {}{}",
                    if v.tls { "TLS" } else { "plain" },
                    v.pages_in_flight,
                    run.sync_seconds,
                    run.entries_per_second,
                    run.sender_peak_rss_mb,
                    run.receiver_peak_rss_mb,
                    run.sender_rss_split.peak_anon_mb,
                    run.sender_rss_split.peak_file_mb,
                    run.receiver_rss_split.peak_anon_mb,
                    run.receiver_rss_split.peak_file_mb,
                    run.receiver_verified,
                    match first {
                        Some(f) if r.runs.len() > 1 => {
                            format!("  ({:.2}× the first)", f / run.sync_seconds)
                        }
                        _ => String::new(),
                    }
                );
            }
            println!("  written to {}", out.display());
        }
    }
    Ok(())
}
