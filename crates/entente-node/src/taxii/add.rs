//! Adding STIX objects: TAXII POST and `add_stix` validate, check ownership (an object id
//! belongs to its first origin) and markings, and publish them as signed `stix.objects` entries.

use super::*;

impl Node {
    /// Add the objects of a TAXII envelope to a collection. Every object is validated first;
    /// any invalid object, or a releasability marking naming a non-member, rejects the whole
    /// request and stores nothing. Objects are published in one signed entry per audience.
    pub async fn taxii_add(
        &self,
        who: &Principal,
        collection: &str,
        body: &[u8],
    ) -> Result<StatusResource, NodeError> {
        let (f, c) = self.taxii_collection(who, collection).await?;
        if !c.can_write {
            return Err(NodeError::Forbidden("write to this collection"));
        }
        let request_timestamp = self.clock.now_rfc3339();
        let env: EnvelopeIn<'_> = serde_json::from_slice(body)
            .map_err(|e| bad(format!("the body is not a TAXII envelope: {e}")))?;
        let successes = self.add_stix(who, &f, &env.objects).await?;
        let n = successes.len() as u64;
        let status = StatusResource {
            id: uuid::Uuid::new_v4().to_string(),
            status: "complete".into(),
            request_timestamp,
            total_count: n,
            success_count: n,
            successes,
            failure_count: 0,
            failures: vec![],
            pending_count: 0,
            pendings: vec![],
        };
        let json =
            serde_json::to_string(&status).map_err(|e| NodeError::Internal(e.to_string()))?;
        self.store
            .put_status(&status.id, &who.username, &json)
            .await?;
        Ok(status)
    }

    /// Validate and publish STIX objects into a format: one signed entry per audience. Any
    /// invalid object, or a releasability marking naming a non-member, rejects the whole call
    /// and stores nothing.
    pub async fn add_stix(
        &self,
        who: &Principal,
        f: &FormatState,
        objects: &[&RawValue],
    ) -> Result<Vec<StatusDetail>, NodeError> {
        let texts: Vec<&str> = objects.iter().map(|r| r.get()).collect();
        let (successes, batches) = self.prepare_stix(who, f, &texts)?;
        self.refuse_objects_of_others(f, &successes).await?;
        for (aud, payloads) in batches {
            self.publish_json(&aud, payloads).await?;
        }
        Ok(successes)
    }

    /// Refuse objects whose id another partner holds in this collection: an object id belongs
    /// to the origin that first published it (H2). Marking definitions are exempt: they cannot
    /// be versioned, every partner sends the same TLP ones along, and the store keeps the first.
    pub(super) async fn refuse_objects_of_others(
        &self,
        f: &FormatState,
        objects: &[StatusDetail],
    ) -> Result<(), NodeError> {
        let ids: Vec<&str> = objects
            .iter()
            .map(|o| o.id.as_str())
            .filter(|id| !id.starts_with("marking-definition--"))
            .collect();
        let owners = self.store.stix_owners(&f.format_id, &ids).await?;
        match owners.into_iter().find(|(_, o)| o != self.partner()) {
            Some((id, owner)) => Err(entente_domain::PolicyError::ObjectOfOther(id, owner).into()),
            None => Ok(()),
        }
    }

    /// Validate STIX objects and group them into `stix.objects` payloads per audience. Any
    /// invalid object, or a releasability marking naming a non-member, fails the whole set.
    #[allow(clippy::type_complexity)]
    pub(super) fn prepare_stix(
        &self,
        who: &Principal,
        f: &FormatState,
        objects: &[&str],
    ) -> Result<
        (
            Vec<StatusDetail>,
            Vec<(Audience, Vec<(&'static str, String)>)>,
        ),
        NodeError,
    > {
        let mut markings = self.known_markings(f);
        let others = self.other_partner_identities(self.partner(), &f.members);
        let mut metas: Vec<(StixMeta, &str)> = Vec::with_capacity(objects.len());
        // First pass: validate everything (a full parse of each object: what passes is one
        // valid JSON object) and learn releasability markings sent along.
        for raw in objects.iter().copied() {
            let meta = stix::validate_str(raw).map_err(|e| bad(e.to_string()))?;
            // Only marking-definitions need a full parse (to read a releasability extension).
            let marking_def = if meta.stix_type == "marking-definition" {
                Some(
                    serde_json::from_str::<serde_json::Value>(raw)
                        .map_err(|e| bad(e.to_string()))?,
                )
            } else {
                None
            };
            if let Some(aud) = marking_def.as_ref().and_then(stix::audience_of_marking) {
                let aud = aud.map_err(|e| unprocessable(format!("{}: {e}", meta.id)))?;
                for p in aud.iter() {
                    if !f.members.contains(p) {
                        return Err(unprocessable(format!(
                            "{} names {p}, which is not a member of this format",
                            meta.id
                        )));
                    }
                }
                markings.insert(meta.id.clone(), aud);
                continue;
            }
            if meta.id == stix::RELEASABILITY_EXTENSION_ID {
                continue;
            }
            if let Some(why) = stix::claims_other_partner(&meta, &others) {
                return Err(unprocessable(why));
            }
            metas.push((meta, raw));
        }
        // Second pass: each object's audience.
        let mut groups: BTreeMap<Audience, Vec<&str>> = BTreeMap::new();
        let mut successes = Vec::with_capacity(metas.len());
        for (meta, raw) in metas {
            let named: Vec<&Audience> = meta
                .marking_refs
                .iter()
                .filter_map(|m| markings.get(m))
                .collect();
            let releasable: Option<Vec<PartnerCode>> = match named.as_slice() {
                // No releasability marking: the collection's default audience, if it has one.
                [] => f.stix_default(),
                [a] => Some(a.iter().cloned().collect()),
                _ => {
                    return Err(unprocessable(format!(
                        "{} carries more than one releasability marking",
                        meta.id
                    )));
                }
            };
            let aud = policy::item_audience(self.partner(), releasable.as_deref(), f)?;
            let version = meta.version.clone().unwrap_or_default();
            successes.push(StatusDetail {
                id: meta.id,
                version,
                message: None,
            });
            groups.entry(aud).or_default().push(raw);
        }
        let mut batches = Vec::with_capacity(groups.len());
        for (aud, objects) in groups {
            // At most OBJECTS_PER_ENTRY objects per entry (all committed together): collection
            // rows point into entry bodies, and reading one object reads its whole entry.
            let author = who.user_id();
            let payloads = objects
                .chunks(OBJECTS_PER_ENTRY)
                .map(|chunk| {
                    (
                        "stix.objects",
                        stix_objects_json(&f.format_id, &author, chunk),
                    )
                })
                .collect();
            batches.push((aud, payloads));
        }
        Ok((successes, batches))
    }
}

/// The JSON of a `stix.objects` payload ([`StixObjects`]) around object texts that are known
/// to be valid JSON, written directly: the objects are copied once, not parsed again.
fn stix_objects_json(format_id: &str, author: &str, objects: &[&str]) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("strings serialise");
    let mut out = String::with_capacity(objects.iter().map(|o| o.len() + 1).sum::<usize>() + 128);
    out.push_str("{\"format_id\":");
    out.push_str(&quote(format_id));
    out.push_str(",\"author\":");
    out.push_str(&quote(author));
    out.push_str(",\"objects\":[");
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(o);
    }
    out.push_str("]}");
    out
}
