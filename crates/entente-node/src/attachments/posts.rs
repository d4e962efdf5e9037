//! Files on discussion posts: attaching one the caller uploaded to a post they may change (a
//! signed edit with the same text, released to the thread's audience). Reading and fetching
//! go through [`FileOwner`] like an item's files.

use super::*;
use entente_domain::coord::{MAX_EDITS, MAX_THREAD_FILES, ThreadEdit, ThreadState};

impl Node {
    /// Attach a file the caller uploaded to one of their posts (or, for an officer, one of
    /// their partner's): the post's files become the earlier ones and this one.
    pub async fn attach_post_file(
        &self,
        who: &Principal,
        thread_id: &str,
        post_id: &str,
        file: NewAttachment,
    ) -> Result<ThreadState, NodeError> {
        who.require(entente_domain::Role::Analyst, "attach files")?;
        let changing = self.ext::<FilesChanges>();
        let _one_at_a_time = changing.0.lock().await;
        let t = self.own_post(who, thread_id, post_id).await?;
        let p = t.post(post_id).ok_or(NodeError::NotFound("post"))?;
        let new_refs = self.attachment_refs(who, &[file]).await?;
        let mut files = p.attachments.clone();
        files.retain(|a| new_refs.iter().all(|n| n.sha256 != a.sha256));
        files.extend(new_refs.iter().cloned());
        attachment::check(&files)?;
        if !t.files_fit(&p.partner, p.attachments.len(), files.len()) {
            return Err(NodeError::Conflict(format!(
                "your partner's posts in this discussion hold {MAX_THREAD_FILES} files, the most they may: start a new one"
            )));
        }
        if p.file_sets >= MAX_EDITS as u32 {
            return Err(NodeError::Conflict(
                "files were attached to this post too often: reply instead".into(),
            ));
        }
        // The files only (an empty text): an edit of the text signed meanwhile stands.
        let e = ThreadEdit {
            thread_id: thread_id.to_owned(),
            post_id: post_id.to_owned(),
            body: String::new(),
            mentions: vec![],
            attachments: Some(files),
            author: who.user_id(),
        };
        let sha = new_refs.first().map(|a| a.sha256.clone());
        let owner = FileOwner::Post {
            thread_id: thread_id.to_owned(),
            post_id: post_id.to_owned(),
        };
        self.verify_files_for(&owner, &new_refs).await?;
        self.publish(&t.audience, &[entente_domain::Payload::ThreadEdit(e)])
            .await?;
        let t = self.thread(who, thread_id).await?.thread;
        // The fold has the last word (a retraction may have come first): say so if it refused.
        let kept = t.post(post_id).is_some_and(|p| {
            p.attachments
                .iter()
                .any(|a| Some(&a.sha256) == sha.as_ref())
        });
        if !kept {
            return Err(NodeError::Conflict(
                "the file could not be attached to this post".into(),
            ));
        }
        Ok(t)
    }
}
