//! `entente-bench search`: seed items over several audiences, rebuild the index, time searches
//! by users who each see a different part.

use crate::common::*;
use crate::words::*;
use anyhow::{Context, Result};
use entente_domain::payload::ItemPublish;
use entente_domain::{Audience, ItemKind, PartnerCode, Payload, Tlp};
use entente_server::ServerConfig;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

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
    /// Misspelt one-word queries (two letters of a word swapped): nothing matches as typed, so
    /// the search runs again for near spellings. Their latency, and how many found the word.
    pub misspelt_ms: Percentiles,
    pub misspelt_found: usize,
    pub peak_rss_mb: f64,
}

/// How many misspelt queries are timed after the others.
const MISSPELT: usize = 100;

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
    entente_server::init_dev_plain(&dir, "EU", ([127, 0, 0, 1], free_port()?).into()).await?;
    let cfg = ServerConfig::load(&dir)?;
    let node = entente_server::open_with(&cfg).await?;
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
                    released_from: None,
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
                    attachments: vec![],
                })
            })
            .collect();
        node.publish(aud, &payloads).await?;
        done += n;
        progress("seed", done, items);
    }
    let seed_seconds = t0.elapsed().as_secs_f64();
    progress("index", 0, items);
    let report = entente_server::attach_search(&node, &cfg)
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
    // Misspellings: a word of five letters or more with two neighbouring letters swapped.
    let mut misspelt_ms = vec![];
    let mut misspelt_found = 0;
    for i in 0..MISSPELT {
        let w = VOCAB[(5 + rng.zipf(VOCAB.len() - 5)).min(VOCAB.len() - 1)];
        let mut c: Vec<char> = w.chars().collect();
        if c.len() < 5 {
            continue;
        }
        let at = 1 + rng.below(c.len() - 2);
        c.swap(at, at + 1);
        let q: String = c.into_iter().collect();
        if q == w {
            continue;
        }
        let who = &users[i % users.len()];
        let t = Instant::now();
        let r = node
            .search(
                who,
                entente_node::search::SearchRequest {
                    q,
                    ..Default::default()
                },
            )
            .await?;
        misspelt_ms.push(t.elapsed().as_secs_f64() * 1e3);
        if r.near && r.total > 0 {
            misspelt_found += 1;
        }
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
        misspelt_found,
        misspelt_ms: percentiles(misspelt_ms),
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
