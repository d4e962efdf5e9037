//! Full-text search over what a user may see: items (lessons included), STIX objects, joint
//! actions and statements. The index is derived state: documents are written from the
//! projections of every committed append by a background indexer (off the write path), and the
//! whole index can be rebuilt from the store (`reindex`).
//!
//! Nothing outside a user's view is found or counted: every document carries the reader tokens
//! of `policy::reader_tokens`, every query is filtered by the viewer's tokens inside the index
//! (so totals and facet counts are computed over visible documents only), and every hit is
//! checked again against the stored object before it is returned.
//!
//! Crash consistency: each index commit records a watermark, the number of log entries the
//! store held when the documents were written. At start a node compares it with the store and
//! rebuilds the index when they differ (a crash between a store commit and an index commit, or
//! a bulk import, which does not index as it goes).

use crate::auth::Principal;
use crate::{Node, NodeError};
use entente_domain::policy;
use entente_log::ParsedEntry;
use entente_search::{SearchDoc, SearchIndex, SearchQuery};
use entente_store::{Projection, StixQuery};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, watch};

/// One committed append's projections, for the indexer task to turn into documents.
struct Job {
    generation: u64,
    entries: u64,
    projections: Vec<Projection>,
}

/// The index attached to a node, with the counters of its indexer task.
pub struct Search {
    index: SearchIndex,
    /// Entries whose documents are in the index (committed or not): the watermark.
    written: AtomicU64,
    /// Entries this process has handed to the indexer (in the index or queued).
    submitted: AtomicU64,
    /// Bumped for every job; the indexer publishes the last generation it committed.
    generation: AtomicU64,
    committed: watch::Sender<u64>,
    /// Jobs in append order (the lock keeps generation and queue order the same). Dropping the
    /// last sender (with this struct) stops the indexer.
    jobs: std::sync::Mutex<mpsc::UnboundedSender<Job>>,
    /// Cuts the indexer's pause between commits short: someone waits for the index, or
    /// `search_commit_entries` entries are queued.
    flush: Arc<tokio::sync::Notify>,
    /// `NodeConfig::search_commit_entries`.
    commit_entries: u64,
}

