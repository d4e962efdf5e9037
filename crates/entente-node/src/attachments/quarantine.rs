//! The operator's side of the malware scanner: the files held aside as they arrived, scanned
//! again on request (released when the scanner now finds nothing), or released by an admin who
//! judges the finding a false positive (or wants the sample: threat intelligence carries
//! samples), with a reason in the audit trail; and a scan of every file held whole, for files
//! kept before the scanner was set up or before its signatures changed (one flagged is held
//! aside as if it had been flagged on arrival). A released file becomes what any fetched file
//! is: whole, checked for each item it was held for, served and searched through those items
//! only. Not the scan itself (`scan`) and not who may see an item (`policy`, through the reads).

use super::*;
use owner::Held;

/// A quarantined file as its node's admin sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuarantinedFile {
    pub sha256: String,
    /// The file's name and size in the object that references it.
    pub name: String,
    pub size: u64,
    /// `item`, `post`, `meeting` or `paper`, and the page that shows it.
    pub kind: String,
    pub page: String,
    /// What the scanner found, and when the file was held aside.
    pub finding: String,
    pub at: String,
}

/// What a new scan of a quarantined file decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rescan {
    /// The scanner found nothing this time: the file is released.
    pub released: bool,
    /// What it found, when it still finds something (the file stays held).
    pub finding: Option<String>,
}

/// The scan of every held file an admin started last ([`Node::scan_held_files`]), as it
/// stands (this process's; none since it started: all zero).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldScan {
    pub running: bool,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub scanned: u64,
    /// Files the scanner flagged: now held aside.
    pub flagged: u64,
    /// Files the scanner could not scan (left as they were).
    pub failed: u64,
    /// Why the scan stopped before the end, if it did, in English (the API's reader).
    pub error: Option<String>,
    /// The same as a stable code, which the admin page words in the reader's language.
    pub stopped_by: Option<HeldScanStop>,
}

/// What kind of failure stopped a scan of every held file: only the kind, since a store error
/// can quote a stored value (the node's log has the error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldScanStop {
    /// The node's database failed.
    Store,
    /// Anything else (a panic included).
    Error,
}

impl HeldScanStop {
    /// The status's English wording: the API and the audit trail carry it as it stands.
    pub fn text(self) -> &'static str {
        match self {
            HeldScanStop::Store => "the node's database failed; the node's log has the error",
            HeldScanStop::Error => "an error stopped it; the node's log has the error",
        }
    }
}

#[derive(Default)]
struct HeldScanState(std::sync::Mutex<HeldScan>);

impl HeldScanState {
    fn update(&self, f: impl FnOnce(&mut HeldScan)) -> HeldScan {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s);
        s.clone()
    }
}

/// The longest reason an admin may give for a release: what one audit field holds after the
/// file's short hash (`0123456789ab: `) that names it there.
const REASON_MAX_BYTES: usize = 242;

/// A quarantined file as an admin may act on it: the objects they may see it held for.
struct HeldAside {
    sha256: String,
    size: u64,
    finding: String,
    owners: Vec<(String, FileOwner)>,
}

impl Node {
    /// The files the malware scanner held aside, the newest 1,000 rows (a file once per object it
    /// was held for): only those whose object the admin may see (a file of an item named for
    /// other users is not listed to this one). Looking does not count as reading the objects.
    pub async fn quarantined_files(
        &self,
        who: &Principal,
    ) -> Result<Vec<QuarantinedFile>, NodeError> {
        who.require(entente_domain::Role::Admin, "manage quarantined files")?;
        let mut out = vec![];
        for q in self.store.quarantined_blobs(None, 1000).await? {
            // One object that cannot be read now does not take the list away.
            let seen = match self.visible_owner(who, &q.item_id).await {
                Ok(seen) => seen,
                Err(e) => {
                    tracing::warn!(sha256 = %q.sha256, object = %q.item_id, error = %e, "quarantined file not listed");
                    continue;
                }
            };
            let Some((owner, held)) = seen else {
                continue;
            };
            let Some(r) = held.file(&q.sha256) else {
                continue;
            };
            let (kind, page) = match &owner {
                FileOwner::Item(id) => ("item", format!("/ui/items/{id}")),
                FileOwner::Post { thread_id, .. } => ("post", format!("/ui/threads/{thread_id}")),
                FileOwner::Meeting(id) => ("meeting", format!("/ui/meetings/{id}")),
                FileOwner::Paper(id) => ("paper", format!("/ui/papers/{id}")),
            };
            out.push(QuarantinedFile {
                sha256: q.sha256,
                name: r.name.clone(),
                size: r.size,
                kind: kind.into(),
                page,
                finding: q.finding,
                at: q.at,
            });
        }
        Ok(out)
    }

