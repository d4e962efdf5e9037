//! Attachments: uploads spooled to disk and hashed as they arrive, files referenced from items
//! (only by the user who uploaded them), the bytes served to a user who may see such an item
//! and to a peer in its audience, and the fetcher that brings what a received item references
//! from the peers, chunk by chunk, resuming from the chunks already held and keeping a file
//! only when its bytes hash to the signed reference. It does not decide who sees an item
//! (`policy` does, through `Node::item`) and sends no file to anyone outside the item's audience.

use crate::node::{Hook, NewAttachment, Node, detect_media_type};
use crate::{NodeError, auth::Principal, fed};
use entente_domain::attachment::{self, AttachmentRef, CHUNK_BYTES};
use entente_domain::{DomainError, PartnerCode, policy};
use entente_log::ParsedEntry;
use entente_store::BlobInfo;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::Notify;

/// The core's lock on changes of an item's files or text, taken by every change of a file list.
pub(super) use crate::node::FilesChanges;

/// A file uploaded whole and hashed, ready to be referenced from an item by its uploader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    pub sha256: String,
    pub size: u64,
    pub media_type: String,
}

/// An upload in progress: the bytes go to a file of their own in the node's `uploads/`
/// directory (so a 100 MB file is not held in memory), hashed as they come. Dropped
/// unfinished, the file is removed.
pub struct Upload {
    file: tokio::fs::File,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
    limit: u64,
    head: Vec<u8>,
    uploader: String,
}

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn internal(e: impl std::fmt::Display) -> NodeError {
    NodeError::Internal(e.to_string())
}

impl Upload {
    /// Append bytes of the file; refused once it passes the node's limit.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), NodeError> {
        self.size += data.len() as u64;
        if self.size > self.limit {
            return Err(DomainError::invalid(
                "file",
                format!("at most {} bytes on this node", self.limit),
            )
            .into());
        }
        if self.head.len() < 8192 {
            let take = (8192 - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
        }
        self.hasher.update(data);
        self.file.write_all(data).await.map_err(internal)
    }

    /// Whether the bytes so far passed the node's limit.
    pub fn over_limit(&self) -> bool {
        self.size > self.limit
    }

    /// The whole file has arrived: keep it in the store in chunks, as its uploader's.
    pub async fn finish(mut self, node: &Node) -> Result<Uploaded, NodeError> {
        if self.size == 0 {
            return Err(DomainError::invalid("file", "an empty file cannot be attached").into());
        }
        let sha256 = hex::encode(std::mem::take(&mut self.hasher).finalize());
        self.file.flush().await.map_err(internal)?;
        // Bytes this node's scanner flagged when they came from a peer stay refused, scanner or
        // not (a false positive is for the operator to look into, not for an upload to undo).
        if let Some(finding) = node.store().blob_quarantine(&sha256, None).await? {
            return Err(NodeError::Malware(finding));
        }
        if let Some(to) = &node.config().malware_scan
            && let scan::Verdict::Found(finding) = scan::file(
                &node.ext::<scan::ScanSlots>(),
                to,
                &mut self.file,
                self.size,
            )
            .await?
        {
            tracing::warn!(uploader = %self.uploader, sha256, finding, "upload refused: the malware scanner found something");
            return Err(NodeError::Malware(finding));
        }
        let store = node.store();
        let mut new = store.blob(&sha256).await?.is_none();
        if new {
            self.store_chunks(node, &sha256).await?;
        }
        let info = BlobInfo {
            sha256: sha256.clone(),
            size: self.size,
            stored_at: node.now(),
        };
        store.complete_blob(&info, Some(&self.uploader)).await?;
        // Held already, the file may have been dropped (an upload a day old that nothing came to
        // reference) between that check and this upload's record of it, which then stands
        // without the bytes: they are written again from this upload. Once recorded, the file
        // is this upload's and a day from being dropped again.
        if !new
            && store.blob_chunk_indexes(&sha256).await?.len()
                != attachment::chunk_count(self.size) as usize
        {
            self.store_chunks(node, &sha256).await?;
            store.complete_blob(&info, Some(&self.uploader)).await?;
            new = true;
        }
        if new {
            // Read here, so the item the uploader creates next is indexed with it; bounded as
            // for a received file (an analyst's upload may well be a hostile PDF).
            let fetcher = node.ext::<fetch::Fetcher>();
            match fetch::bounded_text(&fetcher, store.as_ref(), &sha256, self.size).await {
                Ok(r) => {
                    r?;
                }
                Err(_) => tracing::warn!(sha256, "attachment text not read within a minute"),
            }
        }
        Ok(Uploaded {
            sha256,
            size: self.size,
            media_type: detect_media_type(&self.head),
        })
    }

