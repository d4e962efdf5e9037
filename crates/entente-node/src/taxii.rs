//! TAXII 2.1 behaviour of a node (the HTTP shapes live in the API crate): one collection per
//! format the caller's partner is a member of, adding STIX objects as signed entries released
//! to the audience their marking names, and filtered, paged, access-checked reads.

use crate::auth::Principal;
use crate::{Node, NodeError};
use entente_domain::payload::StixDelete;
use entente_domain::policy::{self, Viewer};
use entente_domain::stix::{self, StixMeta};
use entente_domain::{Audience, FormatState, PartnerCode, Payload, Role};
use entente_store::{StixQuery, StixRow, TokenKind, VersionFilter};
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

/// Object filters as given on the query string.
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

/// A [`TaxiiFilter`] whose values have been checked: what a page of objects is queried with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedFilter {
    pub limit: u32,
    pub added_after: Option<String>,
    pub versions: VersionFilter,
    pub types: Vec<String>,
    pub spec_versions: Vec<String>,
    pub ids: Vec<String>,
    pub next: Option<String>,
}

impl TaxiiFilter {
    /// Parse a TAXII query string: `match[field]` values are comma-separated (OR); unknown
    /// plain parameters are ignored, unknown `match[...]` filters are refused.
    pub fn parse_query(query: &str) -> Result<TaxiiFilter, NodeError> {
        let mut f = TaxiiFilter::default();
        let split = |v: &str| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        };
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "added_after" => f.added_after = Some(v.into_owned()),
                "limit" => {
                    f.limit = Some(
                        v.parse()
                            .map_err(|_| bad(format!("limit: {v:?} is not a positive integer")))?,
                    )
                }
                "next" => f.next = Some(v.into_owned()),
                "match[id]" => f.ids.extend(split(&v)),
                "match[type]" => f.types.extend(split(&v)),
                "match[version]" => f.versions.extend(split(&v)),
                "match[spec_version]" => f.spec_versions.extend(split(&v)),
                other if other.starts_with("match[") => {
                    return Err(bad(format!("unsupported filter {other}")));
                }
                _ => {}
            }
        }
        Ok(f)
    }

    /// Check every value against what TAXII allows, without touching any state.
    pub fn check(self) -> Result<CheckedFilter, NodeError> {
        let limit = match self.limit {
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
        let added_after = self
            .added_after
            .as_deref()
            .map(|s| ts(s, "added_after"))
            .transpose()?;
        let versions = if self.versions.is_empty() {
            VersionFilter::Last
        } else if self.versions.iter().any(|v| v == "all") {
            VersionFilter::All
        } else if self.versions.iter().all(|v| v == "first") {
            VersionFilter::First
        } else if self.versions.iter().all(|v| v == "last") {
            VersionFilter::Last
        } else {
            VersionFilter::Exact(
                self.versions
                    .iter()
                    .map(|v| ts(v, "match[version]"))
                    .collect::<Result<_, _>>()?,
            )
        };
        for t in &self.types {
            if !t
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                || t.is_empty()
            {
                return Err(bad(format!("match[type]: {t:?} is not a STIX type")));
            }
        }
        for v in &self.spec_versions {
            if !matches!(v.as_str(), "2.0" | "2.1") {
                return Err(bad(format!(
                    "match[spec_version]: {v:?} is not a STIX version"
                )));
            }
        }
        Ok(CheckedFilter {
            limit,
            added_after,
            versions,
            types: self.types,
            spec_versions: self.spec_versions,
            ids: self.ids,
            next: self.next,
        })
    }
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

/// Split a STIX bundle held in memory into the texts of its objects with the same scanner
/// the streaming import uses, then validate each object. This is the import's parsing path
/// without a store, for the fuzzer and tests; real imports stream.
pub fn parse_bundle(bytes: &[u8]) -> Result<Vec<StixMeta>, String> {
    let mut out = Vec::new();
    stream::split_into(bytes, 64, &mut |objects| {
        for o in &objects {
            out.push(stix::validate_str(o).map_err(|e| e.to_string())?);
        }
        Ok(())
    })?;
    Ok(out)
}

fn bad(msg: impl Into<String>) -> NodeError {
    NodeError::Taxii(TaxiiError::BadRequest(msg.into()))
}

fn unprocessable(msg: impl Into<String>) -> NodeError {
    NodeError::Taxii(TaxiiError::Unprocessable(msg.into()))
}

impl Node {
    /// HTTP Basic authentication: a user's password or one of their tokens, with the token's
    /// kind (a password counts as a session). A verified *password* is remembered for a minute
    /// so paging does not pay argon2 per page; tokens are looked up every time (a hash lookup),
    /// so a logout or revocation takes effect on the next request (L2). A password is checked
    /// like a login (`check_password`: limits, dummy hash for unknown users, audit; M4).
    pub async fn authenticate_basic(
        &self,
        username: &str,
        secret: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<(Principal, TokenKind), NodeError> {
        if let Ok((p, kind)) = self.authenticate_uncharged(secret).await
            && p.username == username
        {
            self.charge("user", &p.user_id())?;
            return Ok((p, kind));
        }
        let cache_key = hex::encode(Sha256::digest(format!("{username}\n{secret}")));
        let cached = self
            .basic_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cache_key)
            .cloned();
        if let Some((p, at)) = cached
            && at.elapsed() < Duration::from_secs(60)
        {
            // The user as it is now: disabled, deleted or re-roled takes effect at once, even
            // when another process (the CLI) made the change.
            match self.store.user(&p.0.username).await? {
                Some(u) if !u.disabled => {
                    let p = (self.principal(&u), p.1);
                    self.charge("user", &p.0.user_id())?;
                    return Ok(p);
                }
                _ => {
                    self.basic_cache
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&cache_key);
                    return Err(NodeError::Unauthorized);
                }
            }
        }
        let user = self
            .check_password(username, secret, client, "taxii basic")
            .await?;
        let principal = (
            Principal {
                username: user.username,
                role: user.role,
                partner: self.partner().clone(),
            },
            TokenKind::Session,
        );
        let mut cache = self.basic_cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(cache_key, (principal.clone(), Instant::now()));
        drop(cache);
        self.charge("user", &principal.0.user_id())?;
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
    async fn refuse_objects_of_others(
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
    fn prepare_stix(
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
    async fn import_batch(
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

/// Streaming bundle splitting: the text of each element of the bundle's `objects` array is cut
/// out of the reader by a byte scanner (brackets and strings only; each object is fully parsed
/// when it is validated), so a bundle of any size is imported in bounded memory at close to
/// the speed of reading it.
mod stream {
    use std::io::Read;
    use tokio::sync::mpsc::Sender;

    type Batches = Sender<Result<Vec<String>, String>>;

    /// Split `{"type": "bundle", "objects": [...]}` read from `reader`, sending batches of
    /// `batch` object texts; an error is sent as the last message.
    pub(super) fn split_bundle<R: Read>(reader: R, batch: usize, tx: &Batches) {
        let mut sink = |objects: Vec<String>| {
            tx.blocking_send(Ok(objects))
                .map_err(|_| "the import stopped".to_owned())
        };
        if let Err(e) = split_into(reader, batch, &mut sink) {
            let _ = tx.blocking_send(Err(e));
        }
    }

    /// Split a bundle read from `reader`, handing batches of `batch` object texts to `sink`
    /// on the calling thread.
    pub(super) fn split_into<R: Read>(
        reader: R,
        batch: usize,
        sink: &mut dyn FnMut(Vec<String>) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut s = Scanner {
            reader,
            buf: Vec::new(),
            pos: 0,
            offset: 0,
            eof: false,
        };
        s.bundle(batch, sink)
            .map_err(|e| format!("not a STIX bundle: {e}"))
    }

    struct Scanner<R> {
        reader: R,
        buf: Vec<u8>,
        pos: usize,
        /// Bytes dropped from the front of `buf` so far (for error positions).
        offset: usize,
        eof: bool,
    }

    impl<R: Read> Scanner<R> {
        fn fail(&self, what: &str) -> String {
            format!("{what} at byte {}", self.offset + self.pos)
        }

        /// The next byte without consuming it, reading more when needed.
        fn peek(&mut self) -> Result<Option<u8>, String> {
            if self.pos == self.buf.len() && !self.eof {
                // Drop what has been consumed, then read on.
                self.offset += self.pos;
                self.buf.drain(..self.pos);
                self.pos = 0;
                let mut chunk = [0u8; 1 << 16];
                let n = self.reader.read(&mut chunk).map_err(|e| e.to_string())?;
                if n == 0 {
                    self.eof = true;
                } else {
                    self.buf.extend_from_slice(&chunk[..n]);
                }
            }
            Ok(self.buf.get(self.pos).copied())
        }

        fn next(&mut self) -> Result<u8, String> {
            let b = self
                .peek()?
                .ok_or_else(|| self.fail("unexpected end of file"))?;
            self.pos += 1;
            Ok(b)
        }

        fn skip_ws(&mut self) -> Result<Option<u8>, String> {
            while let Some(b) = self.peek()? {
                if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                    return Ok(Some(b));
                }
                self.pos += 1;
            }
            Ok(None)
        }

        fn expect(&mut self, want: u8) -> Result<(), String> {
            self.skip_ws()?;
            if self.next()? == want {
                Ok(())
            } else {
                Err(self.fail(&format!("expected '{}'", want as char)))
            }
        }

        /// Consume one JSON value and return its text. Containers are matched bracket for
        /// bracket (skipping strings); scalars run to the next delimiter.
        fn value(&mut self) -> Result<Vec<u8>, String> {
            self.skip_ws()?;
            let start = self.pos;
            // Keep the value's bytes in `buf` until it ends: refills must not drop them.
            let mut out = Vec::new();
            let mut depth = 0usize;
            let mut in_str = false;
            let mut esc = false;
            loop {
                if self.pos == self.buf.len() {
                    out.extend_from_slice(&self.buf[start.min(self.buf.len())..]);
                    // Everything so far is copied out; the refill may drop it.
                    self.pos = self.buf.len();
                    if self.peek()?.is_none() {
                        if depth == 0 && !in_str && !out.is_empty() {
                            return Ok(out);
                        }
                        return Err(self.fail("unexpected end of file"));
                    }
                    return self.value_rest(out, depth, in_str, esc);
                }
                if in_str && !esc {
                    // Jump over string contents to the next quote or backslash.
                    match memchr::memchr2(b'"', b'\\', &self.buf[self.pos..]) {
                        Some(off) => self.pos += off,
                        None => {
                            self.pos = self.buf.len();
                            continue;
                        }
                    }
                }
                let b = self.buf[self.pos];
                if let Some(done) = step(b, &mut depth, &mut in_str, &mut esc, start == self.pos) {
                    if done {
                        self.pos += 1;
                    }
                    out.extend_from_slice(&self.buf[start..self.pos]);
                    return Ok(out);
                }
                self.pos += 1;
            }
        }

        /// The rest of a value that crossed a refill; `out` holds its start.
        fn value_rest(
            &mut self,
            mut out: Vec<u8>,
            mut depth: usize,
            mut in_str: bool,
            mut esc: bool,
        ) -> Result<Vec<u8>, String> {
            loop {
                let Some(b) = self.peek()? else {
                    if depth == 0 && !in_str {
                        return Ok(out);
                    }
                    return Err(self.fail("unexpected end of file"));
                };
                if let Some(done) = step(b, &mut depth, &mut in_str, &mut esc, out.is_empty()) {
                    if done {
                        out.push(b);
                        self.pos += 1;
                    }
                    return Ok(out);
                }
                out.push(b);
                self.pos += 1;
            }
        }

        /// The envelope around the objects is small: each of its keys and values is checked
        /// as JSON here, so a bundle is accepted only if the whole text is JSON.
        fn bundle(
            &mut self,
            batch: usize,
            sink: &mut dyn FnMut(Vec<String>) -> Result<(), String>,
        ) -> Result<(), String> {
            self.expect(b'{')?;
            let mut is_bundle = false;
            let mut has_objects = false;
            let mut first = true;
            loop {
                match self.skip_ws()? {
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    Some(b',') if !first => self.pos += 1,
                    _ if first => {}
                    _ => return Err(self.fail("expected ',' or '}'")),
                }
                first = false;
                let key = self.value()?;
                let key: String = serde_json::from_slice(&key)
                    .map_err(|e| self.fail(&format!("a key that is not a JSON string ({e})")))?;
                self.expect(b':')?;
                match key.as_str() {
                    "objects" if has_objects => return Err(self.fail("a second \"objects\"")),
                    "objects" => {
                        has_objects = true;
                        self.objects(batch, sink)?
                    }
                    "type" if is_bundle => return Err(self.fail("a second \"type\"")),
                    "type" => {
                        let t = self.value()?;
                        if t != b"\"bundle\"" {
                            return Err(format!(
                                "type is {}, not \"bundle\"",
                                String::from_utf8_lossy(&t)
                            ));
                        }
                        is_bundle = true;
                    }
                    _ => {
                        let v = self.value()?;
                        // From a str: skipping a string from bytes does not check its UTF-8.
                        std::str::from_utf8(&v)
                            .map_err(|e| e.to_string())
                            .and_then(|v| {
                                serde_json::from_str::<serde::de::IgnoredAny>(v)
                                    .map_err(|e| e.to_string())
                            })
                            .map_err(|e| {
                                self.fail(&format!("the value of {key:?} is not JSON ({e})"))
                            })?;
                    }
                }
            }
            if self.skip_ws()?.is_some() {
                return Err(self.fail("trailing characters"));
            }
            if !is_bundle {
                return Err("no \"type\": \"bundle\"".into());
            }
            Ok(())
        }

        fn objects(
            &mut self,
            batch: usize,
            sink: &mut dyn FnMut(Vec<String>) -> Result<(), String>,
        ) -> Result<(), String> {
            self.expect(b'[')?;
            let mut buf = Vec::with_capacity(batch);
            if self.skip_ws()? == Some(b']') {
                self.pos += 1;
                return Ok(());
            }
            loop {
                let text = self.value()?;
                let text = String::from_utf8(text).map_err(|_| self.fail("invalid UTF-8"))?;
                buf.push(text);
                if buf.len() == batch {
                    let full = std::mem::replace(&mut buf, Vec::with_capacity(batch));
                    sink(full)?;
                }
                self.skip_ws()?;
                match self.next()? {
                    b',' => continue,
                    b']' => break,
                    _ => return Err(self.fail("expected ',' or ']'")),
                }
            }
            if !buf.is_empty() {
                sink(buf)?;
            }
            Ok(())
        }
    }

    /// Advance the value scanner over byte `b`. `Some(true)`: the value ends with `b`;
    /// `Some(false)`: it ended just before `b` (a scalar's delimiter); `None`: go on.
    fn step(
        b: u8,
        depth: &mut usize,
        in_str: &mut bool,
        esc: &mut bool,
        first: bool,
    ) -> Option<bool> {
        if *in_str {
            if *esc {
                *esc = false;
            } else if b == b'\\' {
                *esc = true;
            } else if b == b'"' {
                *in_str = false;
                if *depth == 0 {
                    return Some(true);
                }
            }
            return None;
        }
        match b {
            b'"' => *in_str = true,
            b'{' | b'[' => *depth += 1,
            b'}' | b']' if *depth > 0 => {
                *depth -= 1;
                if *depth == 0 {
                    return Some(true);
                }
            }
            b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r' if *depth == 0 && !first => {
                return Some(false);
            }
            _ => {}
        }
        None
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// A reader that hands out one byte per call, so every refill path is taken.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                match (self.0.split_first(), out.first_mut()) {
                    (Some((b, rest)), Some(o)) => {
                        *o = *b;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }

        /// Split `input` (whole and one byte at a time) into batches of 2; both must agree.
        fn check(input: &str, expected: Result<Vec<Vec<&str>>, &str>) {
            for trickle in [false, true] {
                let (tx, mut rx) = tokio::sync::mpsc::channel(100);
                let owned = input.as_bytes().to_vec();
                std::thread::spawn(move || {
                    if trickle {
                        split_bundle(Trickle(&owned), 2, &tx)
                    } else {
                        split_bundle(owned.as_slice(), 2, &tx)
                    }
                })
                .join()
                .expect("splitter");
                let mut got = Vec::new();
                let mut err = None;
                while let Some(m) = rx.blocking_recv() {
                    match m {
                        Ok(b) => got.push(b),
                        Err(e) => err = Some(e),
                    }
                }
                match (&expected, err) {
                    (Ok(want), None) => assert_eq!(&got, want, "{input} (trickle: {trickle})"),
                    (Err(want), Some(e)) => assert!(e.contains(want), "{input}: {e}"),
                    (want, got_err) => panic!("{input}: wanted {want:?}, error {got_err:?}"),
                }
            }
        }

        #[test]
        fn bundles_split_into_their_objects() {
            check(
                r#"{"type":"bundle","id":"bundle--1","objects":[{"a":1},{"b":"x]}"},{"c":"q\"}{"}]}"#,
                Ok(vec![
                    vec![r#"{"a":1}"#, r#"{"b":"x]}"}"#],
                    vec![r#"{"c":"q\"}{"}"#],
                ]),
            );
            check(
                " { \"objects\" : [ {\"n\": [1, {\"d\": []}]} ] , \"type\" : \"bundle\" } \n",
                Ok(vec![vec![r#"{"n": [1, {"d": []}]}"#]]),
            );
            check(r#"{"type":"bundle","objects":[]}"#, Ok(vec![]));
            check(r#"{"type":"bundle"}"#, Ok(vec![]));
            // Not objects: passed on as text, refused when validated.
            check(
                r#"{"type":"bundle","objects":[1,"s"]}"#,
                Ok(vec![vec!["1", r#""s""#]]),
            );
        }

        #[test]
        fn broken_bundles_are_refused() {
            check(r#"{"type":"indicator","id":"x"}"#, Err("not \"bundle\""));
            check(r#"{"objects":[{"a":1}]}"#, Err("no \"type\""));
            check(r#"{"type":"bundle","objects":[{"a":1}"#, Err("end of file"));
            check(
                r#"{"type":"bundle","objects":[{"a":1} {"b":2}]}"#,
                Err("expected ','"),
            );
            check(r#"{"type":"bundle","objects":[]} x"#, Err("trailing"));
            check(r#"[{"type":"bundle"}]"#, Err("expected '{'"));
            check("", Err("end of file"));
            // Found by the stix_bundle fuzz target: the envelope's own values were skipped
            // unchecked, so text that is not JSON was accepted as a bundle.
            check(
                "{\"type\":\"bundle\",\"id\":\"bundle--\u{0}\",\"objects\":[]}",
                Err("value of \"id\" is not JSON"),
            );
            check(
                r#"{"type":"bundle","id":tru,"objects":[]}"#,
                Err("value of \"id\" is not JSON"),
            );
            check(r#"{type:"bundle","objects":[]}"#, Err("not a JSON string"));
            // Found by the fuzzer too: invalid UTF-8 inside an envelope string.
            let e = split_into(
                &b"{\"type\":\"bundle\",\"id\":\"b\xcb\",\"objects\":[]}"[..],
                2,
                &mut |_| Ok(()),
            );
            assert!(e.is_err_and(|e| e.contains("value of \"id\" is not JSON")));
            // Two "objects" arrays: a JSON reader would keep only the last; refuse instead.
            check(
                r#"{"type":"bundle","objects":[{"a":1}],"objects":[]}"#,
                Err("a second \"objects\""),
            );
        }
    }
}
