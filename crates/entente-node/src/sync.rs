//! Pull-based, paged, resumable sync with push wake-ups, verification of everything
//! received, fork evidence, and `verify` over every stored log.
//!
//! The cursor of a log is simply its stored head: a node receives a log whole and in order
//! or not at all, so a restart resumes from the last committed page with no duplicates.

use crate::NodeError;
use crate::node::{Appended, Node};
use entente_domain::PartnerCode;
use entente_domain::policy;
use entente_log::{
    LogDescriptor, LogError, LogHead, ParsedEntry, SignedEntry, parse_entry, parse_owned,
    verify_entry, verify_parsed_page,
};
use entente_store::{ForkEvidence, StoreError};
use entente_wire::{self as fed, EntriesResponse, LogsResponse, Notify};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::watch;

pub use crate::transport::MAX_PEER_RESPONSE;

/// Page fetches running as tasks, in the order their pages must be applied; aborted when
/// dropped (a rejected page or an error drops what was fetched ahead).
struct Prefetch(std::collections::VecDeque<(u64, tokio::task::JoinHandle<FetchedPage>)>);

/// A page as its prefetch task leaves it: fetched, and each entry parsed and hashed (or the
/// first entry that does not parse, which refuses the page). Parsing there, beside the apply
/// of the page before, keeps the second core busy while that page's commit is written.
type FetchedPage = Result<Result<Vec<ParsedEntry>, LogError>, NodeError>;

/// Fetch a page and parse its entries off the async workers.
async fn fetch_page(
    partner: PartnerCode,
    path: String,
    req: crate::transport::SignedGet,
) -> FetchedPage {
    let page: EntriesResponse = crate::transport::read_json(partner, path, req).await?;
    tokio::task::spawn_blocking(move || {
        page.entries
            .into_iter()
            .map(parse_owned)
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| NodeError::Internal(format!("page parse: {e}")))
}

impl Prefetch {
    fn cancel(&mut self) {
        for (_, h) in self.0.drain(..) {
            h.abort();
        }
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.cancel();
    }
}

pub use crate::metrics::SyncCounters;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PeerSyncReport {
    pub partner: String,
    pub logs_offered: usize,
    pub entries_applied: u64,
    pub duplicates: u64,
    /// (log id, reason) for every log page refused.
    pub rejected: Vec<(String, String)>,
    pub forks: usize,
    pub error: Option<String>,
}

/// What became of one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageOutcome {
    Applied {
        applied: u64,
        duplicates: u64,
        head: u64,
    },
    Rejected {
        reason: String,
        fork: bool,
    },
    /// Not applied in full: from its `applied`-th new entry on, it refers to objects from other
    /// logs not held yet.
    Deferred {
        applied: u64,
    },
}

/// How many passes over a peer's deferred logs a sync round makes before it applies what is
/// left regardless.
const MAX_DEFER_PASSES: usize = 16;

impl Node {
    fn sync_lock(&self, p: &PartnerCode) -> Arc<tokio::sync::Mutex<()>> {
        self.sync_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(p.clone())
            .or_default()
            .clone()
    }

    pub fn sync_counters(&self) -> &SyncCounters {
        &self.metrics
    }

    /// Pull everything new from every peer with a URL.
    pub async fn sync_once(&self) -> Vec<PeerSyncReport> {
        let mut out = vec![];
        for p in self.peer_list() {
            if p.record.url.is_some() && p.record.state == "active" {
                out.push(self.sync_peer(&p.record.partner).await);
            }
        }
        self.run_round_done().await;
        if let Err(e) = self.relay_departures().await {
            tracing::warn!(error = %e, "could not relay departures from formats");
        }
        // Each round also witnesses every reachable peer's checkpoint, and checks the
        // checkpoints of others it passes on.
        for p in self.peer_list() {
            if p.record.url.is_some() && p.record.state == "active" {
                let w = self.witness_peer(&p.record.partner).await;
                if let Some(e) = &w.error {
                    tracing::debug!(peer = %p.record.partner, error = %e, "checkpoint not witnessed");
                }
                let g = self.check_gossip(&p.record.partner).await;
                if let Some(e) = &g.error {
                    tracing::debug!(peer = %p.record.partner, error = %e, "gossip not checked");
                }
            }
        }
        out
    }