    /// Write this upload's bytes as the file's chunks and check that what the store holds
    /// hashes to it.
    async fn store_chunks(&mut self, node: &Node, sha256: &str) -> Result<(), NodeError> {
        let store = node.store();
        // Chunks a peer left from a transfer that did not finish are not trusted: they go,
        // the upload's own are written, and the whole is hashed again before it counts.
        store.drop_blob_chunks(sha256).await?;
        self.file
            .seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(internal)?;
        let mut buf = vec![0u8; CHUNK_BYTES as usize];
        let at = node.now();
        for i in 0..attachment::chunk_count(self.size) {
            let want = (self.size - u64::from(i) * CHUNK_BYTES).min(CHUNK_BYTES) as usize;
            self.file
                .read_exact(&mut buf[..want])
                .await
                .map_err(internal)?;
            store.put_blob_chunk(sha256, i, &buf[..want], &at).await?;
        }
        if held_hash(store.as_ref(), sha256, self.size).await? != sha256 {
            store.drop_blob_chunks(sha256).await?;
            return Err(NodeError::Conflict(
                "the file could not be stored whole: send it again".into(),
            ));
        }
        Ok(())
    }
}

/// The SHA-256 (hex) of the chunks the store holds of a file of `size` bytes, read back in
/// order: what an upload or a transfer left counts only if this is the file's hash.
async fn held_hash(
    store: &dyn entente_store::Store,
    sha256: &str,
    size: u64,
) -> Result<String, NodeError> {
    let mut h = Sha256::new();
    for i in 0..attachment::chunk_count(size) {
        let c = store.blob_chunk(sha256, i).await?;
        h.update(c.ok_or_else(|| internal("a chunk went missing"))?);
    }
    Ok(hex::encode(h.finalize()))
}

mod abandoned;
pub use abandoned::UPLOAD_KEPT;
pub use signatures::AUTOMATIC_RESCAN_EVERY;
mod fetch;
pub(crate) use fetch::{AttachmentHooks, start};
mod objects;
mod owner;
pub use owner::FileOwner;
mod posts;
mod quarantine;
pub use quarantine::{HeldScan, HeldScanStop, QuarantinedFile, Rescan};
mod scan;
mod signatures;

/// When a periodic pass of this module last started (abandoned uploads, the scanner's
/// signatures), so a sync tick starts one at most once per period.
#[derive(Default)]
pub(super) struct LastRun(std::sync::Mutex<Option<std::time::Instant>>);

impl LastRun {
    /// Whether `every` has passed since the last pass (or none ran yet); if so, a pass counts
    /// as started now.
    pub(super) fn due(&self, every: std::time::Duration) -> bool {
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < every) {
            return false;
        }
        *last = Some(std::time::Instant::now());
        true
    }

    /// Whether a pass started less than `every` ago (for a pass that counts only once it has
    /// really started: check with this, then [`LastRun::mark`]).
    pub(super) fn ran_within(&self, every: std::time::Duration) -> bool {
        let last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        last.is_some_and(|t| t.elapsed() < every)
    }

    /// A pass started now.
    pub(super) fn mark(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
    }
}

/// A chunk of a file, to send: its bytes.
pub struct Chunk(pub Vec<u8>);

/// Media types a browser may be told a downloaded file has; anything else (HTML, SVG, XML,
/// scripts: what could run if a browser ever rendered it) is served as octet-stream.
const SERVED_AS_IS: [&str; 12] = [
    "application/pdf",
    "text/plain",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/msword",
    "application/vnd.ms-excel",
];

/// How a file is sent to a browser: its media type detected here from its own bytes (never
/// the origin's word), and a `Content-Disposition` that makes every browser save it rather
/// than show it, with the name in any script (RFC 6266 `filename*`) and an ASCII fallback.
pub struct Delivery {
    pub content_type: String,
    pub content_disposition: String,
    pub size: u64,
}

