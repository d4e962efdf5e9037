//! The fetcher: brings the files that received items reference from the peers, chunk by chunk,
//! and checks each one *for its item*. A file is served, downloaded and searched through an item
//! only once it was checked for that item — fetched for it and hashed to its signed reference,
//! or, when this node already holds the bytes for another item, fetched again from this item's
//! holders and hashed — so naming a known hash in one's own item gets nothing from this node.
//! Resumes from the chunks held; after a transfer whose whole does not hash, it drops them and
//! tries the origin alone; backs off per (file, item) on failure. Not the serving side.

use super::*;
use entente_store::Projection;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What the fetcher keeps between passes: its wake-up and, per (file, item), the failures.
#[derive(Default)]
pub(crate) struct Fetcher {
    pub(super) wake: Notify,
    failures: std::sync::Mutex<HashMap<(String, String), Failure>>,
    /// One file's text read at a time, off the fetch path.
    extracting: tokio::sync::Mutex<()>,
}

#[derive(Clone, Copy)]
struct Failure {
    count: u32,
    next: Instant,
    /// The last attempt's bytes did not hash: only the origin is asked next.
    origin_only: bool,
}

/// What became of one (file, item) row in a pass.
enum Row {
    Done,
    Skip,
    Failed { bad_bytes: bool },
}

/// The longest a text extraction may take before the file is left unsearchable.
const EXTRACT_TIMEOUT: Duration = Duration::from_secs(60);

/// Wakes the fetcher when received items reference files, and after each sync round (a file
/// that could not be fetched before, or one referenced before a restart, is tried again).
pub(crate) struct AttachmentHooks;

#[async_trait::async_trait]
impl Hook for AttachmentHooks {
    fn committed(&self, node: &Node, projections: &mut Vec<Projection>, _: &[ParsedEntry]) {
        let refs = projections.iter().any(|p| match p {
            Projection::Item(i) => !i.attachments.is_empty() && i.origin != *node.partner(),
            Projection::Files { .. } => true,
            _ => false,
        });
        if refs {
            node.ext::<Fetcher>().wake.notify_one();
        }
    }

    async fn round_done(&self, node: &Node) {
        node.ext::<Fetcher>().wake.notify_one();
    }

    fn tick(&self, node: &Arc<Node>) {
        super::abandoned::tick(node);
        super::signatures::tick(node);
    }
}

/// Start the fetcher: one task per node, holding the node weakly.
pub(crate) fn start(node: &Arc<Node>) {
    let weak: Weak<Node> = Arc::downgrade(node);
    let fetcher = node.ext::<Fetcher>();
    tokio::spawn(async move {
        loop {
            fetcher.wake.notified().await;
            let Some(node) = weak.upgrade() else { break };
            if let Err(e) = node.fetch_missing_attachments().await {
                tracing::warn!(error = %e, "attachments: fetch pass failed");
            }
        }
    });
}

impl Fetcher {
    fn failure(&self, key: &(String, String)) -> Option<Failure> {
        let f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        f.get(key).copied()
    }

    fn failed(&self, key: (String, String), bad_bytes: bool) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let e = f.entry(key).or_insert(Failure {
            count: 0,
            next: Instant::now(),
            origin_only: false,
        });
        e.count += 1;
        // 2 s, 4 s, 8 s … at most an hour.
        let wait = Duration::from_secs(2u64.saturating_pow(e.count.min(12)).min(3600));
        e.next = Instant::now() + wait;
        e.origin_only |= bad_bytes;
    }

    fn done(&self, key: &(String, String)) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        f.remove(key);
    }
}

