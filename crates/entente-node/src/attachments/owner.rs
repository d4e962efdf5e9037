//! What a file belongs to — an item or a discussion post — and what the node holds of that
//! owner: its origin, audience and files. The fetcher, the peer-facing chunk route and the
//! downloads ask the owner, never the file, who may have it. Not the reader's permission (the
//! item and thread reads check that).

use super::*;

pub use entente_domain::attachment::FileOwner;
use entente_domain::fold::Coord;

/// The owner's key, or not found for an item whose id reads as a post's key.
pub(crate) fn key_of(o: &FileOwner) -> Result<String, NodeError> {
    o.key().ok_or(NodeError::NotFound("attachment"))
}

/// What this node holds of a file's owner.
pub(crate) struct Held {
    /// The partner whose node signed the owner (a post's author's partner).
    pub origin: PartnerCode,
    pub audience: entente_domain::Audience,
    pub files: Vec<AttachmentRef>,
    pub retracted: bool,
}

impl Held {
    pub fn file(&self, sha256: &str) -> Option<&AttachmentRef> {
        self.files.iter().find(|a| a.sha256 == sha256)
    }
}

impl Node {
    /// The owner as this node holds it, with no reader's check (None: not held, or a thread
    /// this node's partner is not in the audience of).
    pub(crate) async fn held_owner(&self, o: &FileOwner) -> Result<Option<Held>, NodeError> {
        Ok(match o {
            FileOwner::Item(id) => self.store.item(id).await?.map(|it| Held {
                origin: it.origin,
                audience: it.audience,
                files: it.attachments,
                retracted: it.retracted.is_some(),
            }),
            FileOwner::Post { thread_id, post_id } => {
                let t = match self.load_coord("thread", thread_id).await? {
                    Some(entente_domain::fold::Coord::Thread(t))
                        if t.audience.contains(self.partner()) =>
                    {
                        t
                    }
                    _ => return Ok(None),
                };
                t.post(post_id).map(|p| Held {
                    origin: p.partner.clone(),
                    audience: t.audience.clone(),
                    files: p.attachments.clone(),
                    retracted: p.retracted.is_some(),
                })
            }
            FileOwner::Meeting(id) => match self.load_coord("meeting", id).await? {
                Some(Coord::Meeting(m)) if m.audience.contains(self.partner()) => Some(Held {
                    origin: m.convener,
                    audience: m.audience,
                    files: m.files,
                    retracted: false,
                }),
                _ => None,
            },
            FileOwner::Paper(id) => match self.load_coord("paper", id).await? {
                Some(Coord::Paper(p)) if p.audience.contains(self.partner()) => Some(Held {
                    origin: p.penholder,
                    audience: p.audience,
                    files: p.files,
                    retracted: false,
                }),
                _ => None,
            },
        })
    }

    /// Record that the caller's uploaded files were checked for a post about to be signed.
    pub(crate) async fn verify_files_for(
        &self,
        o: &FileOwner,
        files: &[AttachmentRef],
    ) -> Result<(), NodeError> {
        let key = key_of(o)?;
        for a in files {
            self.store.verify_blob_for_item(&a.sha256, &key).await?;
            // Recorded only while the file is whole: one dropped or held aside since the upload
            // is not signed as this node's.
            if !self.store.blob_for_item(&a.sha256, &key).await? {
                return Err(NodeError::Conflict(
                    "a file went from this node before it could be attached (dropped or held aside meanwhile): upload it again".into(),
                ));
            }
        }
        Ok(())
    }

    /// A file of a post the caller may read, with whether its bytes are here (checked for
    /// this post) yet.
    pub async fn post_attachment(
        &self,
        who: &Principal,
        thread_id: &str,
        post_id: &str,
        sha256: &str,
    ) -> Result<(AttachmentRef, bool), NodeError> {
        let t = self.thread(who, thread_id).await?.thread;
        let r = t
            .post(post_id)
            .filter(|p| p.retracted.is_none())
            .and_then(|p| p.attachments.iter().find(|a| a.sha256 == sha256))
            .cloned()
            .ok_or(NodeError::NotFound("attachment"))?;
        let o = FileOwner::Post {
            thread_id: thread_id.to_owned(),
            post_id: post_id.to_owned(),
        };
        let here = self.store.blob_for_item(sha256, &key_of(&o)?).await?;
        Ok((r, here))
    }

    /// Each of a post's files with whether this node holds it whole, and what the malware
    /// scanner found in one it quarantined (otherwise it is arriving).
    pub async fn post_files_here(
        &self,
        thread_id: &str,
        p: &entente_domain::coord::PostState,
    ) -> Result<Vec<(AttachmentRef, bool, Option<String>)>, NodeError> {
        let key = key_of(&FileOwner::Post {
            thread_id: thread_id.to_owned(),
            post_id: p.post_id.clone(),
        })?;
        self.files_held(&key, &p.attachments).await
    }

    /// Each of an owner's files (stored under `key`) with whether this node holds it whole,
    /// checked for that owner, and what the malware scanner found in one it withheld (neither:
    /// it is arriving). One rule for items', posts', meetings' and papers' pages.
    pub(crate) async fn files_held(
        &self,
        key: &str,
        files: &[AttachmentRef],
    ) -> Result<Vec<(AttachmentRef, bool, Option<String>)>, NodeError> {
        let mut out = Vec::with_capacity(files.len());
        for a in files {
            let here = self.store.blob_for_item(&a.sha256, key).await?;
            let withheld = match here {
                true => None,
                false => self.store.blob_quarantine(&a.sha256, Some(key)).await?,
            };
            out.push((a.clone(), here, withheld));
        }
        Ok(out)
    }
}
