//! Reads: the status resource, filtered and paged objects with user-bound `next` tokens, and
//! deleting one's own objects; items rendered in their STIX form, and the per-viewer check.

use super::*;

impl Node {
    pub async fn taxii_status(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<StatusResource, NodeError> {
        match self.store.status(id).await? {
            Some((owner, json)) if owner == who.username => {
                serde_json::from_str(&json).map_err(|e| NodeError::Internal(e.to_string()))
            }
            _ => Err(NodeError::NotFound("status")),
        }
    }

    pub(super) fn mac(&self, who: &Principal, collection: &str, pos: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.paging_secret);
        h.update(format!(
            "{}\n{}\n{}\n{}",
            who.user_id(),
            who.role.as_str(),
            collection,
            pos
        ));
        hex::encode(&h.finalize()[..16])
    }

    pub(super) fn next_token(&self, who: &Principal, collection: &str, pos: &str) -> String {
        format!("{}.{}", pos, self.mac(who, collection, pos))
    }

    /// Check a `next` token: it must have been issued to this user for this collection.
    pub(super) fn open_token(
        &self,
        who: &Principal,
        collection: &str,
        token: &str,
    ) -> Result<String, NodeError> {
        let (pos, mac) = token
            .rsplit_once('.')
            .ok_or_else(|| bad("invalid next token"))?;
        if mac != self.mac(who, collection, pos) {
            return Err(bad(
                "invalid next token (not issued to you for this collection)",
            ));
        }
        Ok(pos.to_owned())
    }

    /// A page of objects (or manifest entries) the caller may see, filtered as TAXII says.
    /// Authorisation is checked again on every page.
    pub async fn taxii_objects(
        &self,
        who: &Principal,
        collection: &str,
        object_id: Option<&str>,
        f: TaxiiFilter,
    ) -> Result<ObjectsPage, NodeError> {
        let (fmt, _) = self.taxii_collection(who, collection).await?;
        let CheckedFilter {
            limit,
            added_after,
            versions,
            types,
            spec_versions,
            mut ids,
            next,
        } = f.check()?;

        if let Some(id) = object_id {
            ids = vec![id.to_owned()];
        }
        let after = next
            .as_deref()
            .map(|t| self.open_token(who, &fmt.format_id, t))
            .transpose()?;
        let mut q = StixQuery {
            collection: fmt.format_id.clone(),
            added_after,
            ids,
            types,
            spec_versions: if spec_versions.is_empty() {
                vec!["2.1".into()]
            } else {
                spec_versions
            },
            versions,
            after,
            limit: limit + 1,
        };
        let viewer = who.viewer();
        let mut out = Vec::new();
        loop {
            let batch = self.store.stix_query(&q).await?;
            let exhausted = batch.len() < q.limit as usize;
            let mut last = None;
            for r in batch {
                last = Some(r.date_added.clone());
                if may_see(&viewer, &r) {
                    out.push(r);
                    if out.len() > limit as usize {
                        break;
                    }
                }
            }
            if out.len() > limit as usize || exhausted {
                break;
            }
            q.after = last;
        }
        let more = out.len() > limit as usize;
        out.truncate(limit as usize);
        let items = self.render_items(&mut out).await?;
        let sensitive = out
            .iter()
            .filter(|r| r.tlp >= entente_domain::Tlp::Amber)
            .count();
        self.audit_sensitive_read(who, sensitive, &fmt.format_id)
            .await;
        let next = if more {
            out.last()
                .map(|r| self.next_token(who, &fmt.format_id, &r.date_added))
        } else {
            None
        };
        Ok(ObjectsPage {
            rows: out,
            more,
            next,
            items,
        })
    }

    /// The audit record of a read that served objects at AMBER or above (none when it served
    /// none), the same for a page rendered and a page served from the cache.
    pub(super) async fn audit_sensitive_read(
        &self,
        who: &Principal,
        sensitive: usize,
        collection: &str,
    ) {
        if sensitive > 0 {
            self.audit(
                &who.user_id(),
                "read",
                &format!("{sensitive} STIX objects at AMBER or above from collection {collection}"),
            )
            .await;
        }
    }

    /// Delete one of this partner's own objects (all versions) from a collection, as a signed
    /// entry in the object's log so every holder removes it too.
    pub async fn taxii_delete(
        &self,
        who: &Principal,
        collection: &str,
        object_id: &str,
    ) -> Result<(), NodeError> {
        let (fmt, c) = self.taxii_collection(who, collection).await?;
        if !c.can_write {
            return Err(NodeError::Forbidden("delete from this collection"));
        }
        let rows = self
            .store
            .stix_query(&StixQuery {
                collection: fmt.format_id.clone(),
                ids: vec![object_id.to_owned()],
                versions: VersionFilter::All,
                limit: MAX_PAGE,
                ..Default::default()
            })
            .await?;
        let viewer = who.viewer();
        let rows: Vec<StixRow> = rows.into_iter().filter(|r| may_see(&viewer, r)).collect();
        let first = rows.first().ok_or(NodeError::NotFound("object"))?;
        if rows.iter().any(|r| &r.origin != self.partner()) {
            return Err(entente_domain::PolicyError::NotOriginator(first.origin.clone()).into());
        }
        let audiences: BTreeSet<Audience> = rows.iter().map(|r| r.audience.clone()).collect();
        for aud in audiences {
            let d = StixDelete {
                format_id: fmt.format_id.clone(),
                stix_id: object_id.to_owned(),
                author: who.user_id(),
            };
            self.publish(&aud, &[Payload::StixDelete(d)]).await?;
        }
        Ok(())
    }
}

impl Node {
    /// Rows that stand for items are rendered as STIX from the item's current state, their
    /// files as references to this node's download URLs. Returns the items rendered.
    async fn render_items(
        &self,
        rows: &mut Vec<StixRow>,
    ) -> Result<Vec<entente_domain::ItemState>, NodeError> {
        let ids: Vec<String> = rows
            .iter()
            .filter_map(|r| r.raw.strip_prefix(crate::ITEM_MARKER).map(str::to_owned))
            .collect();
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let base = &self.config().public_url;
        let mut items: HashMap<String, entente_domain::ItemState> = self
            .store
            .items_by_id(&ids)
            .await?
            .into_iter()
            .map(|i| (i.item_id.clone(), i))
            .collect();
        rows.retain_mut(|r| match r.raw.strip_prefix(crate::ITEM_MARKER) {
            None => true,
            Some(id) => match items.get(id) {
                Some(it) => {
                    let mut v = stix::item_to_stix(it);
                    stix::add_file_references(&mut v, base, it);
                    r.raw = v.to_string();
                    true
                }
                None => false,
            },
        });
        Ok(items.drain().map(|(_, it)| it).collect())
    }
}

/// The policy check for one stored STIX object version.
pub fn may_see(viewer: &Viewer, r: &StixRow) -> bool {
    policy::may_see(viewer, &r.audience, r.tlp, &r.author, &r.named_users)
}
