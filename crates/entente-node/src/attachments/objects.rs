//! Files of meetings and concept papers: the convener (of a meeting) or the penholder (of a
//! paper) attaches a file it uploaded — a signed `files.set` released to the object's
//! audience —; any user of a partner in that audience lists and downloads them. Fetching and
//! serving to peers go through [`FileOwner`] like an item's files.

use super::*;
use entente_domain::attachment::FileOwner;
use entente_domain::coord::FilesSet;

/// What the caller names: a meeting or a paper, by kind and id.
fn owner(kind: &str, id: &str) -> Result<FileOwner, NodeError> {
    match kind {
        "meeting" => Ok(FileOwner::Meeting(id.to_owned())),
        "paper" => Ok(FileOwner::Paper(id.to_owned())),
        _ => Err(NodeError::NotFound("attachment")),
    }
}

impl Node {
    /// The partner that sets the files, the audience and the files of a meeting or paper this
    /// node's partner is in the audience of.
    async fn object_files(
        &self,
        o: &FileOwner,
    ) -> Result<(PartnerCode, entente_domain::Audience, Vec<AttachmentRef>), NodeError> {
        Ok(match o {
            FileOwner::Meeting(id) => {
                let m = self.meeting_state(id).await?;
                (m.convener, m.audience, m.files)
            }
            FileOwner::Paper(id) => {
                let p = self.paper_state(id).await?;
                (p.penholder, p.audience, p.files)
            }
            _ => return Err(NodeError::NotFound("attachment")),
        })
    }

    /// Attach a file the caller uploaded to a meeting this partner convenes or a paper it
    /// holds the pen of (`kind` is `meeting` or `paper`): an officer's act, as planning and
    /// drafting are; a paper's files no longer change once it is circulated for sign-off.
    pub async fn attach_object_file(
        &self,
        who: &Principal,
        kind: &str,
        id: &str,
        file: NewAttachment,
    ) -> Result<Vec<AttachmentRef>, NodeError> {
        let changing = self.ext::<FilesChanges>();
        let _one_at_a_time = changing.0.lock().await;
        let (o, audience, mut files) = self.files_to_change(who, kind, id).await?;
        let new_refs = self.attachment_refs(who, &[file]).await?;
        files.retain(|a| new_refs.iter().all(|n| n.sha256 != a.sha256));
        files.extend(new_refs.iter().cloned());
        attachment::check(&files)?;
        self.verify_files_for(&o, &new_refs).await?;
        self.set_object_files(who, kind, id, &audience, files)
            .await?;
        let files = self.object_files(&o).await?.2;
        // The fold has the last word (another attach or a circulation may have come first).
        if new_refs
            .iter()
            .any(|n| files.iter().all(|a| a.sha256 != n.sha256))
        {
            return Err(NodeError::Conflict(
                "the file could not be attached: try again".into(),
            ));
        }
        Ok(files)
    }

    /// Take a file off a meeting this partner convenes or a paper it holds the pen of (a file
    /// attached by mistake, or superseded): a signed `files.set` without it. From then on no
    /// node lists it, serves it to its users or to a peer for this object, or fetches it; a
    /// partner that already downloaded it keeps its copy (what was released stays released).
    /// The same officer's act as attaching; refused once a paper is circulated.
    pub async fn remove_object_file(
        &self,
        who: &Principal,
        kind: &str,
        id: &str,
        sha256: &str,
    ) -> Result<Vec<AttachmentRef>, NodeError> {
        let sha256 = sha256.to_ascii_lowercase();
        let changing = self.ext::<FilesChanges>();
        let _one_at_a_time = changing.0.lock().await;
        let (o, audience, mut files) = self.files_to_change(who, kind, id).await?;
        let before = files.len();
        files.retain(|a| a.sha256 != sha256);
        if files.len() == before {
            return Err(NodeError::NotFound("attachment"));
        }
        self.set_object_files(who, kind, id, &audience, files)
            .await?;
        let files = self.object_files(&o).await?.2;
        // The fold has the last word (a circulation may have come first).
        if files.iter().any(|a| a.sha256 == *sha256) {
            return Err(NodeError::Conflict(
                "the file could not be removed: try again".into(),
            ));
        }
        Ok(files)
    }

    /// The object, audience and files of a meeting or paper whose files the caller may change:
    /// an officer of the convener's or penholder's partner, a paper not yet circulated.
    async fn files_to_change(
        &self,
        who: &Principal,
        kind: &str,
        id: &str,
    ) -> Result<(FileOwner, entente_domain::Audience, Vec<AttachmentRef>), NodeError> {
        who.require(
            entente_domain::Role::Officer,
            "change the files of meetings and papers",
        )?;
        let o = owner(kind, id)?;
        let (by, audience, files) = self.object_files(&o).await?;
        if by != *self.partner() {
            return Err(NodeError::Forbidden(
                "change files here: only the convener or the penholder changes them",
            ));
        }
        if let FileOwner::Paper(id) = &o
            && self.paper_state(id).await?.signoff.is_some()
        {
            return Err(NodeError::Conflict(
                "the paper is circulated for sign-off: its files no longer change".into(),
            ));
        }
        Ok((o, audience, files))
    }

    /// Sign and publish a meeting's or paper's files from now on.
    async fn set_object_files(
        &self,
        who: &Principal,
        kind: &str,
        id: &str,
        audience: &entente_domain::Audience,
        files: Vec<AttachmentRef>,
    ) -> Result<(), NodeError> {
        let f = FilesSet {
            kind: kind.to_owned(),
            id: id.to_owned(),
            attachments: files,
            author: who.user_id(),
        };
        self.publish(audience, &[entente_domain::Payload::FilesSet(f)])
            .await?;
        Ok(())
    }

    /// A meeting's or paper's files, each with whether this node holds it whole and what the
    /// malware scanner found in one it withheld.
    pub async fn object_files_here(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Vec<(AttachmentRef, bool, Option<String>)>, NodeError> {
        let o = owner(kind, id)?;
        let key = owner::key_of(&o)?;
        let (_, _, files) = self.object_files(&o).await?;
        self.files_held(&key, &files).await
    }

    /// A file of a meeting or paper the caller may read, ready to send, as [`Node::download`].
    pub async fn download_object_file(
        &self,
        who: &Principal,
        kind: &str,
        id: &str,
        sha256: &str,
    ) -> Result<
        (
            Delivery,
            impl futures_util::Stream<Item = Result<Vec<u8>, NodeError>> + Send + 'static,
        ),
        NodeError,
    > {
        // The same reads a user makes of the meeting or paper (audited, checked for the caller).
        match kind {
            "meeting" => {
                self.meeting(who, id).await?;
            }
            "paper" => {
                self.paper(who, id).await?;
            }
            _ => return Err(NodeError::NotFound("attachment")),
        }
        let o = owner(kind, id)?;
        let key = owner::key_of(&o)?;
        let (_, _, files) = self.object_files(&o).await?;
        let r = files
            .into_iter()
            .find(|a| a.sha256 == sha256)
            .ok_or(NodeError::NotFound("attachment"))?;
        let here = self.store.blob_for_item(sha256, &key).await?;
        self.deliver(r, here, o).await
    }
}