impl Delivery {
    /// The response headers that send the file to be saved, never shown (with `nosniff` and a
    /// sandboxing policy should a browser ever try).
    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("content-type", self.content_type.clone()),
            ("content-disposition", self.content_disposition.clone()),
            ("content-length", self.size.to_string()),
            ("x-content-type-options", "nosniff".into()),
            (
                "content-security-policy",
                "default-src 'none'; sandbox".into(),
            ),
        ]
    }

    /// The download headers as a header map, for the REST and web answers alike. An error when one
    /// cannot be a header value: the file must then not go out at all (fail closed).
    pub fn header_map(&self) -> Result<reqwest::header::HeaderMap, NodeError> {
        let mut m = reqwest::header::HeaderMap::new();
        for (k, v) in self.headers() {
            let v = reqwest::header::HeaderValue::from_str(&v)
                .map_err(|_| internal(format!("download header {k}")))?;
            m.insert(k, v);
        }
        Ok(m)
    }

    pub fn new(r: &AttachmentRef, head: &[u8]) -> Delivery {
        let detected = detect_media_type(head);
        let content_type = if SERVED_AS_IS.contains(&detected.as_str()) {
            detected
        } else {
            "application/octet-stream".into()
        };
        let ascii: String = r
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | ';' | '%') || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let utf8: String = r
            .name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        Delivery {
            content_type,
            content_disposition: format!(
                "attachment; filename=\"{ascii}\"; filename*=UTF-8''{utf8}"
            ),
            size: r.size,
        }
    }
}