    /// Scan a quarantined file again with the node's scanner (a signature database updated
    /// since, a scanner that was wrong): released if it finds nothing, held otherwise.
    pub async fn rescan_quarantined(
        self: &Arc<Self>,
        who: &Principal,
        sha256: &str,
    ) -> Result<Rescan, NodeError> {
        let held = self.quarantined_for(who, sha256).await?;
        let (sha256, size) = (held.sha256.as_str(), held.size);
        let Some(to) = self.config().malware_scan.clone() else {
            return Err(NodeError::Conflict(
                "this node has no malware scanner to scan with; release the file instead".into(),
            ));
        };
        self.held_whole(sha256, size).await?;
        let verdict = scan::blob(
            &self.ext::<scan::ScanSlots>(),
            &to,
            self.store.as_ref(),
            sha256,
            size,
        )
        .await?;
        match verdict {
            scan::Verdict::Found(finding) => {
                self.audit(
                    &who.user_id(),
                    "quarantine_rescan",
                    &format!("{sha256}: still found {finding}"),
                )
                .await;
                Ok(Rescan {
                    released: false,
                    finding: Some(finding),
                })
            }
            scan::Verdict::Clean => {
                self.audit(
                    &who.user_id(),
                    "quarantine_rescan",
                    &format!(
                        "{sha256}: nothing found, released for {} objects",
                        held.owners.len()
                    ),
                )
                .await;
                self.release_held(&held, false).await?;
                Ok(Rescan {
                    released: true,
                    finding: None,
                })
            }
        }
    }

    /// Release a quarantined file whatever the scanner says, for the reason the admin gives
    /// (kept in the audit trail with who released it).
    pub async fn release_quarantined(
        self: &Arc<Self>,
        who: &Principal,
        sha256: &str,
        reason: &str,
    ) -> Result<(), NodeError> {
        let held = self.quarantined_for(who, sha256).await?;
        let reason = reason.trim();
        // The reason is kept whole in an audit record of its own, whose fields hold 256 bytes.
        if reason.is_empty()
            || reason.len() > REASON_MAX_BYTES
            || reason.chars().any(char::is_control)
        {
            return Err(DomainError::invalid(
                "reason",
                format!(
                    "say why the file is safe to release, on one line of at most {REASON_MAX_BYTES} bytes (about 240 letters or 80 Japanese characters)"
                ),
            )
            .into());
        }
        self.held_whole(&held.sha256, held.size).await?;
        // Recorded before the release, so a release is never without its record.
        let actor = who.user_id();
        self.audit(
            &actor,
            "quarantine_release",
            &format!(
                "{} ({}), for {} objects",
                held.sha256,
                held.finding,
                held.owners.len()
            ),
        )
        .await;
        self.audit(
            &actor,
            "quarantine_release_reason",
            &format!("{}: {reason}", &held.sha256[..12]),
        )
        .await;
        self.release_held(&held, true).await?;
        Ok(())
    }

    /// A quarantined file (its hash in any case) with the objects the admin may see it held
    /// for; none: not found, whatever the reason.
    async fn quarantined_for(&self, who: &Principal, sha256: &str) -> Result<HeldAside, NodeError> {
        who.require(entente_domain::Role::Admin, "manage quarantined files")?;
        let sha256 = sha256.to_ascii_lowercase();
        let mut held: Option<HeldAside> = None;
        if attachment::is_sha256(&sha256) {
            for q in self
                .store
                .quarantined_blobs(Some(&sha256), u32::MAX)
                .await?
            {
                let Some((owner, h)) = self.visible_owner(who, &q.item_id).await? else {
                    continue;
                };
                let Some(r) = h.file(&sha256) else { continue };
                let aside = held.get_or_insert_with(|| HeldAside {
                    sha256: sha256.clone(),
                    size: r.size,
                    finding: q.finding.clone(),
                    owners: vec![],
                });
                // Every holder signed the same hash, so the same size; one that says otherwise
                // is left held.
                if r.size == aside.size {
                    aside.owners.push((q.item_id, owner));
                }
            }
        }
        held.ok_or(NodeError::NotFound("quarantined file"))
    }

