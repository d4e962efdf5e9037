//! The text of files that goes into search documents: an item's, a post's (with its thread), a
//! meeting's and a paper's — only files checked for that owner, bounded per document. Which
//! document takes the text is `docs`'s concern.

use super::docs::FileTexts;
use crate::Node;
use crate::attachments::FileOwner;
use entente_domain::attachment::AttachmentRef;
use entente_store::Projection;

impl Node {
    /// The kept text of the files of the items, threads, meetings and papers among
    /// `projections` (a failing read leaves an owner's files out: search is derived, the next
    /// rebuild repairs it).
    pub(crate) async fn file_texts<'a>(
        &self,
        projections: impl Iterator<Item = &'a Projection>,
    ) -> FileTexts {
        let mut items = Vec::new();
        let mut out = FileTexts::new();
        for p in projections {
            match p {
                Projection::Item(it) => items.push(it),
                // Only an object with files is parsed here (docs_for parses it again).
                Projection::Object { kind, state, .. }
                    if matches!(*kind, "thread" | "meeting" | "paper")
                        && (state.contains("\"attachments\"") || state.contains("\"files\"")) =>
                {
                    out.extend(self.object_file_texts(kind, state).await);
                }
                _ => {}
            }
        }
        out.extend(self.items_file_texts(items.into_iter()).await);
        out
    }

    /// The file texts of a stored thread, meeting or paper (`state` as stored); none for
    /// other kinds.
    pub(crate) async fn object_file_texts(&self, kind: &str, state: &str) -> FileTexts {
        match kind {
            "thread" => match serde_json::from_str(state) {
                Ok(t) => self.thread_file_texts(&t).await,
                Err(_) => FileTexts::new(),
            },
            "meeting" => match serde_json::from_str(state) {
                Ok(m) => {
                    let m: entente_domain::coord::MeetingState = m;
                    let owner = FileOwner::Meeting(m.plan.meeting_id.clone());
                    self.owned_file_texts(owner, &m.files).await
                }
                Err(_) => FileTexts::new(),
            },
            "paper" => match serde_json::from_str(state) {
                Ok(p) => {
                    let p: entente_domain::coord::PaperState = p;
                    let owner = FileOwner::Paper(p.paper_id.clone());
                    self.owned_file_texts(owner, &p.files).await
                }
                Err(_) => FileTexts::new(),
            },
            _ => FileTexts::new(),
        }
    }

    /// The kept text of the files of a thread's posts, keyed by each post's file key: only
    /// files checked for that post.
    pub(crate) async fn thread_file_texts(
        &self,
        t: &entente_domain::coord::ThreadState,
    ) -> FileTexts {
        let mut out = FileTexts::new();
        // A thread's files add at most as much text as its posts may hold: what one thread
        // costs the index stays bounded whatever its partners attach.
        let mut budget = entente_domain::coord::MAX_THREAD_BYTES;
        for p in t.posts.iter().filter(|p| p.retracted.is_none()) {
            let owner = FileOwner::Post {
                thread_id: t.thread_id.clone(),
                post_id: p.post_id.clone(),
            };
            self.owner_text(owner, &p.attachments, &mut budget, &mut out)
                .await;
        }
        out
    }

    /// The kept text of a meeting's or a paper's files, under its file key.
    pub(crate) async fn owned_file_texts(
        &self,
        owner: FileOwner,
        files: &[AttachmentRef],
    ) -> FileTexts {
        let mut out = FileTexts::new();
        let mut budget = entente_domain::coord::MAX_THREAD_BYTES;
        self.owner_text(owner, files, &mut budget, &mut out).await;
        out
    }

    /// Add to `out`, under the owner's key, the text of those of `files` checked for that
    /// owner, at most `budget` bytes of it (spent).
    async fn owner_text(
        &self,
        owner: FileOwner,
        files: &[AttachmentRef],
        budget: &mut usize,
        out: &mut FileTexts,
    ) {
        let Some(key) = owner.key() else { return };
        let mut texts = Vec::new();
        for a in files {
            if *budget > 0
                && matches!(self.store.blob_for_item(&a.sha256, &key).await, Ok(true))
                && let Ok(Some(mut text)) = self.store.blob_text(&a.sha256).await
            {
                if text.len() > *budget {
                    let mut cut = *budget;
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    text.truncate(cut);
                }
                *budget -= text.len();
                texts.push(text);
            }
        }
        if !texts.is_empty() {
            out.insert(key, texts.join("\n"));
        }
    }

    /// [`Self::file_texts`] of items.
    pub(crate) async fn items_file_texts<'a>(
        &self,
        items: impl Iterator<Item = &'a entente_domain::ItemState>,
    ) -> FileTexts {
        let mut out = FileTexts::new();
        for it in items.filter(|it| !it.attachments.is_empty()) {
            let mut texts = Vec::new();
            for a in &it.attachments {
                // Only a file checked for this item: another item naming the same hash gets
                // none of its text.
                if !matches!(
                    self.store.blob_for_item(&a.sha256, &it.item_id).await,
                    Ok(true)
                ) {
                    continue;
                }
                if let Ok(Some(t)) = self.store.blob_text(&a.sha256).await {
                    texts.push(t);
                }
            }
            if !texts.is_empty() {
                out.insert(it.item_id.clone(), texts.join("\n"));
            }
        }
        out
    }
}