impl Node {
    /// Begin an upload for `who` (an analyst or above: who may post items).
    pub async fn begin_upload(&self, who: &Principal) -> Result<Upload, NodeError> {
        who.require(entente_domain::Role::Analyst, "attach files")?;
        let dir = self.config().data_dir.join("uploads");
        tokio::fs::create_dir_all(&dir).await.map_err(internal)?;
        let path = dir.join(uuid::Uuid::new_v4().to_string());
        let file = tokio::fs::OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)
            .await
            .map_err(internal)?;
        Ok(Upload {
            file,
            path,
            hasher: Sha256::new(),
            size: 0,
            limit: self.config().attachment_max_bytes,
            head: Vec::new(),
            uploader: who.user_id(),
        })
    }

    /// Attach a file the caller uploaded to an item they may edit: a new revision of the item
    /// (same text) whose files are the earlier ones and this one, signed and sent to the
    /// item's audience like any revision.
    pub async fn attach_file(
        &self,
        who: &Principal,
        item_id: &str,
        file: NewAttachment,
    ) -> Result<entente_domain::ItemState, NodeError> {
        who.require(entente_domain::Role::Analyst, "attach files")?;
        let changing = self.ext::<FilesChanges>();
        let _one_at_a_time = changing.0.lock().await;
        let it = self.item(who, item_id).await?;
        policy::may_edit_item(self.partner(), &who.user_id(), who.role, &it)?;
        if it.retracted.is_some() {
            return Err(NodeError::Conflict("the item is retracted".into()));
        }
        let mut files = it.attachments.clone();
        let new_refs = self.attachment_refs(who, &[file]).await?;
        files.retain(|a| new_refs.iter().all(|n| n.sha256 != a.sha256));
        files.extend(new_refs.iter().cloned());
        attachment::check(&files)?;
        let r = entente_domain::payload::ItemRevise {
            item_id: item_id.to_owned(),
            title: it.title.clone(),
            body: it.body.clone(),
            topics: it.topics.clone(),
            author: who.user_id(),
            attachments: Some(files),
        };
        // Checked for the item before the revision is committed, as at creation (the indexer
        // reads the file's text when the commit reaches it).
        for a in &new_refs {
            self.store.verify_blob_for_item(&a.sha256, item_id).await?;
            if !self.store.blob_for_item(&a.sha256, item_id).await? {
                return Err(NodeError::Conflict(
                        "a file went from this node before it could be attached (dropped or held aside meanwhile): upload it again".into(),
                ));
            }
        }
        self.publish(&it.audience, &[entente_domain::Payload::ItemRevise(r)])
            .await?;
        let it = self
            .store
            .item(item_id)
            .await?
            .ok_or(NodeError::Internal("item not projected".into()))?;
        // The fold has the last word (a retraction by another process may have come first):
        // say so if it did not keep the file.
        if it.retracted.is_some() {
            return Err(NodeError::Conflict(
                "the item was retracted meanwhile".into(),
            ));
        }
        if new_refs
            .iter()
            .any(|n| it.attachments.iter().all(|a| a.sha256 != n.sha256))
        {
            return Err(NodeError::Conflict(
                "the file could not be attached to this item".into(),
            ));
        }
        Ok(it)
    }

    /// Each of an item's files with whether this node holds it whole, and, for one it does
    /// not, what the malware scanner found if it quarantined it (otherwise it is arriving).
    pub async fn files_here(
        &self,
        it: &entente_domain::ItemState,
    ) -> Result<Vec<(AttachmentRef, bool, Option<String>)>, NodeError> {
        self.files_held(&it.item_id, &it.attachments).await
    }

    /// A file of an item the caller may see, ready to send: how, and its bytes chunk by chunk
    /// (read from the store as the client takes them). `Conflict` while it is still arriving.
    pub async fn download(
        &self,
        who: &Principal,
        item_id: &str,
        sha256: &str,
    ) -> Result<
        (
            Delivery,
            impl futures_util::Stream<Item = Result<Vec<u8>, NodeError>> + Send + 'static,
        ),
        NodeError,
    > {
        let (r, here) = self.attachment(who, item_id, sha256).await?;
        self.deliver(r, here, FileOwner::Item(item_id.to_owned()))
            .await
    }

    /// A file of a post the caller may read, ready to send, as [`Node::download`].
    pub async fn download_post_file(
        &self,
        who: &Principal,
        thread_id: &str,
        post_id: &str,
        sha256: &str,
    ) -> Result<
        (
            Delivery,
            impl futures_util::Stream<Item = Result<Vec<u8>, NodeError>> + Send + 'static,
        ),
        NodeError,
    > {
        let (r, here) = self
            .post_attachment(who, thread_id, post_id, sha256)
            .await?;
        let o = FileOwner::Post {
            thread_id: thread_id.to_owned(),
            post_id: post_id.to_owned(),
        };
        self.deliver(r, here, o).await
    }

    /// The headers and the chunk stream of a file the caller was found to may read.
    async fn deliver(
        &self,
        r: AttachmentRef,
        here: bool,
        owner: FileOwner,
    ) -> Result<
        (
            Delivery,
            impl futures_util::Stream<Item = Result<Vec<u8>, NodeError>> + Send + 'static,
        ),
        NodeError,
    > {
        let sha256 = r.sha256.as_str();
        if !here {
            let key = owner::key_of(&owner)?;
            if let Some(finding) = self.store.blob_quarantine(sha256, Some(&key)).await? {
                return Err(NodeError::Conflict(format!(
                    "the file was withheld: the malware scanner found {finding}"
                )));
            }
            return Err(NodeError::Conflict(
                "the file has not arrived from the originating partner yet".into(),
            ));
        }
        let head = self.store.blob_chunk(sha256, 0).await?.unwrap_or_default();
        let d = Delivery::new(&r, &head[..head.len().min(8192)]);
        let store = self.store.clone();
        let sha = r.sha256.clone();
        let n = r.chunks();
        let stream = futures_util::stream::unfold(0u32, move |i| {
            let store = store.clone();
            let sha = sha.clone();
            async move {
                if i >= n {
                    return None;
                }
                let c = match store.blob_chunk(&sha, i).await {
                    Ok(Some(c)) => Ok(c),
                    Ok(None) => Err(internal("a chunk went missing")),
                    Err(e) => Err(e.into()),
                };
                Some((c, i + 1))
            }
        });
        Ok((d, stream))
    }

    /// Chunk `index` of a file held whole (for a caller already checked).
    async fn attachment_chunk(&self, sha256: &str, index: u32) -> Result<Chunk, NodeError> {
        self.store
            .blob_chunk(sha256, index)
            .await?
            .map(Chunk)
            .ok_or(NodeError::NotFound("attachment"))
    }

    /// A chunk for a peer: only of a file an item or post in the caller's audience references
    /// (`owner_key` as [`FileOwner::key`] spells it), and only once this node holds it whole
    /// *checked for that owner* (never because another item brought the same bytes). Anything
    /// else reads as not found.
    pub async fn fed_attachment_chunk(
        &self,
        caller: &PartnerCode,
        owner_key: &str,
        sha256: &str,
        index: u32,
    ) -> Result<Chunk, NodeError> {
        let nf = || NodeError::NotFound("attachment");
        let owner = FileOwner::from_key(owner_key).ok_or_else(nf)?;
        if owner.key().as_deref() != Some(owner_key) {
            return Err(nf());
        }
        let held = self.held_owner(&owner).await?.ok_or_else(nf)?;
        let Some(r) = held.file(sha256) else {
            return Err(nf());
        };
        if held.retracted
            || !policy::may_forward(self.partner(), caller, &held.audience)
            || index >= r.chunks()
            || !self.store.blob_for_item(sha256, owner_key).await?
        {
            return Err(NodeError::NotFound("attachment"));
        }
        self.attachment_chunk(sha256, index).await
    }
}