impl std::fmt::Debug for Search {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Search({:?})", self.index)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SearchRequest {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub partner: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub tlp: Option<String>,
    /// `YYYY-MM`.
    #[serde(default)]
    pub period: Option<String>,
    /// Only hits of this class: `item`, `stix`, `action`, `statement`, `alert`, `exercise`,
    /// `project`, `thread`, `meeting` or `paper` (as in a hit's `what`).
    #[serde(default)]
    pub what: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchHitView {
    /// `item`, `stix`, `action` or `statement`.
    pub what: String,
    pub id: String,
    pub kind: String,
    pub title: String,
    /// The marking (`CLEAR` … `RED`), or `none` for an unmarked object (an action or statement,
    /// which its audience alone limits).
    pub tlp: String,
    /// The originating partner.
    pub partner: String,
    /// The month it was published or last changed (`YYYY-MM`).
    pub period: String,
    /// The part of its text around the query's words (plain text; empty without words or
    /// text), and the byte ranges in it of those words.
    #[serde(default)]
    pub snippet: String,
    #[serde(default)]
    pub marks: Vec<(usize, usize)>,
}

/// The longest snippet, in characters: two lines of a result list.
const SNIPPET_CHARS: usize = 200;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchView {
    pub total: usize,
    pub hits: Vec<SearchHitView>,
    /// Per dimension (format, topic, partner, kind, tlp, period): (value, count).
    pub facets: BTreeMap<String, Vec<(String, u64)>>,
    /// Nothing matched the words as typed; these are matches for near spellings of them.
    #[serde(default)]
    pub near: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReindexReport {
    pub documents: u64,
    pub entries: u64,
    pub seconds: f64,
}

/// The classes of hits (`what`), as ids begin: `item:…`, `alert:…`.
pub const WHAT: [&str; 10] = [
    "item",
    "stix",
    "action",
    "statement",
    "alert",
    "exercise",
    "project",
    "thread",
    "meeting",
    "paper",
];

mod docs;
mod files;
pub use docs::{FileTexts, item_doc};
use docs::{
    OBJECT_KINDS, TEXT_ENTRIES, action_doc, alert_doc, docs_for, exercise_doc, meeting_doc,
    object_doc, paper_doc, project_doc, statement_doc, stix_doc, thread_doc,
};

/// The attached index on the node (`Node::ext`); empty until `attach_search`.
#[derive(Default)]
struct SearchSlot(std::sync::OnceLock<Arc<Search>>);

/// Queues every commit's documents for the index (registered by `attach_search`).
struct Indexer;

impl crate::Hook for Indexer {
    fn committed(&self, node: &Node, projections: &mut Vec<Projection>, entries: &[ParsedEntry]) {
        node.index_append(std::mem::take(projections), entries);
    }
}

impl Node {
    fn search_index(&self) -> Option<Arc<Search>> {
        self.ext::<SearchSlot>().0.get().cloned()
    }

    /// Attach a search index. Rebuilds it first when its watermark does not match the store
    /// (see the module comment), then keeps it current from every append.
    /// Returns the rebuild's report when there was one.
    pub async fn attach_search(
        self: &Arc<Self>,
        index: SearchIndex,
    ) -> Result<Option<ReindexReport>, NodeError> {
        let watermark = index.watermark().map_err(internal)?;
        let (committed, _) = watch::channel(0);
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let s = Arc::new(Search {
            index,
            written: AtomicU64::new(watermark),
            submitted: AtomicU64::new(watermark),
            generation: AtomicU64::new(0),
            committed,
            jobs: std::sync::Mutex::new(tx),
            flush: Default::default(),
            commit_entries: self.config().search_commit_entries,
        });
        if self.ext::<SearchSlot>().0.set(s.clone()).is_err() {
            return Err(NodeError::Internal(
                "a search index is already attached".into(),
            ));
        }
        self.add_hook(Arc::new(Indexer));
        let held = self.entries_held().await?;
        let mut rebuilt = None;
        if held != watermark {
            tracing::info!(
                held,
                watermark,
                "search index is behind the store; rebuilding"
            );
            rebuilt = Some(self.reindex().await?);
        }
        // The indexer: turns queued appends into documents off the write path and commits them,
        // one commit for everything queued meanwhile. It holds the index weakly, so dropping the
        // node closes the index (and its lock).
        let weak = Arc::downgrade(&s);
        let flush = s.flush.clone();
        let pause = self.config().search_commit_pause;
        drop(s);
        // Another process of this node (a replica on PostgreSQL) may write too: every few
        // seconds, an index that has been handed fewer entries than the store holds is refreshed.
        let node = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let first = tokio::select! {
                    j = rx.recv() => match j {
                        Some(j) => Some(j),
                        None => return,
                    },
                    _ = tick.tick() => None,
                };
                let Some(first) = first else {
                    let Some(node) = node.upgrade() else { return };
                    if let Err(e) = node.refresh().await {
                        tracing::warn!(error = %e, "search index refresh failed; retried later");
                    }
                    continue;
                };
                let Some(s) = weak.upgrade() else { return };
                let mut jobs = vec![first];
                while let Ok(j) = rx.try_recv() {
                    jobs.push(j);
                }
                let last = jobs.last().map_or(0, |j| j.generation);
                let files = match node.upgrade() {
                    Some(n) => n.file_texts(jobs.iter().flat_map(|j| &j.projections)).await,
                    None => FileTexts::new(),
                };
                let s2 = s.clone();
                let r = tokio::task::spawn_blocking(move || {
                    for j in jobs {
                        let (up, del) = docs_for(&j.projections, &files);
                        s2.index.delete(&del);
                        s2.index.upsert(&up)?;
                        s2.written.fetch_add(j.entries, Ordering::SeqCst);
                    }
                    s2.index.commit(s2.written.load(Ordering::SeqCst))
                })
                .await;
                match r {
                    Ok(Ok(())) => {}
                    // The watermark then lags the store, so the next start rebuilds the index.
                    Ok(Err(e)) => tracing::error!(error = %e, "search index write failed"),
                    Err(e) => tracing::error!(error = %e, "search index write panicked"),
                }
                // Waiters are released either way: a failed write is repaired by a rebuild.
                s.committed.send_replace(last);
                drop(s);
                // At most a few commits a second under a steady write load: each one costs file
                // syncs, and searches see writes within this delay anyway. Someone waiting for
                // the index, or a full queue (`search_commit_entries`), cuts the pause short.
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = flush.notified() => {}
                }
            }
        });
        Ok(rebuilt)
    }

    async fn entries_held(&self) -> Result<u64, NodeError> {
        Ok(self.store.logs().await?.iter().map(|l| l.head_seq).sum())
    }

    /// Queue the documents of one committed append (called right after the store commit). Only a
    /// copy of each STIX object's text is made here; parsing and indexing happen in the indexer
    /// task, off the write path.
    pub(crate) fn index_append(&self, mut projections: Vec<Projection>, entries: &[ParsedEntry]) {
        let Some(s) = self.search_index() else { return };
        // An alert's receipts and acknowledgements, an exercise's responses and a project's
        // interests change nothing searchable: only the entries that write an alert's,
        // exercise's or project's text re-index it (every receipt re-indexing its alert made
        // the alert fan-out 2.7 times as costly; the performance guard showed it).
        // No entries: a document asked for again (a file's text arrived), always re-indexed.
        let texts_changed = entries.is_empty()
            || entries
                .iter()
                .any(|e| TEXT_ENTRIES.contains(&e.header.kind.as_str()));
        projections.retain(|p| match p {
            Projection::Object { kind, .. } if OBJECT_KINDS.contains(kind) => texts_changed,
            Projection::Object { kind, .. } => *kind == "action",
            Projection::Format(_) => false,
            _ => true,
        });
        for p in &mut projections {
            if let Projection::Stix(row) = p
                && let Some(sp) = row.span.take()
            {
                row.raw = entries
                    .iter()
                    .find(|e| e.header.seq == sp.seq)
                    .and_then(|e| e.body.get(sp.start..sp.start + sp.len))
                    .unwrap_or_default()
                    .to_owned();
            }
        }
        let n = entries.len() as u64;
        let queued = s.submitted.fetch_add(n, Ordering::SeqCst) + n;
        if s.commit_entries > 0
            && queued.saturating_sub(s.written.load(Ordering::SeqCst)) >= s.commit_entries
        {
            s.flush.notify_one();
        }
        let tx = s.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let generation = s.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = tx.send(Job {
            generation,
            entries: n,
            projections,
        });
    }

    /// Wait until everything queued for the index so far is searchable.
    pub async fn search_settled(&self) {
        let Some(s) = self.search_index() else { return };
        let target = s.generation.load(Ordering::SeqCst);
        let mut rx = s.committed.subscribe();
        if *rx.borrow() < target {
            s.flush.notify_one();
        }
        let _ = rx.wait_for(|c| *c >= target).await;
    }

    /// Rebuild the index from the store: every item, STIX object, action and statement.
    pub async fn reindex(&self) -> Result<ReindexReport, NodeError> {
        let s = self
            .search_index()
            .ok_or_else(|| NodeError::Internal("no search index attached".into()))?;
        let started = std::time::Instant::now();
        // Appends wait while the index is rebuilt, so the watermark matches what was read.
        let _guard = self.lock_writes().await?;
        // What is already queued goes in first, so the counters below describe the store.
        self.search_settled().await;
        let held = self.entries_held().await?;
        s.index.clear().map_err(internal)?;
        let documents = self.fill(&s, true).await?;
        s.written.store(held, Ordering::SeqCst);
        s.submitted.store(held, Ordering::SeqCst);
        let s2 = s.clone();
        let parts = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::task::spawn_blocking(move || {
            s2.index.commit(held)?;
            s2.index.compact(parts)
        })
        .await
        .map_err(|e| NodeError::Internal(e.to_string()))?
        .map_err(internal)?;
        Ok(ReindexReport {
            documents,
            entries: held,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Write the document of everything the store holds (items, STIX objects, actions,
    /// statements) into the index, uncommitted. Returns how many. `fresh`: the index was just
    /// cleared, so documents are added without replacing (each id comes once: the latest STIX
    /// version, one row per item, action and statement), which keeps the rebuild's memory flat
    /// in the number of entries.
    async fn fill(&self, s: &Search, fresh: bool) -> Result<u64, NodeError> {
        let put = |docs: &[SearchDoc]| {
            if fresh {
                s.index.add_fresh(docs)
            } else {
                s.index.upsert(docs)
            }
            .map_err(internal)
        };
        let mut documents = 0u64;
        let mut q = entente_store::ItemQuery {
            limit: 5000,
            ..Default::default()
        };
        loop {
            let page = self.store.items(&q).await?;
            let done = page.len() < q.limit as usize;
            q.after = page.last().map(|i| i.item_id.clone());
            // Retracted items leave the index (a refresh does not clear it first).
            let gone: Vec<String> = page
                .iter()
                .filter(|i| i.retracted.is_some())
                .map(|i| format!("item:{}", i.item_id))
                .collect();
            if !fresh {
                s.index.delete(&gone);
            }
            let files = self.items_file_texts(page.iter()).await;
            let docs: Vec<SearchDoc> = page.iter().filter_map(|i| item_doc(i, &files)).collect();
            documents += docs.len() as u64;
            put(&docs)?;
            if done {
                break;
            }
        }
        for f in self.store.formats().await? {
            let mut sq = StixQuery {
                collection: f.format_id.clone(),
                limit: 5000,
                ..Default::default()
            };
            loop {
                let rows = self.store.stix_query(&sq).await?;
                let done = rows.len() < sq.limit as usize;
                sq.after = rows.last().map(|r| r.date_added.clone());
                let docs: Vec<SearchDoc> =
                    rows.iter().filter_map(|r| stix_doc(r, &r.raw)).collect();
                documents += docs.len() as u64;
                put(&docs)?;
                if done {
                    break;
                }
            }
        }
        for a in self.store.objects("action").await? {
            if let Ok(a) = serde_json::from_str(&a) {
                put(&[action_doc(&a)])?;
                documents += 1;
            }
        }
        for kind in OBJECT_KINDS {
            let mut docs: Vec<SearchDoc> = Vec::new();
            for s in self.store.objects(kind).await? {
                let files = self.object_file_texts(kind, &s).await;
                docs.extend(object_doc(kind, &s, &files));
            }
            documents += docs.len() as u64;
            put(&docs)?;
        }
        let docs: Vec<SearchDoc> = self
            .store
            .statements()
            .await?
            .iter()
            .filter_map(statement_doc)
            .collect();
        documents += docs.len() as u64;
        put(&docs)?;
        Ok(documents)
    }

    /// Bring the index up to date with writes made by the node's other processes (sharing a
    /// PostgreSQL store) without clearing it first, so searches keep answering meanwhile.
    async fn refresh(&self) -> Result<(), NodeError> {
        let Some(s) = self.search_index() else {
            return Ok(());
        };
        let submitted = s.submitted.load(Ordering::SeqCst);
        let held = self.entries_held().await?;
        if held <= submitted {
            return Ok(());
        }
        let extra = held - submitted;
        tracing::info!(
            held,
            submitted,
            "search index refreshed with other processes' writes"
        );
        self.fill(&s, false).await?;
        s.submitted.fetch_add(extra, Ordering::SeqCst);
        let written = s.written.fetch_add(extra, Ordering::SeqCst) + extra;
        let s2 = Arc::clone(&s);
        tokio::task::spawn_blocking(move || s2.index.commit(written))
            .await
            .map_err(|e| NodeError::Internal(e.to_string()))?
            .map_err(internal)?;
        Ok(())
    }

    /// Search what the caller may see.
    pub async fn search(&self, who: &Principal, r: SearchRequest) -> Result<SearchView, NodeError> {
        let s = self
            .search_index()
            .ok_or_else(|| NodeError::Internal("search is not enabled on this node".into()))?;
        if r.q.len() > 500 {
            return Err(entente_domain::DomainError::invalid("q", "at most 500 characters").into());
        }
        if let Some(w) = r.what.as_deref().filter(|w| !w.is_empty())
            && !WHAT.contains(&w)
        {
            return Err(entente_domain::DomainError::invalid(
                "what",
                "one of item, stix, action, statement, alert, exercise, project, thread, meeting, paper",
            )
            .into());
        }
        let viewer = who.viewer();
        let filters: Vec<(String, String)> = [
            ("format", &r.format),
            ("topic", &r.topic),
            ("partner", &r.partner),
            ("kind", &r.kind),
            ("tlp", &r.tlp),
            ("period", &r.period),
        ]
        .into_iter()
        .filter_map(|(d, v)| {
            v.as_ref()
                .filter(|v| !v.is_empty())
                .map(|v| (d.to_owned(), v.clone()))
        })
        .collect();
        let q = SearchQuery {
            text: r.q.clone(),
            viewer: policy::viewer_tokens(&viewer).to_vec(),
            filters,
            what: r.what.clone(),
            limit: r.limit.unwrap_or(20),
        };
        let s2 = s.clone();
        let res = tokio::task::spawn_blocking(move || s2.index.search(&q))
            .await
            .map_err(|e| NodeError::Internal(e.to_string()))?
            .map_err(internal)?;
        // Check every hit again against what is stored now (the index may lag a retraction);
        // the items among them are read in one query.
        let item_ids: Vec<String> = res
            .hits
            .iter()
            .filter_map(|h| h.id.strip_prefix("item:").map(str::to_owned))
            .collect();
        let items: HashMap<String, entente_domain::ItemState> = self
            .store
            .items_by_id(&item_ids)
            .await?
            .into_iter()
            .map(|i| (i.item_id.clone(), i))
            .collect();
        let mut hits = Vec::with_capacity(res.hits.len());
        // The text each visible hit was found in, for its snippet (None: not visible now).
        let mut texts: Vec<String> = Vec::with_capacity(res.hits.len());
        for h in res.hits {
            let Some((what, id)) = h.id.split_once(':') else {
                continue;
            };
            // The text each hit was indexed with (`docs`), for its snippet.
            let text: Option<String> = match what {
                "item" => match items
                    .get(id)
                    .filter(|it| it.retracted.is_none() && policy::user_may_see_item(&viewer, it))
                {
                    Some(it) if !it.attachments.is_empty() => {
                        let files = self.items_file_texts(std::iter::once(it)).await;
                        item_doc(it, &files).map(|d| d.body)
                    }
                    Some(it) => Some(it.body.clone()),
                    None => None,
                },
                "action" => self
                    .action(who, id)
                    .await
                    .ok()
                    .filter(|a| a.audience.contains(&viewer.partner))
                    .map(|a| action_doc(&a).body),
                "statement" => self
                    .store
                    .statement(id)
                    .await?
                    .filter(|st| st.audience.contains(&viewer.partner))
                    .map(|st| statement_doc(&st).map(|d| d.body).unwrap_or_default()),
                "alert" => self
                    .alert(who, id)
                    .await
                    .ok()
                    .filter(|a| a.alert.audience.contains(&viewer.partner))
                    .map(|a| alert_doc(&a.alert).body),
                "exercise" => self
                    .exercise(who, id)
                    .await
                    .ok()
                    .filter(|x| x.audience.contains(&viewer.partner))
                    .map(|x| exercise_doc(&x).body),
                "project" => self
                    .project(who, id)
                    .await
                    .ok()
                    .filter(|p| p.audience.contains(&viewer.partner))
                    .map(|p| project_doc(&p).body),
                // A thread's snippet comes from its posts and their files' text.
                "thread" => match self
                    .thread(who, id)
                    .await
                    .ok()
                    .filter(|t| t.thread.audience.contains(&viewer.partner))
                {
                    Some(t) => {
                        let files = self.thread_file_texts(&t.thread).await;
                        Some(thread_doc(&t.thread, &files).body)
                    }
                    None => None,
                },
                "meeting" => match self
                    .meeting(who, id)
                    .await
                    .ok()
                    .filter(|m| m.meeting.audience.contains(&viewer.partner))
                {
                    Some(m) => {
                        let owner = crate::attachments::FileOwner::Meeting(id.to_owned());
                        let files = self.owned_file_texts(owner, &m.meeting.files).await;
                        Some(meeting_doc(&m.meeting, &files).body)
                    }
                    None => None,
                },
                "paper" => match self
                    .paper(who, id)
                    .await
                    .ok()
                    .filter(|p| p.paper.audience.contains(&viewer.partner))
                {
                    Some(p) => {
                        let owner = crate::attachments::FileOwner::Paper(id.to_owned());
                        let files = self.owned_file_texts(owner, &p.paper.files).await;
                        Some(paper_doc(&p.paper, &files).body)
                    }
                    None => None,
                },
                // STIX rows: reader tokens come from the row's own audience and marking,
                // which never change for a stored version. Their text is the object's JSON,
                // not shown as a snippet.
                "stix" => Some(String::new()),
                _ => None,
            };
            let Some(text) = text else { continue };
            texts.push(text);
            hits.push(SearchHitView {
                what: what.to_owned(),
                id: id.to_owned(),
                kind: h.kind,
                title: h.title,
                tlp: h.tlp,
                partner: h.partner,
                period: h.period,
                snippet: String::new(),
                marks: vec![],
            });
        }
        // Snippets only of what the viewer may see (checked just above), and only when words
        // were asked for.
        if !r.q.trim().is_empty() && !hits.is_empty() {
            let query = r.q.clone();
            let s3 = s.clone();
            let snippets = tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                s3.index.snippets(&query, &refs, SNIPPET_CHARS)
            })
            .await
            .map_err(|e| NodeError::Internal(e.to_string()))?
            .map_err(internal)?;
            for (h, sn) in hits.iter_mut().zip(snippets) {
                h.snippet = sn.text;
                h.marks = sn.marks;
            }
        }
        Ok(SearchView {
            total: res.total,
            hits,
            facets: res.facets,
            near: res.near,
        })
    }

    /// Documents searchable now and the index's size on disk.
    pub fn search_stats(&self) -> Option<(u64, u64)> {
        self.search_index()
            .map(|s| (s.index.num_docs(), s.index.size_bytes()))
    }
}

fn internal(e: entente_search::SearchError) -> NodeError {
    NodeError::Internal(e.to_string())
}
