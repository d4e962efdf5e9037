//! Releasing past work to a partner admitted since: the items this partner originated in a
//! format that the newcomer cannot see (narrowed by topic, kind and period), and their release,
//! chosen item by item, as new items in the wider audience (the original's audience plus the
//! newcomer) that name the original signed entry. The originals and their audiences never
//! change, and nothing is released unless it was chosen.

use crate::auth::Principal;
use crate::{Node, NodeError};
use entente_domain::item::ReleasedFrom;
use entente_domain::payload::{ItemPublish, Payload};
use entente_domain::{Audience, DomainError, ItemState, PartnerCode, Role, Tlp, policy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a member may release to a partner admitted since, and the filter narrowing it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReleaseFilter {
    pub format_id: String,
    /// The partner to release to (a member of the format).
    pub to: String,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    /// Created on or after this date (YYYY-MM-DD).
    #[serde(default)]
    pub from: Option<String>,
    /// Created on or before this date (YYYY-MM-DD).
    #[serde(default)]
    pub until: Option<String>,
}

impl Node {
    /// This partner's own items of the format that `to` may not see and that were not released
    /// to it before, narrowed by the filter, oldest first. TLP:RED items are never offered: they
    /// are for their named users.
    pub async fn release_candidates(
        &self,
        who: &Principal,
        f: &ReleaseFilter,
    ) -> Result<Vec<ItemState>, NodeError> {
        who.require(Role::Officer, "release past material")?;
        let format = self.format(&f.format_id).await?;
        let to = self.parse_known_partner(&f.to)?;
        if !format.members.contains(&to) {
            return Err(
                DomainError::invalid("to", format!("{to} is not a member of the format")).into(),
            );
        }
        let mut mine = vec![];
        let mut released: Vec<String> = vec![];
        let mut q = entente_store::ItemQuery {
            format_id: Some(f.format_id.clone()),
            limit: 5_000,
            ..Default::default()
        };
        loop {
            let page = self.store.items(&q).await?;
            let done = page.len() < q.limit as usize;
            q.after = page.last().map(|i| i.item_id.clone());
            for it in page {
                if let Some(r) = &it.released_from
                    && it.audience.contains(&to)
                {
                    released.push(r.item_id.clone());
                }
                if it.origin == *self.partner() {
                    mine.push(it);
                }
            }
            if done {
                break;
            }
        }
        let day = |s: &str| s.get(..10).unwrap_or("").to_owned();
        Ok(mine
            .into_iter()
            .filter(|it| {
                it.retracted.is_none()
                    && it.tlp < Tlp::Red
                    && !it.audience.contains(&to)
                    && !released.contains(&it.item_id)
                    && f.topic
                        .as_deref()
                        .is_none_or(|t| t.is_empty() || it.topics.iter().any(|x| x == t))
                    && f.kind
                        .as_deref()
                        .is_none_or(|k| k.is_empty() || it.kind.as_str() == k)
                    && f.from
                        .as_deref()
                        .is_none_or(|d| d.is_empty() || day(&it.created_at).as_str() >= d)
                    && f.until
                        .as_deref()
                        .is_none_or(|d| d.is_empty() || day(&it.created_at).as_str() <= d)
            })
            .collect())
    }

    /// Release the chosen items to `to`: each a new item in its original audience (less any
    /// partner that has left the format) plus `to`, naming the entry that first published it.
    /// Only items the filter offers may be chosen.
    pub async fn release_items(
        &self,
        who: &Principal,
        format_id: &str,
        to: &str,
        item_ids: &[String],
    ) -> Result<Vec<ItemState>, NodeError> {
        if item_ids.is_empty() {
            return Err(
                DomainError::invalid("items", "choose at least one item to release").into(),
            );
        }
        let offered = self
            .release_candidates(
                who,
                &ReleaseFilter {
                    format_id: format_id.to_owned(),
                    to: to.to_owned(),
                    ..Default::default()
                },
            )
            .await?;
        let to = self.parse_known_partner(to)?;
        let format = self.format(format_id).await?;
        let mut by_audience: BTreeMap<Vec<PartnerCode>, Vec<Payload>> = BTreeMap::new();
        let mut ids = vec![];
        let mut checked = vec![];
        for id in item_ids {
            let it = offered.iter().find(|i| &i.item_id == id).ok_or_else(|| {
                DomainError::invalid("items", format!("{id} cannot be released to {to}"))
            })?;
            let hash = self.publish_entry_of(it).await?;
            // A partner of the original's audience that has left the format since keeps the
            // original and gets no copy: a release is new material, and goes to members only.
            let wider: Vec<PartnerCode> = it
                .audience
                .iter()
                .filter(|p| format.members.contains(*p))
                .cloned()
                .chain([to.clone()])
                .collect();
            let aud = policy::item_audience(self.partner(), Some(&wider), &format)?;
            let new_id = crate::new_id();
            ids.push(new_id.clone());
            // The item's files go with it: the same signed references, and this node (their
            // origin) serves them through the release to its wider audience, the new member
            // fetching and hashing them as any file. Checked for the new item before it is
            // committed, as at creation (below, once every chosen item passed); a file this node
            // does not hold whole stays behind.
            let mut files = vec![];
            for a in &it.attachments {
                if self.store.blob_for_item(&a.sha256, &it.item_id).await? {
                    checked.push((a.sha256.clone(), new_id.clone()));
                    files.push(a.clone());
                }
            }
            by_audience
                .entry(aud.iter().cloned().collect())
                .or_default()
                .push(Payload::ItemPublish(ItemPublish {
                    item_id: new_id,
                    format_id: it.format_id.clone(),
                    kind: it.kind,
                    title: it.title.clone(),
                    body: it.body.clone(),
                    topics: it.topics.clone(),
                    tlp: Some(it.tlp),
                    named_users: vec![],
                    author: who.user_id(),
                    released_from: Some(ReleasedFrom {
                        item_id: it.item_id.clone(),
                        entry_hash: hash,
                    }),
                    attachments: files,
                }));
        }
        for (sha, new_id) in &checked {
            self.store.verify_blob_for_item(sha, new_id).await?;
            if !self.store.blob_for_item(sha, new_id).await? {
                return Err(NodeError::Conflict(
                    "a file of the chosen items went from this node meanwhile (held aside by the malware scanner): release again without it".into(),
                ));
            }
        }
        for (aud, payloads) in by_audience {
            let aud = Audience::new(aud)?;
            self.publish(&aud, &payloads).await?;
        }
        self.audit(
            &who.user_id(),
            "release",
            &format!("{} item(s) of format {format_id} to {to}", ids.len()),
        )
        .await;
        Ok(self.store.items_by_id(&ids).await?)
    }

    /// Every signed entry that set `it`'s text (its publication and each revision), oldest
    /// first, as (hash in hex, title, body). Parsed from the stored log, whose entries were
    /// verified when they were appended. A walk of the item's log: releases and provenance
    /// checks are rare, and no index maps an entry's hash to its place.
    async fn text_entries_of(
        &self,
        it: &ItemState,
    ) -> Result<Vec<(String, String, String)>, NodeError> {
        let needle = format!("\"item_id\":\"{}\"", it.item_id);
        let mut out = vec![];
        let mut after = 0;
        loop {
            let page = self.store.entries_after(&it.log_id, after, 5_000).await?;
            let Some(last) = page.last() else {
                return Ok(out);
            };
            let last_seq = entente_log::parse_entry(last)
                .map_err(|x| NodeError::Internal(x.to_string()))?
                .header
                .seq;
            for e in &page {
                if !e.body.contains(&needle) {
                    continue;
                }
                let p =
                    entente_log::parse_entry(e).map_err(|x| NodeError::Internal(x.to_string()))?;
                let text = match Payload::parse(&p.header.kind, p.payload()) {
                    Ok(Payload::ItemPublish(x)) if x.item_id == it.item_id => (x.title, x.body),
                    Ok(Payload::ItemRevise(x)) if x.item_id == it.item_id => (x.title, x.body),
                    _ => continue,
                };
                out.push((hex::encode(p.hash), text.0, text.1));
            }
            after = last_seq;
        }
    }

    /// The hash (hex) of the entry of this partner's log that set `it`'s current text: a
    /// release copies that text, so it names that entry (naming the first publication of a
    /// since revised item would claim a text the cited entry does not hold).
    pub async fn publish_entry_of(&self, it: &ItemState) -> Result<String, NodeError> {
        self.text_entries_of(it)
            .await?
            .into_iter()
            .rev()
            .find(|(_, title, body)| *title == it.title && *body == it.body)
            .map(|(hash, _, _)| hash)
            .ok_or_else(|| {
                NodeError::Internal(format!("no entry holds item {}'s text", it.item_id))
            })
    }

    /// What this node can say of a released item's provenance: `None` when it is not a release
    /// or the caller cannot see the earlier item here; `Some(true)` when the cited entry is a
    /// signed publication or revision of the earlier item, by the same partner, holding exactly
    /// the title and text the release was published with; `Some(false)` when it is not (the releaser claimed a
    /// provenance the signed record does not bear out).
    pub async fn release_provenance(
        &self,
        who: &Principal,
        it: &ItemState,
    ) -> Result<Option<bool>, NodeError> {
        let Some(r) = &it.released_from else {
            return Ok(None);
        };
        let Ok(src) = self.item(who, &r.item_id).await else {
            return Ok(None);
        };
        if src.origin != it.origin {
            return Ok(Some(false));
        }
        // The release as first published (it may have been revised since, as any item).
        let Some((_, title, body)) = self.text_entries_of(it).await?.into_iter().next() else {
            return Ok(Some(false));
        };
        Ok(Some(self.text_entries_of(&src).await?.iter().any(
            |(hash, t, b)| *hash == r.entry_hash && *t == title && *b == body,
        )))
    }
}