    /// The owner a stored key names, if the caller may see it through the ordinary reads.
    async fn visible_owner(
        &self,
        who: &Principal,
        key: &str,
    ) -> Result<Option<(FileOwner, Held)>, NodeError> {
        let Some(owner) = FileOwner::from_key(key) else {
            return Ok(None);
        };
        let seen = match &owner {
            // The store's item and the policy's check: an admin looking at the quarantine has
            // not read the item (`Node::item` would audit a read of an AMBER one).
            FileOwner::Item(id) => match self.store.item(id).await? {
                Some(it) if policy::user_may_see_item(&who.viewer(), &it) => Ok(()),
                _ => Err(NodeError::NotFound("item")),
            },
            FileOwner::Post { thread_id, .. } => self.thread(who, thread_id).await.map(|_| ()),
            FileOwner::Meeting(id) => self.meeting(who, id).await.map(|_| ()),
            FileOwner::Paper(id) => self.paper(who, id).await.map(|_| ()),
        };
        match seen {
            Ok(()) => {}
            Err(NodeError::NotFound(_) | NodeError::Forbidden(_) | NodeError::Policy(_)) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        Ok(self.held_owner(&owner).await?.map(|h| (owner, h)))
    }

    /// The held-aside chunks must still hash to the file: a release makes them the file.
    async fn held_whole(&self, sha256: &str, size: u64) -> Result<(), NodeError> {
        let whole = self.store.blob_chunk_indexes(sha256).await?.len() as u64
            == u64::from(attachment::chunk_count(size));
        if !whole || held_hash(self.store.as_ref(), sha256, size).await? != sha256 {
            return Err(NodeError::Conflict(
                "the held-aside bytes of this file are not whole; nothing was released".into(),
            ));
        }
        Ok(())
    }

    /// Make the held-aside file whole and checked for the admin's objects it was held for (each
    /// fetched and hashed it to its signed reference before the scanner held it), in one store
    /// transaction; read its text once for search, index those objects again, and let the
    /// fetcher bring it for other objects.
    /// `overridden`: released whatever the scanner says (a scan of every held file leaves it be
    /// from then on).
    async fn release_held(
        self: &Arc<Self>,
        held: &HeldAside,
        overridden: bool,
    ) -> Result<(), NodeError> {
        let info = BlobInfo {
            sha256: held.sha256.clone(),
            size: held.size,
            stored_at: self.now(),
        };
        let keys: Vec<String> = held.owners.iter().map(|(k, _)| k.clone()).collect();
        let now = self.now();
        let released = self
            .store
            .release_blob_quarantine(&info, &keys, overridden.then_some(now.as_str()))
            .await?;
        let owners: Vec<FileOwner> = held
            .owners
            .iter()
            .filter(|(k, _)| released.contains(k))
            .map(|(_, o)| o.clone())
            .collect();
        tracing::info!(sha256 = %held.sha256, objects = owners.len(), "quarantined file released");
        self.spawn_text(held.sha256.clone(), held.size, owners);
        self.ext::<fetch::Fetcher>().wake.notify_one();
        Ok(())
    }

    /// The scan of every held file, as it stands.
    pub fn held_files_scan(&self, who: &Principal) -> Result<HeldScan, NodeError> {
        who.require(entente_domain::Role::Admin, "manage quarantined files")?;
        Ok(self.ext::<HeldScanState>().update(|_| {}))
    }

    /// Scan every file this node holds whole, in a task of its own (one at a time beside the
    /// scans of arriving files): a file the scanner flags is held aside for every object it was
    /// checked for, as if flagged on arrival, and those objects are indexed again without its
    /// text. One such scan runs at a time; asked again meanwhile, this answers how far it got.
    pub async fn scan_held_files(self: &Arc<Self>, who: &Principal) -> Result<HeldScan, NodeError> {
        who.require(entente_domain::Role::Admin, "manage quarantined files")?;
        Ok(self.start_held_scan(&who.user_id()).await?.0)
    }

    /// Start the scan of every held file for `actor` (a user, or the node itself when its
    /// scanner's signatures changed), unless one runs: its status, and whether this started it.
    pub(super) async fn start_held_scan(
        self: &Arc<Self>,
        actor: &str,
    ) -> Result<(HeldScan, bool), NodeError> {
        let Some(to) = self.config().malware_scan.clone() else {
            return Err(NodeError::Conflict(
                "this node has no malware scanner (`malware_scan` in its configuration)".into(),
            ));
        };
        let state = self.ext::<HeldScanState>();
        let mut started = false;
        let now = self.now();
        let status = state.update(|s| {
            if !s.running {
                *s = HeldScan {
                    running: true,
                    started_at: Some(now),
                    ..HeldScan::default()
                };
                started = true;
            }
        });
        if !started {
            return Ok((status, false));
        }
        let actor = actor.to_owned();
        self.audit(&actor, "scan_held_files", "started").await;
        // The signatures it runs under, recorded once it completes (so a later update is seen
        // as one); a scanner that cannot say leaves the record as it was.
        let signatures = scan::signatures(&to).await.ok();
        let weak = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let mut after: Option<String> = None;
            loop {
                let Some(node) = weak.upgrade() else {
                    return Ok(());
                };
                match node.scan_held_page(&to, after.as_deref()).await {
                    Ok(Some(last)) => after = Some(last),
                    Ok(None) => return Ok(()),
                    Err(e) => {
                        // The full error goes to the node's log only: a store error can quote a
                        // stored value (an item the admin may not see), and the status is shown
                        // on the admin page, in the API and in the audit trail.
                        tracing::warn!(error = %e, "scan of held files stopped");
                        return Err(match e {
                            NodeError::Store(_) => HeldScanStop::Store,
                            _ => HeldScanStop::Error,
                        });
                    }
                }
            }
        });
        // The outcome is recorded whatever became of the task (a panic included), so the scan
        // never reads as running for ever.
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let outcome = match task.await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "scan of held files failed");
                    Err(HeldScanStop::Error)
                }
            };
            let Some(node) = weak.upgrade() else { return };
            // Recorded before the scan reads as finished, so a check that sees it finished
            // sees its signatures too; only when every file was scanned (a file the scanner
            // could not scan has not met these signatures: the next automatic scan tries).
            let failed = node.ext::<HeldScanState>().update(|_| {}).failed;
            if let (Ok(()), Some(sig), 0) = (&outcome, &signatures, failed) {
                let dir = node.config().data_dir.clone();
                if let Err(e) = super::signatures::record_signatures(&dir, sig).await {
                    tracing::warn!(error = %e, "the scanner's signatures were not recorded");
                }
            }
            let now = node.now();
            let s = node.ext::<HeldScanState>().update(|s| {
                s.running = false;
                s.finished_at = Some(now);
                s.stopped_by = outcome.err();
                s.error = s.stopped_by.map(|c| c.text().to_owned());
            });
            let how = match &s.error {
                None => "done".to_owned(),
                Some(e) => format!("stopped ({e})"),
            };
            node.audit(
                &actor,
                "scan_held_files",
                &format!(
                    "{how}: {} scanned, {} flagged and held aside, {} could not be scanned",
                    s.scanned, s.flagged, s.failed
                ),
            )
            .await;
        });
        Ok((status, true))
    }

    /// Scan one page of held files after `after`; the last one's hash, or None at the end.
    async fn scan_held_page(
        &self,
        to: &crate::config::Clamd,
        after: Option<&str>,
    ) -> Result<Option<String>, NodeError> {
        let page = self.store.held_blobs(after, 100).await?;
        let state = self.ext::<HeldScanState>();
        let slots = self.ext::<scan::ScanSlots>();
        for b in &page {
            let verdict = scan::blob(&slots, to, self.store.as_ref(), &b.sha256, b.size).await;
            match verdict {
                Ok(scan::Verdict::Clean) => {
                    state.update(|s| s.scanned += 1);
                }
                Ok(scan::Verdict::Found(finding)) => {
                    let owners = self
                        .store
                        .quarantine_held_blob(&b.sha256, &finding, &self.now())
                        .await?;
                    tracing::warn!(sha256 = %b.sha256, finding, objects = owners.len(), "held file quarantined: the malware scanner found something");
                    self.metrics
                        .attachments_quarantined
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    for o in owners.iter().filter_map(|k| FileOwner::from_key(k)) {
                        self.reindex_owner(&o).await?;
                    }
                    state.update(|s| {
                        s.scanned += 1;
                        s.flagged += 1;
                    });
                }
                Err(e) => {
                    tracing::warn!(sha256 = %b.sha256, error = %e, "held file not scanned");
                    state.update(|s| s.failed += 1);
                }
            }
        }
        Ok(page.last().map(|b| b.sha256.clone()))
    }
}
