//! Item operations: create (the audience from the format and the caller's choice), read what the
//! caller may see, revise, retract, list with filters; the references of the files a new item
//! carries (each one its author uploaded here) and a file's media type from its bytes.

use super::*;
use entente_domain::attachment::{self, AttachmentRef};

/// Serialises this process's changes to the files of items, posts, meetings and papers: each
/// reads the list, changes it and signs the whole list, so two at once undid one another (an
/// attach signed after a removal brought the removed file back; two attaches kept one file).
/// A revision of an item's text takes it too: an attach signs the item's text as it read it,
/// so a revision committed in between was undone by the attach.
/// Processes sharing one database are not covered; the check after each publish catches what
/// it can.
#[derive(Default)]
pub(crate) struct FilesChanges(pub(crate) tokio::sync::Mutex<()>);

impl Node {
    pub async fn create_item(&self, who: &Principal, ni: NewItem) -> Result<ItemState, NodeError> {
        who.require(Role::Analyst, "post items")?;
        let (aud, payload) = self.prepare_item(who, ni).await?;
        let id = payload.item_id.clone();
        let tlp = payload.tlp.unwrap_or(Tlp::Red);
        let files: Vec<String> = payload
            .attachments
            .iter()
            .map(|a| a.sha256.clone())
            .collect();
        // The author's own uploads count for this item before it is committed: the indexer
        // reads the item's file texts when the commit reaches it, and a check recorded after the
        // publish raced it (the origin's search then missed the file's text for good). Nothing
        // is served through the item before the item itself names the file.
        for sha in &files {
            self.store.verify_blob_for_item(sha, &id).await?;
            // Recorded only while the file is whole: one dropped or held aside since the upload
            // is not published as this node's.
            if !self.store.blob_for_item(sha, &id).await? {
                return Err(NodeError::Conflict(
                    "a file went from this node before it could be attached (dropped or held aside meanwhile): upload it again".into(),
                ));
            }
        }
        self.publish(&aud, &[Payload::ItemPublish(payload)]).await?;
        self.audit(
            &who.user_id(),
            "release",
            &format!("item {id} at {} to {}", tlp.as_str(), aud.key()),
        )
        .await;
        self.store
            .item(&id)
            .await?
            .ok_or(NodeError::Internal("item not projected".into()))
    }

