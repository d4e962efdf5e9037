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
    /// may see, with the releasability definitions they reference.
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
            match page.next {
                Some(n) if page.more => filter.next = Some(n),
                _ => break,
            }
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
