//! Bulk import: STIX bundles (whole or streamed in bounded memory) and MISP events and galaxies,
//! in batches of signed entries.

use super::*;

impl Node {
    /// Import a STIX 2.1 bundle into a format, in durable batches (each batch validated and
    /// committed as a whole). `progress` gets (objects done, total).
    pub async fn import_stix_bundle(
        &self,
        who: &Principal,
        collection: &str,
        bundle: &[u8],
        batch: usize,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<u64, NodeError> {
        who.require(Role::Analyst, "import")?;
        let (f, _) = self.taxii_collection(who, collection).await?;
        #[derive(Deserialize)]
        struct Bundle<'a> {
            #[serde(rename = "type")]
            ty: &'a str,
            #[serde(borrow, default)]
            objects: Vec<&'a RawValue>,
        }
        let b: Bundle<'_> =
            serde_json::from_slice(bundle).map_err(|e| bad(format!("not a STIX bundle: {e}")))?;
        // A file holding one STIX object (not a bundle) imports as that one object.
        let single: &RawValue;
        let objects: Vec<&RawValue> = if b.ty == "bundle" {
            b.objects
        } else {
            single = serde_json::from_slice(bundle).map_err(|e| bad(e.to_string()))?;
            vec![single]
        };
        let b = Bundle {
            ty: "bundle",
            objects,
        };
        let total = b.objects.len() as u64;
        // Each batch is validated and signed while the one before is being written.
        let mut publisher = self.bulk_publisher().await?;
        let mut done = 0;
        for chunk in b.objects.chunks(batch.max(1)) {
            let texts: Vec<&str> = chunk.iter().map(|r| r.get()).collect();
            done += self.import_batch(&mut publisher, who, &f, &texts).await?;
            progress(done, total);
        }
        publisher.finish().await?;
        Ok(done)
    }

