//! Export of what the caller may see: a format as a STIX bundle or a MISP event.

use super::*;

impl Node {
    /// The collection as one MISP event (JSON), from what the caller may see.
    pub async fn export_misp_event(
        &self,
        who: &Principal,
        collection: &str,
    ) -> Result<serde_json::Value, NodeError> {
        let (f, _) = self.taxii_collection(who, collection).await?;
        let mut filter = TaxiiFilter {
            limit: Some(MAX_PAGE),
            ..Default::default()
        };
        let mut objects = vec![];
        loop {
            let page = self
                .taxii_objects(who, collection, None, filter.clone())
                .await?;
            for r in &page.rows {
                let v: serde_json::Value =
                    serde_json::from_str(&r.raw).map_err(|e| NodeError::Internal(e.to_string()))?;
                objects.push((v, r.tlp, r.audience.iter().cloned().collect::<Vec<_>>()));
            }
            match page.next {
                Some(n) if page.more => filter.next = Some(n),
                _ => break,
            }
        }
        let event_uuid = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("urn:entente:misp-export:{}", f.format_id).as_bytes(),
        );
        self.audit(
            &who.user_id(),
            "export",
            &format!("MISP event of collection {collection}"),
        )
        .await;
        Ok(entente_domain::misp::objects_to_misp_event(
            &f.title,
            &event_uuid.to_string(),
            &objects,
        ))
    }

    /// A STIX 2.1 bundle of the latest version of every object in a collection the caller
    /// may see, with the releasability definitions they reference, and for each file of an
    /// item that this node holds whole an `artifact` (URL and hash) related to the item.
    pub async fn export_stix_bundle(
        &self,
        who: &Principal,
        collection: &str,
    ) -> Result<String, NodeError> {
        let mut out = format!(
            "{{\"type\":\"bundle\",\"id\":\"bundle--{}\",\"objects\":[",
            uuid::Uuid::new_v4()
        );
        let mut filter = TaxiiFilter {
            limit: Some(MAX_PAGE),
            ..Default::default()
        };
        let mut first = true;
        let mut definitions = BTreeSet::new();
        // The files of the items exported, as artifacts (by id: one file attached to two
        // items is one artifact, marked as the item with the higher TLP, then the smaller
        // audience, then the smaller id — the same choice on every export).
        type Rank = (entente_domain::Tlp, std::cmp::Reverse<usize>);
        let mut artifacts: BTreeMap<String, (Rank, serde_json::Value)> = BTreeMap::new();
        let mut relationships = vec![];
        loop {
            let page = self
                .taxii_objects(who, collection, None, filter.clone())
                .await?;
            for r in &page.rows {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&r.raw);
                if r.raw.contains(&stix::releasability_marking_id(&r.audience)) {
                    definitions.insert(r.audience.clone());
                }
            }
            let mut items: Vec<&entente_domain::ItemState> = page.items.iter().collect();
            items.sort_by(|a, b| a.item_id.cmp(&b.item_id));
            for it in items {
                for (a, mt) in self.item_files_here(it).await? {
                    let v = stix::attachment_artifact(it, &a, &mt, &self.config().public_url);
                    let id = stix::artifact_id(&a.sha256);
                    let rank = (it.tlp, std::cmp::Reverse(it.audience.len()));
                    if artifacts.get(&id).is_none_or(|(r, _)| *r < rank) {
                        artifacts.insert(id, (rank, v));
                    }
                    relationships.push(stix::attachment_relationship(it, &a));
                }
            }
            match page.next {
                Some(n) if page.more => filter.next = Some(n),
                _ => break,
            }
        }
        relationships.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        for v in artifacts.into_values().map(|(_, v)| v).chain(relationships) {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&v.to_string());
        }
        if !definitions.is_empty() {
            for v in std::iter::once(stix::releasability_extension_definition())
                .chain(definitions.iter().map(stix::releasability_marking))
            {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&v.to_string());
            }
        }
        out.push_str("]}");
        self.audit(
            &who.user_id(),
            "export",
            &format!("STIX bundle of collection {collection}"),
        )
        .await;
        Ok(out)
    }
}

impl Node {
    /// The files of an item that this node holds whole, checked for it (so the download URL
    /// answers), each with the media type detected from its bytes here.
    async fn item_files_here(
        &self,
        it: &entente_domain::ItemState,
    ) -> Result<Vec<(entente_domain::attachment::AttachmentRef, String)>, NodeError> {
        let mut out = vec![];
        for (a, here, _) in self.files_held(&it.item_id, &it.attachments).await? {
            if here {
                let head = self.store.blob_chunk(&a.sha256, 0).await?;
                let head = head.unwrap_or_default();
                let mt = crate::detect_media_type(&head[..head.len().min(8192)]);
                out.push((a, mt));
            }
        }
        Ok(out)
    }
}