impl Node {
    /// Fetch and check what received items reference and this node holds no checked copy of,
    /// from the item's origin first, then from the other partners of its audience. A row that
    /// fails (a peer, the store) is logged and backed off; the pass goes on with the others.
    pub async fn fetch_missing_attachments(self: &Arc<Self>) -> Result<(), NodeError> {
        let fetcher = self.ext::<Fetcher>();
        let mut after: Option<(String, String)> = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let cursor = after.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
            let page = self.store.missing_blobs(cursor, 500).await?;
            let Some(last) = page.last() else { break };
            after = Some((last.0.clone(), last.1.clone()));
            for (sha, item_id, _) in page {
                let key = (sha, item_id);
                seen.insert(key.clone());
                let failure = fetcher.failure(&key);
                if failure.is_some_and(|f| f.next > Instant::now()) {
                    continue;
                }
                match self.fetch_row(&key, failure).await {
                    Ok(Row::Done) => fetcher.done(&key),
                    // Nothing to do for now (revised away, retracted, over this node's limit,
                    // an own item's file not here): looked at again only after a back-off.
                    Ok(Row::Skip) => fetcher.failed(key, false),
                    Ok(Row::Failed { bad_bytes }) => fetcher.failed(key, bad_bytes),
                    Err(e) => {
                        tracing::warn!(sha256 = %key.0, item = %key.1, error = %e, "attachment: row failed");
                        fetcher.failed(key, false);
                    }
                }
            }
        }
        // What is no longer missing needs no back-off state.
        let mut f = fetcher.failures.lock().unwrap_or_else(|e| e.into_inner());
        f.retain(|k, _| seen.contains(k));
        Ok(())
    }

    /// One (file, owner) row; `item_id` is the owner's key ([`FileOwner::key`]): an item's id
    /// or a post's.
    async fn fetch_row(
        self: &Arc<Self>,
        (sha, item_id): &(String, String),
        failure: Option<Failure>,
    ) -> Result<Row, NodeError> {
        let Some(owner) = FileOwner::from_key(item_id) else {
            return Ok(Row::Skip);
        };
        let Some(it) = self.held_owner(&owner).await? else {
            return Ok(Row::Skip);
        };
        let Some(r) = it.file(sha).cloned() else {
            return Ok(Row::Skip);
        };
        if r.size > self.config().attachment_max_bytes || it.retracted {
            return Ok(Row::Skip);
        }
        if it.origin == *self.partner() {
            // This node signed the item after checking the author uploaded the file. Held aside
            // by a scan of every held file since, it is held aside for this item too.
            if self.store.blob(sha).await?.is_none() {
                if let Some(finding) = self.store.blob_quarantine(sha, None).await? {
                    self.store
                        .quarantine_blob(sha, item_id, &finding, &self.now())
                        .await?;
                    return Ok(Row::Done);
                }
                return Ok(Row::Skip);
            }
            self.store.verify_blob_for_item(sha, item_id).await?;
            return Ok(Row::Done);
        }
        let mut from: Vec<PartnerCode> = vec![it.origin.clone()];
        if !failure.is_some_and(|f| f.origin_only) {
            from.extend(it.audience.iter().filter(|p| **p != it.origin).cloned());
        }
        let held = self.store.blob(sha).await?.is_some();
        // Flagged when it came for another item: this item's holders are asked for the bytes all
        // the same (whether they are asked must not tell a peer what this node received), and
        // once they hash, the file is withheld for this item too.
        let flagged = match held {
            true => None,
            false => self.store.blob_quarantine(sha, None).await?,
        };
        // A peer gets a deadline per file (at least 256 KiB/s after a minute), so a slow one
        // cannot hold the fetcher for hours.
        let deadline = Duration::from_secs(60 + r.size / (256 << 10));
        for peer in from.iter().filter(|p| *p != self.partner()) {
            let attempt = async {
                if let Some(finding) = &flagged {
                    self.confirm_held(peer, item_id, &r).await?;
                    self.store
                        .quarantine_blob(sha, item_id, finding, &self.now())
                        .await?;
                    Ok(false)
                } else if held {
                    self.confirm_held(peer, item_id, &r).await.map(|()| true)
                } else {
                    self.fetch_attachment(peer, item_id, &r).await
                }
            };
            let e = match tokio::time::timeout(deadline, attempt).await {
                // Held aside by the malware scanner: never this item's, never fetched again.
                Ok(Ok(false)) => return Ok(Row::Done),
                Ok(Ok(true)) => {
                    self.store.verify_blob_for_item(sha, item_id).await?;
                    // Held aside meanwhile by a scan of every held file: tried again later.
                    if !self.store.blob_for_item(sha, item_id).await? {
                        return Ok(Row::Failed { bad_bytes: false });
                    }
                    if !held {
                        self.spawn_text(sha.clone(), r.size, vec![owner]);
                    } else {
                        self.reindex_owner(&owner).await?;
                    }
                    return Ok(Row::Done);
                }
                // The scanner could not scan it (logged where it failed): the chunks stay, the
                // whole is scanned on the next try.
                Ok(Err(NodeError::ScanUnavailable(_))) => {
                    return Ok(Row::Failed { bad_bytes: false });
                }
                Ok(Err(e)) => e,
                Err(_) => internal("the transfer took longer than its deadline"),
            };
            tracing::info!(%peer, sha256 = %sha, error = %e, "attachment not fetched");
            // Bytes that did not hash: the next try starts afresh, from the origin alone.
            if matches!(
                e,
                NodeError::Peer {
                    code: "bad_attachment",
                    ..
                }
            ) {
                return Ok(Row::Failed { bad_bytes: true });
            }
        }
        Ok(Row::Failed { bad_bytes: false })
    }

    /// Fetch the chunks of a file not held from one peer, keep the whole if it hashes and the
    /// malware scanner (when there is one) finds nothing in it. False: the scanner found
    /// something, and the file is quarantined.
    async fn fetch_attachment(
        &self,
        peer: &PartnerCode,
        item_id: &str,
        r: &AttachmentRef,
    ) -> Result<bool, NodeError> {
        let held = self.store.blob_chunk_indexes(&r.sha256).await?;
        for i in (0..r.chunks()).filter(|i| held.binary_search(i).is_err()) {
            let data = self.fetch_chunk(peer, item_id, r, i).await?;
            self.store
                .put_blob_chunk(&r.sha256, i, &data, &self.now())
                .await?;
        }
        // Whole: it is kept only if the bytes are the ones the origin signed.
        if held_hash(self.store.as_ref(), &r.sha256, r.size).await? != r.sha256 {
            self.store.drop_blob_chunks(&r.sha256).await?;
            return Err(bad_bytes(peer));
        }
        if let Some(to) = &self.config().malware_scan
            && let scan::Verdict::Found(finding) = scan::blob(
                &self.ext::<scan::ScanSlots>(),
                to,
                self.store.as_ref(),
                &r.sha256,
                r.size,
            )
            .await?
        {
            // The chunks stay as evidence; the file never becomes whole here, so it is not
            // served, downloaded or read, and it is not asked for again.
            tracing::warn!(%peer, item = %item_id, sha256 = %r.sha256, finding, "attachment quarantined: the malware scanner found something");
            self.metrics
                .attachments_quarantined
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.store
                .quarantine_blob(&r.sha256, item_id, &finding, &self.now())
                .await?;
            return Ok(false);
        }
        let info = BlobInfo {
            sha256: r.sha256.clone(),
            size: r.size,
            stored_at: self.now(),
        };
        self.store.complete_blob(&info, None).await?;
        Ok(true)
    }

    /// A file held (or quarantined) for another item: this item's holder must have it too. Its
    /// chunks are fetched from `peer` and hashed, not kept (the bytes are the ones held).
    async fn confirm_held(
        &self,
        peer: &PartnerCode,
        item_id: &str,
        r: &AttachmentRef,
    ) -> Result<(), NodeError> {
        let mut h = Sha256::new();
        for i in 0..r.chunks() {
            h.update(self.fetch_chunk(peer, item_id, r, i).await?);
        }
        if hex::encode(h.finalize()) != r.sha256 {
            return Err(bad_bytes(peer));
        }
        Ok(())
    }

    /// Index an item, a post's thread, a meeting or a paper again (a file's text joined it).
    pub(super) async fn reindex_owner(&self, owner: &FileOwner) -> Result<(), NodeError> {
        let (kind, id) = match owner {
            FileOwner::Item(id) => {
                let p = self.store.item(id).await?.map(Projection::Item);
                self.index_append(p.into_iter().collect(), &[]);
                return Ok(());
            }
            FileOwner::Post { thread_id, .. } => ("thread", thread_id),
            FileOwner::Meeting(id) => ("meeting", id),
            FileOwner::Paper(id) => ("paper", id),
        };
        let state = self.store.object(kind, id).await?;
        let p = state.and_then(|state| {
            // Every one of these states names its format at the top level or in its plan.
            let v: serde_json::Value = serde_json::from_str(&state).ok()?;
            let format_id = v
                .get("format_id")
                .or_else(|| v.get("plan")?.get("format_id"))?
                .as_str()?
                .to_owned();
            Some(Projection::Object {
                kind,
                id: id.clone(),
                format_id,
                state,
            })
        });
        if let Some(p) = p {
            self.index_append(vec![p], &[]);
        }
        Ok(())
    }

    async fn fetch_chunk(
        &self,
        peer: &PartnerCode,
        item_id: &str,
        r: &AttachmentRef,
        i: u32,
    ) -> Result<Vec<u8>, NodeError> {
        let want = (r.size - u64::from(i) * CHUNK_BYTES).min(CHUNK_BYTES) as usize;
        let path = fed::attachment_chunk_path(item_id, &r.sha256, i);
        let req = self.fed_get_request(peer, &path)?;
        crate::transport::read_bytes(peer.clone(), &path, req, want).await
    }

    /// Read a received file's text in a task of its own (one at a time, at most a minute: a
    /// hostile PDF holds up neither the fetcher nor other files for long), then index the item
    /// again with it.
    pub(super) fn spawn_text(self: &Arc<Self>, sha256: String, size: u64, owners: Vec<FileOwner>) {
        let fetcher = self.ext::<Fetcher>();
        let store = self.store.clone();
        let node = Arc::downgrade(self);
        tokio::spawn(async move {
            match bounded_text(&fetcher, store.as_ref(), &sha256, size).await {
                Ok(Ok(true)) => {
                    let Some(node) = node.upgrade() else { return };
                    for owner in &owners {
                        if let Err(e) = node.reindex_owner(owner).await {
                            tracing::warn!(sha256, error = %e, "attachment text not indexed");
                        }
                    }
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => tracing::warn!(sha256, error = %e, "attachment text not read"),
                Err(_) => tracing::warn!(sha256, "attachment text not read within a minute"),
            }
        });
    }
}