    /// One batch of a bulk import: validated as a whole, then handed to the publisher. If it is
    /// bad, the batches before it are made durable before the error is returned.
    pub(super) async fn import_batch(
        &self,
        publisher: &mut crate::node::BulkPublisher<'_>,
        who: &Principal,
        f: &FormatState,
        texts: &[&str],
    ) -> Result<u64, NodeError> {
        let prepared = match self.prepare_stix(who, f, texts) {
            Ok(prepared) => self
                .refuse_objects_of_others(f, &prepared.0)
                .await
                .map(|()| prepared),
            Err(e) => Err(e),
        };
        let (successes, batches) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                publisher.settle_all().await?;
                return Err(e);
            }
        };
        for (aud, payloads) in batches {
            publisher.push(&aud, &payloads).await?;
        }
        Ok(successes.len() as u64)
    }

    /// Import a STIX 2.1 bundle read from `reader` without holding it in memory: a parser
    /// thread hands over batches of objects while the batches before are validated, signed and
    /// written. Each batch is validated and committed as a whole; if one is bad (or the JSON
    /// breaks off), the batches before it stay imported and the error names the problem.
    /// `progress` gets the number of objects done.
    pub async fn import_stix_stream<R: std::io::Read + Send + 'static>(
        &self,
        who: &Principal,
        collection: &str,
        reader: R,
        batch: usize,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, NodeError> {
        who.require(Role::Analyst, "import")?;
        let (f, _) = self.taxii_collection(who, collection).await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<String>, String>>(1);
        let batch = batch.max(1);
        let parser = tokio::task::spawn_blocking(move || stream::split_bundle(reader, batch, &tx));
        let mut publisher = self.bulk_publisher().await?;
        let mut done = 0;
        while let Some(msg) = rx.recv().await {
            let objects = match msg {
                Ok(objects) => objects,
                Err(e) => {
                    publisher.finish().await?;
                    return Err(bad(e));
                }
            };
            let texts: Vec<&str> = objects.iter().map(String::as_str).collect();
            // On error, dropping the receiver stops the parser thread.
            done += self.import_batch(&mut publisher, who, &f, &texts).await?;
            progress(done);
        }
        publisher.finish().await?;
        parser
            .await
            .map_err(|e| NodeError::Internal(format!("bundle parser: {e}")))?;
        Ok(done)
    }

    /// Import a MISP event: converted to STIX, marked with its TLP level (none: unmarked, so
    /// RED) and released to the partners its distribution names, narrowed to the format's
    /// members. Returns the conversion report.
    pub async fn import_misp_event(
        &self,
        who: &Principal,
        collection: &str,
        event: &[u8],
        opts: &entente_domain::misp::MispOptions,
    ) -> Result<MispImport, NodeError> {
        who.require(Role::Analyst, "import")?;
        let (f, _) = self.taxii_collection(who, collection).await?;
        let doc: serde_json::Value =
            serde_json::from_slice(event).map_err(|e| bad(format!("not JSON: {e}")))?;
        let conv = entente_domain::misp::event_to_stix(&doc, opts).map_err(bad)?;
        let mut dropped = vec![];
        let releasable: Option<Vec<PartnerCode>> = if conv.whole_format {
            Some(f.members.iter().cloned().collect())
        } else {
            conv.releasable_to.as_ref().map(|set| {
                set.iter()
                    .filter(|p| {
                        let member = f.members.contains(*p);
                        if !member {
                            dropped.push(p.to_string());
                        }
                        member
                    })
                    .cloned()
                    .collect()
            })
        };
        let aud = policy::item_audience(self.partner(), releasable.as_deref(), &f)?;
        let marking = stix::releasability_marking(&aud);
        let mut texts = vec![marking.to_string()];
        for mut o in conv.objects {
            if aud.len() > 1 {
                let refs = o
                    .get("object_marking_refs")
                    .and_then(|r| r.as_array())
                    .cloned()
                    .unwrap_or_default();
                let mut refs: Vec<serde_json::Value> = refs;
                refs.push(marking["id"].clone());
                o["object_marking_refs"] = serde_json::Value::Array(refs);
            }
            texts.push(o.to_string());
        }
        let raws: Vec<Box<RawValue>> = texts
            .into_iter()
            .map(|t| RawValue::from_string(t).map_err(|e| bad(e.to_string())))
            .collect::<Result<_, _>>()?;
        let refs: Vec<&RawValue> = raws.iter().map(|r| r.as_ref()).collect();
        let n = self.add_stix(who, &f, &refs).await?.len();
        Ok(MispImport {
            objects: n,
            tlp: conv.tlp.map(|t| t.as_str().to_owned()),
            releasable_to: aud.iter().map(|p| p.to_string()).collect(),
            unmapped_orgs: conv.unmapped_orgs,
            not_members: dropped,
        })
    }

    /// Import a MISP galaxy (e.g. DISARM techniques) as a reference vocabulary: attack
    /// patterns marked TLP:CLEAR and released to every member of the format.
    pub async fn import_misp_galaxy(
        &self,
        who: &Principal,
        collection: &str,
        galaxy: &[u8],
    ) -> Result<usize, NodeError> {
        who.require(Role::Analyst, "import")?;
        let (f, _) = self.taxii_collection(who, collection).await?;
        let doc: serde_json::Value =
            serde_json::from_slice(galaxy).map_err(|e| bad(format!("not JSON: {e}")))?;
        let aps = entente_domain::misp::galaxy_to_stix(&doc).map_err(bad)?;
        let members: Vec<PartnerCode> = f.members.iter().cloned().collect();
        let aud = policy::item_audience(self.partner(), Some(&members), &f)?;
        // The marking id of an audience within the format is known without its definition.
        let marking_id = stix::releasability_marking_id(&aud);
        let mut raws: Vec<Box<RawValue>> = Vec::with_capacity(aps.len());
        for mut o in aps {
            o["object_marking_refs"] =
                serde_json::json!([entente_domain::Tlp::Clear.stix_marking_id(), marking_id]);
            raws.push(RawValue::from_string(o.to_string()).map_err(|e| bad(e.to_string()))?);
        }
        let refs: Vec<&RawValue> = raws.iter().map(|r| r.as_ref()).collect();
        let mut n = 0;
        for chunk in refs.chunks(5000) {
            n += self.add_stix(who, &f, chunk).await?.len();
        }
        Ok(n)
    }
}