    /// Pull everything new from one peer: every log it offers that this node may accept,
    /// page by page from this node's head.
    pub async fn sync_peer(&self, partner: &PartnerCode) -> PeerSyncReport {
        let lock = self.sync_lock(partner);
        let _guard = lock.lock().await;
        let mut report = PeerSyncReport {
            partner: partner.to_string(),
            ..Default::default()
        };
        let r = self.sync_peer_inner(partner, &mut report).await;
        if let Err(e) = &r {
            report.error = Some(e.to_string());
        }
        let now = self.clock.now_rfc3339();
        if let Err(e) = self
            .store
            .set_peer_status(partner, &now, report.error.as_deref())
            .await
        {
            tracing::warn!(peer = %partner, %e, "could not record sync status");
        }
        report
    }

    async fn sync_peer_inner(
        &self,
        partner: &PartnerCode,
        report: &mut PeerSyncReport,
    ) -> Result<(), NodeError> {
        let peer = self.peer(partner).ok_or(NodeError::NotFound("peer"))?;
        if peer.record.state != "active" {
            return Err(NodeError::Conflict(format!(
                "peer {partner} is {}",
                peer.record.state
            )));
        }
        if peer.record.url.is_none() {
            return Err(NodeError::NotFound("peer url"));
        }
        let offered: LogsResponse = self.fed_get(partner, fed::PATH_LOGS).await?;
        report.logs_offered = offered.logs.len();
        // Passes: a page whose entries refer to something not held yet (a receipt before its
        // alert, a stance before its statement, a departure before its format, from logs of
        // different origins) waits until the other logs of this round are in. Passes repeat
        // while they apply something; when one applies nothing, a last pass applies the rest
        // regardless (what it refers to may never come: it stays in the log, unprojected).
        let mut work: Vec<fed::RemoteLog> = offered.logs;
        let mut deferred = vec![];
        let mut defer = true;
        for pass in 0.. {
            let mut progress = false;
            for remote in std::mem::take(&mut work) {
                let desc = LogDescriptor::new(remote.origin.clone(), remote.audience.clone());
                if desc.log_id != remote.log_id {
                    self.metrics.reject("wrong_log");
                    report.rejected.push((
                        remote.log_id.clone(),
                        "log id does not match origin and audience".into(),
                    ));
                    continue;
                }
                if !policy::may_accept(self.partner(), &desc.origin, &desc.audience) {
                    // A peer offering a log we are not in the audience of.
                    self.metrics.reject("not_in_audience");
                    report
                        .rejected
                        .push((desc.log_id.clone(), "not in audience".into()));
                    continue;
                }
                if self.key_of(&desc.origin).is_none() {
                    // Refused before fetching anything (the apply would refuse every page).
                    self.metrics.reject("unknown_origin_key");
                    report.rejected.push((
                        desc.log_id.clone(),
                        format!("no pinned key for origin {}", desc.origin),
                    ));
                    continue;
                }
                let head = self.log_head(&desc.log_id).await?;
                if head.seq >= remote.head_seq {
                    continue;
                }
                let page_path = |after: u64| {
                    format!(
                        "{}?after={}&limit={}",
                        fed::entries_path(&desc.log_id),
                        after,
                        self.cfg.sync.page_size
                    )
                };
                let ps = u64::from(self.cfg.sync.page_size);
                // Pages are requested ahead at the boundaries a full page would have; a short
                // page (the sender caps a page's bytes) drops what was requested after it
                // and requests again from where it ended.
                let mut prefetch = Prefetch(Default::default());
                let mut next_after = head.seq;
                let mut expected = head.seq;
                loop {
                    while prefetch.0.len() < self.cfg.sync.pages_in_flight.max(1)
                        && next_after < remote.head_seq
                    {
                        let path = page_path(next_after);
                        let req = self.fed_get_request(partner, &path)?;
                        prefetch.0.push_back((
                            next_after,
                            tokio::spawn(fetch_page(partner.clone(), path, req)),
                        ));
                        next_after += ps;
                    }
                    let Some((after, task)) = prefetch.0.pop_front() else {
                        break;
                    };
                    let page = task
                        .await
                        .map_err(|e| NodeError::Internal(format!("page fetch: {e}")))?
                        .inspect_err(|e| {
                            if let NodeError::Peer {
                                code: "oversize", ..
                            } = e
                            {
                                self.metrics.reject("oversize");
                            }
                        })?;
                    debug_assert_eq!(after, expected);
                    if page.as_ref().is_ok_and(Vec::is_empty) {
                        break;
                    }
                    // A page that does not parse is refused by the apply below.
                    let last_seq = page
                        .as_ref()
                        .ok()
                        .and_then(|p| p.last())
                        .map_or(0, |p| p.header.seq);
                    if last_seq <= after {
                        // Not a continuation; the page is refused below.
                        prefetch.cancel();
                    } else if last_seq < after + ps && last_seq < remote.head_seq {
                        prefetch.cancel();
                        next_after = last_seq;
                    }
                    expected = last_seq;
                    match self.apply_parsed_page(partner, &desc, page, defer).await? {
                        PageOutcome::Applied {
                            applied,
                            duplicates,
                            ..
                        } => {
                            report.entries_applied += applied;
                            report.duplicates += duplicates;
                            progress |= applied > 0;
                            if applied == 0 {
                                break;
                            }
                        }
                        PageOutcome::Rejected { reason, fork } => {
                            if fork {
                                report.forks += 1;
                            }
                            report.rejected.push((desc.log_id.clone(), reason));
                            break;
                        }
                        PageOutcome::Deferred { applied } => {
                            report.entries_applied += applied;
                            progress |= applied > 0;
                            deferred.push(remote.clone());
                            break;
                        }
                    }
                    if last_seq >= remote.head_seq {
                        break;
                    }
                }
            }
            work = std::mem::take(&mut deferred);
            if work.is_empty() || !defer {
                break;
            }
            // Each pass with progress applies at least one entry; the bound keeps a peer that
            // trickles entries from costing unbounded refetches.
            if !progress || pass >= MAX_DEFER_PASSES {
                defer = false;
            }
        }
        Ok(())
    }