fn bad_bytes(peer: &PartnerCode) -> NodeError {
    NodeError::Peer {
        peer: peer.to_string(),
        code: "bad_attachment",
        reason: "the file's bytes do not hash to the signed reference".into(),
    }
}

/// [`keep_file_text`] one file at a time on this node, for at most [`EXTRACT_TIMEOUT`] (the
/// blocking thread of a parse that overruns is left to finish, its text unused).
pub(super) async fn bounded_text(
    fetcher: &Fetcher,
    store: &dyn entente_store::Store,
    sha256: &str,
    size: u64,
) -> Result<Result<bool, NodeError>, tokio::time::error::Elapsed> {
    let _one_at_a_time = fetcher.extracting.lock().await;
    tokio::time::timeout(EXTRACT_TIMEOUT, keep_file_text(store, sha256, size)).await
}

/// Read a whole file's text for search and keep it; false when it has none (too large, of a
/// type without text, or not parsing).
async fn keep_file_text(
    store: &dyn entente_store::Store,
    sha256: &str,
    size: u64,
) -> Result<bool, NodeError> {
    if size > crate::file_text::MAX_FILE_BYTES {
        return Ok(false);
    }
    let mut bytes = Vec::with_capacity(size as usize);
    for i in 0..attachment::chunk_count(size) {
        let c = store.blob_chunk(sha256, i).await?;
        bytes.extend(c.ok_or_else(|| internal("a chunk went missing"))?);
    }
    let mt = detect_media_type(&bytes[..bytes.len().min(8192)]);
    let text = tokio::task::spawn_blocking(move || crate::file_text::extract(&mt, &bytes))
        .await
        .ok()
        .flatten();
    match text {
        Some(t) => {
            store.put_blob_text(sha256, &t).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}
