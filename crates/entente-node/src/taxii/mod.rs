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
pub(super) const OBJECTS_PER_ENTRY: usize = 1000;

/// Largest page a client may ask for.
pub const MAX_PAGE: u32 = 10_000;

pub use crate::error::TaxiiError;

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
    /// The items among the rows, as they were rendered (an export adds their files).
    pub items: Vec<entente_domain::ItemState>,
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
pub(super) struct EnvelopeIn<'a> {
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

pub(super) fn bad(msg: impl Into<String>) -> NodeError {
    NodeError::Taxii(TaxiiError::BadRequest(msg.into()))
}

pub(super) fn unprocessable(msg: impl Into<String>) -> NodeError {
    NodeError::Taxii(TaxiiError::Unprocessable(msg.into()))
}

mod add;
mod export;
mod import;
mod pages;
mod read;
mod stream;

pub use pages::{BUDGET as PAGE_CACHE_BUDGET, RenderedPage, envelope_body};
pub use read::may_see;

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

    pub(super) fn collection_of(&self, who: &Principal, f: &FormatState) -> Collection {
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
    pub(super) fn known_markings(&self, f: &FormatState) -> HashMap<String, Audience> {
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
}