    /// Verify and apply a page of a log received from `from`. Entries this node already
    /// holds are checked against what it holds (identical: skipped; different and validly
    /// signed: a fork, kept as evidence); the rest must continue the chain from the head.
    /// Nothing of a rejected page is applied.
    pub async fn apply_page(
        &self,
        from: &PartnerCode,
        desc: &LogDescriptor,
        entries: Vec<SignedEntry>,
    ) -> Result<PageOutcome, NodeError> {
        self.apply_page_with(from, desc, entries, false).await
    }

    /// [`Node::apply_page`], optionally deferring a page that refers to objects not held yet.
    pub async fn apply_page_with(
        &self,
        from: &PartnerCode,
        desc: &LogDescriptor,
        entries: Vec<SignedEntry>,
        defer: bool,
    ) -> Result<PageOutcome, NodeError> {
        let parsed = entries.into_iter().map(parse_owned).collect();
        self.apply_parsed_page(from, desc, parsed, defer).await
    }

    /// [`Node::apply_page_with`] over entries already parsed (the sync's prefetch parses them),
    /// or the first that did not parse, which refuses the page.
    async fn apply_parsed_page(
        &self,
        from: &PartnerCode,
        desc: &LogDescriptor,
        parsed: Result<Vec<ParsedEntry>, LogError>,
        defer: bool,
    ) -> Result<PageOutcome, NodeError> {
        let reject = |reason: String, kind: &str| {
            self.metrics.reject(kind);
            tracing::warn!(peer = %from, log = %desc.log_id, %reason, "sync page rejected");
            Ok(PageOutcome::Rejected {
                reason,
                fork: kind == "fork",
            })
        };
        if !policy::may_accept(self.partner(), &desc.origin, &desc.audience) {
            return reject(
                "this node is not in the log's audience".into(),
                "not_in_audience",
            );
        }
        let Some(origin_key) = self.key_of(&desc.origin) else {
            return reject(
                format!("no pinned key for origin {}", desc.origin),
                "unknown_origin_key",
            );
        };
        let parsed = match parsed {
            Ok(p) => p,
            Err(err) => return reject(err.to_string(), err.reason()),
        };
        let n = parsed.len();
        for _attempt in 0..3 {
            let guard = self.lock_writes().await?;
            let head = self.log_head(&desc.log_id).await?;
            // Split the page at our head: entries at or below it we should already hold.
            let split = parsed
                .iter()
                .position(|p| p.header.seq > head.seq)
                .unwrap_or(n);
            if let Some(p) = parsed[split..].iter().find(|p| p.header.seq <= head.seq) {
                return reject(
                    LogError::Gap {
                        expected: head.seq + 1,
                        got: p.header.seq,
                    }
                    .to_string(),
                    "out_of_order",
                );
            }
            let (old, new) = parsed.split_at(split);
            let mut duplicates = 0;
            if !old.is_empty() {
                let lo = old.iter().map(|p| p.header.seq).min().unwrap_or(1);
                let hi = old.iter().map(|p| p.header.seq).max().unwrap_or(head.seq);
                let held: BTreeMap<u64, [u8; 32]> = self
                    .store
                    .entry_hashes(&desc.log_id, lo, hi)
                    .await?
                    .into_iter()
                    .collect();
                for p in old {
                    if p.header.log != desc.log_id {
                        return reject(
                            format!("entry {} belongs to another log", p.header.seq),
                            "wrong_log",
                        );
                    }
                    if held.get(&p.header.seq) == Some(&p.hash) {
                        duplicates += 1;
                        continue;
                    }
                    // Different from what we hold at the same position.
                    let signed = p.signed();
                    if verify_entry(&signed, &origin_key).is_err() {
                        return reject(
                            format!("entry {}: forged (signature does not verify)", p.header.seq),
                            "bad_signature",
                        );
                    }
                    let stored = self
                        .store
                        .entries_after(&desc.log_id, p.header.seq - 1, 1)
                        .await?;
                    if let Some(held_entry) = stored.into_iter().next() {
                        let fork = ForkEvidence {
                            log_id: desc.log_id.clone(),
                            origin: desc.origin.clone(),
                            seq: p.header.seq,
                            held: held_entry,
                            conflicting: signed,
                            received_from: from.clone(),
                            detected_at: self.clock.now_rfc3339(),
                        };
                        self.store.record_fork(&fork).await?;
                        tracing::error!(origin = %desc.origin, log = %desc.log_id, seq = p.header.seq, peer = %from,
                            "FORK: two validly signed entries with the same sequence number; evidence kept");
                    }
                    return reject(
                        format!("fork at entry {}: evidence kept", p.header.seq),
                        "fork",
                    );
                }
                self.metrics
                    .duplicates
                    .fetch_add(duplicates, Ordering::Relaxed);
            }
            if new.is_empty() {
                return Ok(PageOutcome::Applied {
                    applied: 0,
                    duplicates,
                    head: head.seq,
                });
            }
            if let Err(err) = verify_parsed_page(desc, head, new, &origin_key) {
                return reject(err.to_string(), err.reason());
            }
            let mut parsed = new;
            let (mut projections, first_missing) = self.fold_counting(parsed).await?;
            // Deferring starts at the first entry that refers to something not held yet; the
            // entries before it apply now. Two logs can wait on each other (each holds, before its
            // own reference, what the other refers to), and both must make progress.
            let deferred = match first_missing.filter(|_| defer) {
                None => false,
                Some(0) => return Ok(PageOutcome::Deferred { applied: 0 }),
                Some(k) => {
                    parsed = &parsed[..k];
                    projections = self.fold_counting(parsed).await?.0;
                    true
                }
            };
            let last = parsed.last().map(|p| p.header.seq).unwrap_or(head.seq);
            match self.store.append(desc, head, parsed, &projections).await {
                Ok(()) => {
                    self.run_committed(projections, parsed);
                    self.metrics
                        .applied
                        .fetch_add(parsed.len() as u64, Ordering::Relaxed);
                    self.announce(desc, last, Some(from.clone()));
                    // Receipts are publications of our own: they take the lock themselves.
                    drop(guard);
                    self.run_received(parsed).await;
                    if deferred {
                        return Ok(PageOutcome::Deferred {
                            applied: parsed.len() as u64,
                        });
                    }
                    return Ok(PageOutcome::Applied {
                        applied: parsed.len() as u64,
                        duplicates,
                        head: last,
                    });
                }
                // A concurrent sync of the same log from another peer got there first.
                Err(StoreError::HeadMoved { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(NodeError::Internal(
            "log head kept moving during apply".into(),
        ))
    }

    /// Start the background work: periodic pulls, pulls woken by peers' notifications, and
    /// notifications to peers when a log they are in the audience of grows. Stops when the
    /// returned handle is dropped or `stop` is called.
    pub fn start(self: &Arc<Self>) -> BackgroundHandle {
        let (stop_tx, stop_rx) = watch::channel(false);
        let wake_rx = self
            .wake_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let appended_rx = self
            .appended_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let mut tasks = vec![];
        if let Some(mut wake_rx) = wake_rx {
            let node = Arc::clone(self);
            let mut stop = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                let first = if node.cfg.sync.on_start { tokio::time::Instant::now() } else { tokio::time::Instant::now() + node.cfg.sync.interval };
                let mut tick = tokio::time::interval_at(first, node.cfg.sync.interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = tick.tick() => {
                            match node.refresh_peers().await {
                                Ok(true) => tracing::info!("pinned peers changed; reloaded"),
                                Ok(false) => {}
                                Err(e) => tracing::warn!(error = %e, "could not reload the pinned peers"),
                            }
                            node.run_tick();
                            for r in node.sync_once().await {
                                if let Some(e) = r.error { tracing::debug!(peer = %r.partner, error = %e, "periodic sync failed"); }
                            }
                        }
                        Some(p) = wake_rx.recv() => {
                            // Coalesce a burst of wake-ups into one pull per peer.
                            let mut peers = std::collections::BTreeSet::from([p]);
                            while let Ok(more) = wake_rx.try_recv() { peers.insert(more); }
                            for p in peers {
                                let node = Arc::clone(&node);
                                tokio::spawn(async move { node.sync_peer(&p).await });
                            }
                        }
                    }
                }
            }));
        }
        if let Some(mut appended_rx) = appended_rx {
            let node = Arc::clone(self);
            let mut stop = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        Some(a) = appended_rx.recv() => {
                            let mut batch = vec![a];
                            while let Ok(more) = appended_rx.try_recv() { batch.push(more); }
                            node.notify_peers(batch);
                        }
                    }
                }
            }));
        }
        BackgroundHandle {
            stop: stop_tx,
            tasks,
        }
    }

    /// Tell each peer in a grown log's audience (never anyone outside it) to pull.
    fn notify_peers(self: &Arc<Self>, batch: Vec<Appended>) {
        let mut per_peer: BTreeMap<PartnerCode, Notify> = BTreeMap::new();
        for a in batch {
            for p in a.audience.iter() {
                if p == self.partner()
                    || Some(p) == a.from.as_ref()
                    || !policy::may_forward(self.partner(), p, &a.audience)
                {
                    continue;
                }
                // A forwarded log needs no notification back to its origin.
                if p == &a.origin {
                    continue;
                }
                per_peer.insert(
                    p.clone(),
                    Notify {
                        log_id: a.log_id.clone(),
                        head_seq: a.head_seq,
                    },
                );
            }
        }
        for (p, n) in per_peer {
            if self
                .peer(&p)
                .filter(|x| x.record.state == "active")
                .and_then(|x| x.record.url)
                .is_none()
            {
                continue;
            }
            let node = Arc::clone(self);
            tokio::spawn(async move {
                if let Err(e) = node.fed_post(&p, fed::PATH_NOTIFY, &n).await {
                    tracing::debug!(peer = %p, %e, "push notification failed; the periodic pull will deliver");
                }
            });
        }
    }

    /// Check every stored log: each entry's signature against its origin's pinned key, the
    /// chain, sequence continuity and the recorded head; and report fork evidence.
    pub async fn verify_all(
        &self,
        mut progress: impl FnMut(u64),
    ) -> Result<VerifyReport, NodeError> {
        let mut report = VerifyReport::default();
        for log in self.store.logs().await? {
            report.logs += 1;
            let Some(key) = self.key_of(&log.origin) else {
                report.problems.push(format!(
                    "log {} (origin {}): no pinned key for the origin",
                    log.log_id, log.origin
                ));
                continue;
            };
            let desc = log.descriptor();
            let mut head = LogHead::EMPTY;
            loop {
                let page = self
                    .store
                    .entries_after(&log.log_id, head.seq, 5000)
                    .await?;
                if page.is_empty() {
                    break;
                }
                for e in &page {
                    let ok = verify_entry(e, &key).and_then(|p| {
                        if p.header.log != desc.log_id
                            || p.header.origin != desc.origin
                            || p.header.audience != desc.audience
                        {
                            return Err(LogError::WrongLog {
                                seq: p.header.seq,
                                reason: "stored under another log".into(),
                            });
                        }
                        if p.header.seq != head.seq + 1 {
                            return Err(LogError::Gap {
                                expected: head.seq + 1,
                                got: p.header.seq,
                            });
                        }
                        if p.prev_hash() != Some(head.hash) {
                            return Err(LogError::BrokenChain { seq: p.header.seq });
                        }
                        Ok(p)
                    });
                    match ok {
                        Ok(p) => {
                            head = LogHead {
                                seq: p.header.seq,
                                hash: p.hash,
                            }
                        }
                        Err(err) => {
                            let seq = parse_entry(e).map(|p| p.header.seq).unwrap_or(head.seq + 1);
                            report.problems.push(format!(
                                "log {} (origin {}, audience {}) entry {}: {}",
                                log.log_id,
                                log.origin,
                                log.audience.key(),
                                seq,
                                err
                            ));
                            break;
                        }
                    }
                    report.entries += 1;
                }
                progress(report.entries);
                if report.problems.iter().any(|p| p.contains(&log.log_id)) {
                    break;
                }
            }
            if !report.problems.iter().any(|p| p.contains(&log.log_id)) && head != log.head() {
                report.problems.push(format!(
                    "log {}: recorded head {} does not match entries (last {})",
                    log.log_id, log.head_seq, head.seq
                ));
            }
        }
        for f in self.store.forks().await? {
            report.forks += 1;
            report.problems.push(format!(
                "fork evidence: log {} (origin {}) entry {} received from {}",
                f.log_id, f.origin, f.seq, f.received_from
            ));
        }
        Ok(report)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VerifyReport {
    pub logs: u64,
    pub entries: u64,
    pub forks: u64,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Stops a node's background tasks when dropped.
#[derive(Debug)]
pub struct BackgroundHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl BackgroundHandle {
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for BackgroundHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}
