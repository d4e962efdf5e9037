//! The operator's side of the malware scanner: the files held aside as they arrived, scanned
//! again on request (released when the scanner now finds nothing), or released by an admin who
//! judges the finding a false positive (or wants the sample: threat intelligence carries
//! samples), with a reason in the audit trail. A released file becomes what any fetched file
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

/// The longest reason an admin may give for a release (it goes into the audit trail).
const REASON_MAX: usize = 500;

impl Node {
    /// The files the malware scanner held aside, newest first: only those whose object the
    /// admin may see (a file of an item named for other users is not listed to this one).
    pub async fn quarantined_files(
        &self,
        who: &Principal,
    ) -> Result<Vec<QuarantinedFile>, NodeError> {
        who.require(entente_domain::Role::Admin, "manage quarantined files")?;
        let mut out = vec![];
        for q in self.store.quarantined_blobs(1000).await? {
            let Some((owner, held)) = self.visible_owner(who, &q.item_id).await? else {
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
        let (sha256, size, _) = &self.quarantined_for(who, sha256).await?;
        let (sha256, size) = (sha256.as_str(), *size);
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
                let n = self.release_held(sha256, size).await?;
                self.audit(
                    &who.user_id(),
                    "quarantine_rescan",
                    &format!("{sha256}: nothing found, released for {n} objects"),
                )
                .await;
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
        let (sha256, size, finding) = &self.quarantined_for(who, sha256).await?;
        let (sha256, size) = (sha256.as_str(), *size);
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > REASON_MAX {
            return Err(DomainError::invalid(
                "reason",
                format!("say why the file is safe to release (1 to {REASON_MAX} characters)"),
            )
            .into());
        }
        self.held_whole(sha256, size).await?;
        let n = self.release_held(sha256, size).await?;
        self.audit(
            &who.user_id(),
            "quarantine_release",
            &format!("{sha256} ({finding}), released for {n} objects: {reason}"),
        )
        .await;
        Ok(())
    }

    /// The hash (in lower case, as stored), size and finding of a quarantined file held for an
    /// object the admin may see; anything else reads as not found.
    async fn quarantined_for(
        &self,
        who: &Principal,
        sha256: &str,
    ) -> Result<(String, u64, String), NodeError> {
        who.require(entente_domain::Role::Admin, "manage quarantined files")?;
        let sha256 = sha256.to_ascii_lowercase();
        for q in self.store.quarantined_blobs(1000).await? {
            if q.sha256 != sha256 {
                continue;
            }
            if let Some((_, held)) = self.visible_owner(who, &q.item_id).await?
                && let Some(r) = held.file(&sha256)
            {
                return Ok((sha256, r.size, q.finding));
            }
        }
        Err(NodeError::NotFound("quarantined file"))
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
            FileOwner::Item(id) => self.item(who, id).await.map(|_| ()),
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

    /// Make the held-aside file whole and checked for every object it was held for (each one's
    /// bytes were fetched for it and hashed to its signed reference before the scanner held
    /// them), read its text for search, and let the fetcher bring it for other objects.
    /// Returns how many objects it was held for.
    async fn release_held(self: &Arc<Self>, sha256: &str, size: u64) -> Result<usize, NodeError> {
        let info = BlobInfo {
            sha256: sha256.to_owned(),
            size,
            stored_at: self.now(),
        };
        self.store.complete_blob(&info, None).await?;
        let owners = self.store.release_blob_quarantine(sha256).await?;
        for key in &owners {
            self.store.verify_blob_for_item(sha256, key).await?;
            if let Some(o) = FileOwner::from_key(key) {
                self.spawn_text(sha256.to_owned(), size, o);
            }
        }
        tracing::info!(sha256, objects = owners.len(), "quarantined file released");
        self.ext::<fetch::Fetcher>().wake.notify_one();
        Ok(owners.len())
    }
}
