//! TAXII 2.1 behaviour of a node (the HTTP shapes live in the API crate): one collection per
//! format the caller's partner is a member of, adding STIX objects as signed entries released
//! to the audience their marking names, and filtered, paged, access-checked reads.

use crate::auth::{self, Principal};
use crate::{Node, NodeError};
use entente_domain::payload::{RawJson, StixDelete, StixObjects};
use entente_domain::policy::{self, Viewer};
use entente_domain::stix::{self, StixMeta};
use entente_domain::{Audience, FormatState, PartnerCode, Payload, Role};
use entente_store::{StixQuery, StixRow, VersionFilter};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Objects per `stix.objects` entry: large enough that signing is negligible, small enough
/// that serving one object (which reads its entry) stays cheap.
const OBJECTS_PER_ENTRY: usize = 1000;

/// Largest page a client may ask for.
pub const MAX_PAGE: u32 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxiiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unprocessable(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Collection {
    pub id: String,
    pub title: String,
    pub description: String,
    pub alias: String,
    pub can_read: bool,
    pub can_write: bool,
    pub media_types: Vec<String>,
}

/// Object filters as given on the query string, already split by the API layer.
#[derive(Debug, Clone, Default)]
pub struct TaxiiFilter {
    pub added_after: Option<String>,
    pub ids: Vec<String>,
    pub types: Vec<String>,
    pub versions: Vec<String>,
    pub spec_versions: Vec<String>,
    pub limit: Option<u32>,
    pub next: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ObjectsPage {
    pub rows: Vec<StixRow>,
    pub more: bool,
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusDetail {
    pub id: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusResource {
    pub id: String,
    pub status: String,
    pub request_timestamp: String,
    pub total_count: u64,
    pub success_count: u64,
    pub successes: Vec<StatusDetail>,
    pub failure_count: u64,
    pub failures: Vec<StatusDetail>,
    pub pending_count: u64,
    pub pendings: Vec<StatusDetail>,
}

/// What a MISP import did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MispImport {
    pub objects: usize,
    pub tlp: Option<String>,
    pub releasable_to: Vec<String>,
    pub unmapped_orgs: Vec<String>,
    /// Partners the sharing group named that are not members of the format (not released to).
    pub not_members: Vec<String>,
}

#[derive(Deserialize)]
struct EnvelopeIn<'a> {
    #[serde(borrow, default)]
    objects: Vec<&'a RawValue>,
}

/// A lower-case slug of a format title, used as the collection alias.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

fn bad(msg: impl Into<String>) -> NodeError {
    NodeError::Taxii(TaxiiError::BadRequest(msg.into()))
}

fn unprocessable(msg: impl Into<String>) -> NodeError {
    NodeError::Taxii(TaxiiError::Unprocessable(msg.into()))
}

impl Node {
    /// HTTP Basic authentication: a user's password or one of their API tokens. Verified
    /// credentials are remembered for a minute so paging does not pay argon2 per page.
    pub async fn authenticate_basic(
        &self,
        username: &str,
        secret: &str,
    ) -> Result<Principal, NodeError> {
        let cache_key = hex::encode(Sha256::digest(format!("{username}\n{secret}")));
        if let Some((p, at)) = self
            .basic_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cache_key)
            && at.elapsed() < Duration::from_secs(60)
        {
            return Ok(p.clone());
        }
        let principal = match self.authenticate(secret).await {
            Ok(p) if p.username == username => p,
            _ => {
                let user = self
                    .store
                    .user(username)
                    .await?
                    .ok_or(NodeError::Unauthorized)?;
                if !auth::verify_password(secret, &user.password_hash) {
                    return Err(NodeError::Unauthorized);
                }
                Principal {
                    username: user.username,
                    role: user.role,
                    partner: self.partner().clone(),
                }
            }
        };
        let mut cache = self.basic_cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(cache_key, (principal.clone(), Instant::now()));
        Ok(principal)
    }

    fn collection_of(&self, who: &Principal, f: &FormatState) -> Collection {
        let member = f.members.contains(self.partner());
        Collection {
            id: f.format_id.clone(),
            title: f.title.clone(),
            description: f.description.clone(),
            alias: slug(&f.title),
            can_read: member,
            can_write: member && !f.closed && who.role >= Role::Analyst,
            media_types: vec!["application/stix+json;version=2.1".into()],
        }
    }

    /// The collections the caller may see: one per format its partner is a member of.
    pub async fn taxii_collections(&self, who: &Principal) -> Result<Vec<Collection>, NodeError> {
        Ok(self
            .store
            .formats()
            .await?
            .iter()
            .filter(|f| f.members.contains(self.partner()))
            .map(|f| self.collection_of(who, f))
            .collect())
    }

    /// A collection by id or alias; one the caller may not see does not exist.
    pub async fn taxii_collection(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<(FormatState, Collection), NodeError> {
        let f = match self.store.format(id).await? {
            Some(f) => Some(f),
            None => self
                .store
                .formats()
                .await?
                .into_iter()
                .find(|f| slug(&f.title) == id),
        };
        let f = f
            .filter(|f| f.members.contains(self.partner()))
            .ok_or(NodeError::NotFound("collection"))?;
        let c = self.collection_of(who, &f);
        Ok((f, c))
    }

    /// Every audience a releasability marking could name in this format, by marking id.
    fn known_markings(&self, f: &FormatState) -> HashMap<String, Audience> {
        let members: Vec<&PartnerCode> = f.members.iter().collect();
        let mut out = HashMap::new();
        if members.len() > 12 {
            return out;
        }
        for mask in 1u32..(1 << members.len()) {
            let set: Vec<PartnerCode> = members
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, p)| (*p).clone())
                .collect();
            if let Ok(a) = Audience::new(set) {
                out.insert(stix::releasability_marking_id(&a), a);
            }
        }
        out
    }

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
        let mut markings = self.known_markings(f);
        let mut metas: Vec<(StixMeta, &RawValue)> = Vec::with_capacity(objects.len());
        // First pass: validate everything and learn releasability markings sent along.
        for raw in objects {
            let meta = stix::validate_str(raw.get()).map_err(|e| bad(e.to_string()))?;
            // Only marking-definitions need a full parse (to read a releasability extension).
            let marking_def = if meta.stix_type == "marking-definition" {
                Some(
                    serde_json::from_str::<serde_json::Value>(raw.get())
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
            metas.push((meta, raw));
        }
        // Second pass: each object's audience.
        let mut groups: BTreeMap<Audience, Vec<RawJson>> = BTreeMap::new();
        let mut successes = Vec::with_capacity(metas.len());
        for (meta, raw) in metas {
            let named: Vec<&Audience> = meta
                .marking_refs
                .iter()
                .filter_map(|m| markings.get(m))
                .collect();
            let releasable: Option<Vec<PartnerCode>> = match named.as_slice() {
                [] => None,
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
            let owned: Box<RawValue> =
                RawValue::from_string(raw.get().to_owned()).map_err(|e| bad(e.to_string()))?;
            groups.entry(aud).or_default().push(RawJson(owned));
        }
        for (aud, objects) in groups {
            // At most OBJECTS_PER_ENTRY objects per entry (all committed together): collection
            // rows point into entry bodies, and reading one object reads its whole entry.
            let mut payloads = Vec::with_capacity(objects.len().div_ceil(OBJECTS_PER_ENTRY));
            let mut objects = objects.into_iter().peekable();
            while objects.peek().is_some() {
                payloads.push(Payload::StixObjects(StixObjects {
                    format_id: f.format_id.clone(),
                    author: who.user_id(),
                    objects: objects.by_ref().take(OBJECTS_PER_ENTRY).collect(),
                }));
            }
            self.publish(&aud, &payloads).await?;
        }
        Ok(successes)
    }

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
        let mut done = 0;
        for chunk in b.objects.chunks(batch.max(1)) {
            done += self.add_stix(who, &f, chunk).await?.len() as u64;
            progress(done, total);
        }
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

    fn mac(&self, who: &Principal, collection: &str, pos: &str) -> String {
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

    fn next_token(&self, who: &Principal, collection: &str, pos: &str) -> String {
        format!("{}.{}", pos, self.mac(who, collection, pos))
    }

    /// Check a `next` token: it must have been issued to this user for this collection.
    fn open_token(
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
        let limit = match f.limit {
            Some(0) => return Err(bad("limit must be at least 1")),
            Some(n) => n.min(MAX_PAGE),
            None => 1000,
        };
        let ts = |s: &str, what: &str| -> Result<String, NodeError> {
            if stix::is_timestamp(s) {
                Ok(s.to_owned())
            } else {
                Err(bad(format!(
                    "{what}: {s:?} is not an RFC 3339 UTC timestamp"
                )))
            }
        };
        let added_after = f
            .added_after
            .as_deref()
            .map(|s| ts(s, "added_after"))
            .transpose()?;
        let versions = if f.versions.is_empty() {
            VersionFilter::Last
        } else if f.versions.iter().any(|v| v == "all") {
            VersionFilter::All
        } else if f.versions.iter().all(|v| v == "first") {
            VersionFilter::First
        } else if f.versions.iter().all(|v| v == "last") {
            VersionFilter::Last
        } else {
            VersionFilter::Exact(
                f.versions
                    .iter()
                    .map(|v| ts(v, "match[version]"))
                    .collect::<Result<_, _>>()?,
            )
        };
        for t in &f.types {
            if !t
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                || t.is_empty()
            {
                return Err(bad(format!("match[type]: {t:?} is not a STIX type")));
            }
        }
        for v in &f.spec_versions {
            if !matches!(v.as_str(), "2.0" | "2.1") {
                return Err(bad(format!(
                    "match[spec_version]: {v:?} is not a STIX version"
                )));
            }
        }
        let mut ids = f.ids.clone();
        if let Some(id) = object_id {
            ids = vec![id.to_owned()];
        }
        let after = f
            .next
            .as_deref()
            .map(|t| self.open_token(who, &fmt.format_id, t))
            .transpose()?;
        let mut q = StixQuery {
            collection: fmt.format_id.clone(),
            added_after,
            ids,
            types: f.types,
            spec_versions: if f.spec_versions.is_empty() {
                vec!["2.1".into()]
            } else {
                f.spec_versions
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
        self.render_items(&mut out).await?;
        let sensitive = out
            .iter()
            .filter(|r| r.tlp >= entente_domain::Tlp::Amber)
            .count();
        if sensitive > 0 {
            self.audit(
                &who.user_id(),
                "read",
                &format!(
                    "{sensitive} STIX objects at AMBER or above from collection {}",
                    fmt.format_id
                ),
            )
            .await;
        }
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
        })
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
    /// Rows that stand for items are rendered as STIX from the item's current state.
    async fn render_items(&self, rows: &mut Vec<StixRow>) -> Result<(), NodeError> {
        let ids: Vec<String> = rows
            .iter()
            .filter_map(|r| r.raw.strip_prefix(crate::ITEM_MARKER).map(str::to_owned))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let items: HashMap<String, entente_domain::ItemState> = self
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
                    r.raw = stix::item_to_stix(it).to_string();
                    true
                }
                None => false,
            },
        });
        Ok(())
    }
}

/// The policy check for one stored STIX object version.
pub fn may_see(viewer: &Viewer, r: &StixRow) -> bool {
    policy::may_see(viewer, &r.audience, r.tlp, &r.author, &r.named_users)
}