    /// Validate a new item and work out its audience, without writing anything.
    pub async fn prepare_item(
        &self,
        who: &Principal,
        ni: NewItem,
    ) -> Result<(Audience, ItemPublish), NodeError> {
        let kind = ItemKind::parse(&ni.kind)?;
        let tlp = ni.tlp.as_deref().map(Tlp::parse).transpose()?;
        let mut title = ni.title;
        let mut topics = ni.topics;
        validate_content(&mut title, &ni.body, &mut topics)?;
        let releasable = match &ni.releasable_to {
            Some(v) => Some(
                v.iter()
                    .map(|p| self.parse_known_partner(p))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        let f = self
            .store
            .format(&ni.format_id)
            .await?
            .ok_or(NodeError::NotFound("format"))?;
        let aud = policy::item_audience(self.partner(), releasable.as_deref(), &f)?;
        let mut named = Vec::new();
        for u in &ni.named_users {
            let (_, p) = u.split_once('@').ok_or_else(|| {
                entente_domain::DomainError::invalid("named_users", "use name@PARTNER")
            })?;
            let p = PartnerCode::parse(p)?;
            if !aud.contains(&p) {
                return Err(entente_domain::PolicyError::OutsideFormat(p).into());
            }
            named.push(u.clone());
        }
        let attachments = self.attachment_refs(who, &ni.attachments).await?;
        Ok((
            aud,
            ItemPublish {
                released_from: None,
                item_id: new_id(),
                format_id: f.format_id,
                kind,
                title,
                body: ni.body,
                topics,
                tlp,
                named_users: named,
                author: who.user_id(),
                attachments,
            },
        ))
    }

    /// Look up an item the caller may see. An item the caller may not see is reported
    /// exactly like one that does not exist.
    pub async fn item(&self, who: &Principal, item_id: &str) -> Result<ItemState, NodeError> {
        let it = self
            .store
            .item(item_id)
            .await?
            .ok_or(NodeError::NotFound("item"))?;
        if policy::user_may_see_item(&who.viewer(), &it) {
            if it.tlp >= Tlp::Amber {
                self.audit(
                    &who.user_id(),
                    "read",
                    &format!("item {item_id} at {}", it.tlp.as_str()),
                )
                .await;
            }
            Ok(it)
        } else {
            Err(NodeError::NotFound("item"))
        }
    }

    pub async fn revise_item(
        &self,
        who: &Principal,
        item_id: &str,
        rev: ItemRevision,
    ) -> Result<ItemState, NodeError> {
        who.require(Role::Analyst, "revise items")?;
        // One change of an item at a time: an attach signs the text it read with the new list
        // of files, and would undo a revision committed between its read and its commit.
        let changing = self.ext::<FilesChanges>();
        let _one_at_a_time = changing.0.lock().await;
        let it = self.item(who, item_id).await?;
        policy::may_edit_item(self.partner(), &who.user_id(), who.role, &it)?;
        if it.retracted.is_some() {
            return Err(NodeError::Conflict("the item is retracted".into()));
        }
        let mut title = rev.title;
        let mut topics = rev.topics;
        validate_content(&mut title, &rev.body, &mut topics)?;
        let r = ItemRevise {
            item_id: item_id.to_owned(),
            title,
            body: rev.body,
            topics,
            author: who.user_id(),
            attachments: None,
        };
        self.publish(&it.audience, &[Payload::ItemRevise(r)])
            .await?;
        self.store
            .item(item_id)
            .await?
            .ok_or(NodeError::NotFound("item"))
    }

    pub async fn retract_item(
        &self,
        who: &Principal,
        item_id: &str,
        reason: &str,
    ) -> Result<ItemState, NodeError> {
        who.require(Role::Analyst, "retract items")?;
        // After an attach that read the item, not in between.
        let changing = self.ext::<FilesChanges>();
        let _one_at_a_time = changing.0.lock().await;
        let it = self.item(who, item_id).await?;
        policy::may_edit_item(self.partner(), &who.user_id(), who.role, &it)?;
        if it.retracted.is_some() {
            return Ok(it);
        }
        let r = ItemRetract {
            item_id: item_id.to_owned(),
            reason: reason.to_owned(),
            author: who.user_id(),
        };
        self.publish(&it.audience, &[Payload::ItemRetract(r)])
            .await?;
        self.store
            .item(item_id)
            .await?
            .ok_or(NodeError::NotFound("item"))
    }

    /// Items the caller may see, filtered and paged. The cursor is the id of the last item
    /// returned, so it carries nothing about items the caller may not see.
    pub async fn items(&self, who: &Principal, f: ItemFilter) -> Result<ItemPage, NodeError> {
        let limit = f.limit.unwrap_or(50).clamp(1, 500);
        let timestamp = |field: &'static str, s: String| {
            crate::clock::parse_rfc3339(&s)
                .map(crate::clock::rfc3339)
                .ok_or_else(|| entente_domain::DomainError::invalid(field, "an RFC 3339 timestamp"))
        };
        let until = f.until.map(|u| timestamp("until", u)).transpose()?;
        let released_to = f
            .released_to
            .iter()
            .map(|p| PartnerCode::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut q = ItemQuery {
            format_id: f.format,
            kind: f.kind.as_deref().map(ItemKind::parse).transpose()?,
            topic: f
                .topic
                .map(|t| {
                    if entente_domain::taxonomy::is_topic(&t) {
                        Ok(t)
                    } else {
                        Err(entente_domain::DomainError::UnknownTopic(t))
                    }
                })
                .transpose()?,
            origin: f.partner.as_deref().map(PartnerCode::parse).transpose()?,
            tlp: f.tlp.as_deref().map(Tlp::parse).transpose()?,
            since: f.since.map(|s| timestamp("since", s)).transpose()?,
            after: f.cursor,
            limit: limit + 1,
            newest_first: f.newest_first,
        };
        let viewer: Viewer = who.viewer();
        let mut out = Vec::new();
        loop {
            let batch = self.store.items(&q).await?;
            let exhausted = batch.len() < q.limit as usize;
            let mut last_scanned = None;
            for it in batch {
                last_scanned = Some(it.item_id.clone());
                // The narrowing filters the store does not apply, after the policy's check.
                if policy::user_may_see_item(&viewer, &it)
                    && released_to.iter().all(|p| it.audience.contains(p))
                    && until.as_deref().is_none_or(|u| it.created_at.as_str() < u)
                {
                    out.push(it);
                    if out.len() > limit as usize {
                        break;
                    }
                }
            }
            if out.len() > limit as usize || exhausted {
                break;
            }
            q.after = last_scanned;
        }
        let next = if out.len() > limit as usize {
            out.truncate(limit as usize);
            out.last().map(|i| i.item_id.clone())
        } else {
            None
        };
        let sensitive = out.iter().filter(|i| i.tlp >= Tlp::Amber).count();
        if sensitive > 0 {
            self.audit(
                &who.user_id(),
                "read",
                &format!("{sensitive} items at AMBER or above listed"),
            )
            .await;
        }
        Ok(ItemPage { items: out, next })
    }
    /// The references of a new item's files: each one the caller uploaded here (anyone else's
    /// file reads as unknown, so a hash is no way to learn what others uploaded), its name
    /// cleaned, its media type detected again from its bytes.
    pub async fn attachment_refs(
        &self,
        who: &Principal,
        list: &[NewAttachment],
    ) -> Result<Vec<AttachmentRef>, NodeError> {
        let mut out = Vec::with_capacity(list.len());
        for a in list {
            let sha = a.sha256.to_ascii_lowercase();
            let blob = if attachment::is_sha256(&sha)
                && self.store.blob_uploaded_by(&sha, &who.user_id()).await?
            {
                self.store.blob(&sha).await?
            } else {
                None
            };
            let blob = blob.ok_or(NodeError::NotFound("attachment"))?;
            let head = self.store.blob_chunk(&sha, 0).await?.unwrap_or_default();
            out.push(AttachmentRef {
                sha256: sha,
                size: blob.size,
                name: attachment::clean_name(&a.name)?,
                media_type: detect_media_type(&head[..head.len().min(8192)]),
            });
        }
        attachment::check(&out)?;
        Ok(out)
    }

    /// A file of an item the caller may see (audited as reading the item), with whether its
    /// bytes are here yet; `Ok(None)` for the bytes: still arriving from the peers.
    pub async fn attachment(
        &self,
        who: &Principal,
        item_id: &str,
        sha256: &str,
    ) -> Result<(AttachmentRef, bool), NodeError> {
        let it = self.item(who, item_id).await?;
        let r = it
            .attachments
            .into_iter()
            .find(|a| a.sha256 == sha256)
            .ok_or(NodeError::NotFound("attachment"))?;
        let here = match entente_domain::attachment::FileOwner::Item(item_id.to_owned()).key() {
            Some(key) => self.store.blob_for_item(sha256, &key).await?,
            None => false,
        };
        Ok((r, here))
    }
}

pub use entente_domain::attachment::NewAttachment;

/// The media type of a file from its first bytes: what `infer` recognises, else plain text if
/// the bytes are UTF-8 (a cut at the end of the sample is allowed), else octet-stream.
pub fn detect_media_type(head: &[u8]) -> String {
    if let Some(t) = infer::get(head) {
        return t.mime_type().to_owned();
    }
    match std::str::from_utf8(head) {
        Ok(_) => "text/plain".into(),
        Err(e) if e.error_len().is_none() && e.valid_up_to() + 4 > head.len() => {
            "text/plain".into()
        }
        Err(_) => "application/octet-stream".into(),
    }
}
