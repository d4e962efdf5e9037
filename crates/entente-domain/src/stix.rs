//! STIX 2.1: structural validation of objects received from clients, the mapping of items to
//! STIX objects, and releasability expressed as a marking-definition with a property
//! extension. Pure: builds and checks JSON values, nothing else.

use crate::{Audience, ItemKind, ItemState, PartnerCode, Tlp};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The extension that carries "releasable to" on a marking-definition.
pub const RELEASABILITY_EXTENSION_ID: &str =
    "extension-definition--7aee7a7d-fad2-4a75-8027-3933f3b27e31";
/// Fixed creation time of the definitions Entente publishes (so they are byte-stable).
const DEFINITIONS_CREATED: &str = "2026-01-01T00:00:00.000Z";

const SCO_TYPES: &[&str] = &[
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// Namespace for Entente's deterministic (v5) STIX ids.
fn namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:entente:stix")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid STIX object{}: {reason}", id.as_ref().map(|i| format!(" {i}")).unwrap_or_default())]
pub struct StixError {
    pub id: Option<String>,
    pub reason: String,
}

fn too_deep() -> StixError {
    err(
        None,
        format!(
            "nested deeper than {} levels",
            crate::json::MAX_OBJECT_DEPTH
        ),
    )
}

fn err(id: Option<&str>, reason: impl Into<String>) -> StixError {
    StixError {
        id: id.map(str::to_owned),
        reason: reason.into(),
    }
}

/// What Entente needs to know of a STIX object to store, filter and release it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StixMeta {
    pub id: String,
    pub stix_type: String,
    /// `modified`, else `created`; None for objects without either (most SCOs).
    pub version: Option<String>,
    pub spec_version: String,
    pub marking_refs: Vec<String>,
    /// The identity the object says created it, if it says.
    pub created_by_ref: Option<String>,
}

impl StixMeta {
    /// The TLP level among the object's markings (TLP 1.0 ids accepted), if any.
    pub fn tlp(&self) -> Option<Tlp> {
        self.marking_refs
            .iter()
            .find_map(|m| Tlp::from_stix_marking_id(m))
    }
}

fn is_type_name(t: &str) -> bool {
    (3..=250).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !t.starts_with('-')
        && !t.ends_with('-')
        && !t.contains("--")
}

/// A STIX timestamp: RFC 3339 in UTC with a `Z`.
pub fn is_timestamp(s: &str) -> bool {
    s.ends_with('Z')
        && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

/// The common properties of a STIX object, borrowed from its JSON text. Any of them with an
/// unexpected JSON type makes this fail to parse, and the tree-based check says what is wrong.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    ty: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    spec_version: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    created: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    modified: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    object_marking_refs: Option<Vec<std::borrow::Cow<'a, str>>>,
    #[serde(borrow)]
    created_by_ref: Option<std::borrow::Cow<'a, str>>,
}

/// [`validate`] straight from JSON text, without building a JSON tree: the fast path for bulk
/// ingest. Gives the same answers as `validate` on the parsed value.
pub fn validate_str(text: &str) -> Result<StixMeta, StixError> {
    // Skipping unknown properties does not recurse, so depth is checked here as `validate`
    // checks it on the tree.
    if crate::json::depth(text.as_bytes()) > crate::json::MAX_OBJECT_DEPTH {
        return Err(too_deep());
    }
    let Ok(h) = serde_json::from_str::<Head<'_>>(text) else {
        // Not an object, not JSON, or a property of the wrong JSON type: let the tree-based
        // check say what is wrong.
        let v: Value = serde_json::from_str(text).map_err(|e| err(None, e.to_string()))?;
        return validate(&v);
    };
    let refs = h
        .object_marking_refs
        .map(|r| Ok(r.into_iter().map(|m| Some(m.into_owned())).collect()));
    check(
        h.id.as_deref(),
        h.ty.as_deref(),
        h.spec_version.as_deref().map(Some),
        h.created.as_deref().map(Some),
        h.modified.as_deref().map(Some),
        refs,
        h.created_by_ref.as_deref().map(Some),
    )
}

/// Check the common properties of a STIX 2.1 object.
pub fn validate(v: &Value) -> Result<StixMeta, StixError> {
    if crate::json::value_depth(v) > crate::json::MAX_OBJECT_DEPTH {
        return Err(too_deep());
    }
    let o = v
        .as_object()
        .ok_or_else(|| err(None, "not a JSON object"))?;
    let text = |k: &str| o.get(k).map(Value::as_str);
    let refs = match o.get("object_marking_refs") {
        None => None,
        Some(Value::Array(a)) => Some(Ok(a
            .iter()
            .map(|m| m.as_str().map(str::to_owned))
            .collect())),
        Some(_) => Some(Err(())),
    };
    check(
        o.get("id").and_then(Value::as_str),
        o.get("type").and_then(Value::as_str),
        text("spec_version"),
        text("created"),
        text("modified"),
        refs,
        text("created_by_ref"),
    )
}

/// The checks behind [`validate`] and [`validate_str`]. `Some(None)` is a property present
/// with a JSON type other than a string; `Some(Err(()))` marking refs are not a list.
fn check(
    id: Option<&str>,
    ty: Option<&str>,
    spec_version: Option<Option<&str>>,
    created: Option<Option<&str>>,
    modified: Option<Option<&str>>,
    marking_refs: Option<Result<Vec<Option<String>>, ()>>,
    created_by_ref: Option<Option<&str>>,
) -> Result<StixMeta, StixError> {
    let id = id.ok_or_else(|| err(None, "missing id"))?;
    let ty = ty.ok_or_else(|| err(Some(id), "missing type"))?;
    if !is_type_name(ty) {
        return Err(err(Some(id), format!("invalid type {ty:?}")));
    }
    let (prefix, uuid) = id
        .split_once("--")
        .ok_or_else(|| err(Some(id), "id is not TYPE--UUID"))?;
    if prefix != ty || Uuid::parse_str(uuid).is_err() {
        return Err(err(Some(id), "id is not TYPE--UUID for its type"));
    }
    let is_sco = SCO_TYPES.contains(&ty);
    let spec = match spec_version {
        Some(Some("2.1")) => "2.1".to_owned(),
        Some(_) => return Err(err(Some(id), "spec_version must be \"2.1\"")),
        None if is_sco => "2.1".to_owned(),
        None => return Err(err(Some(id), "missing spec_version")),
    };
    let ts = |k: &str, v: Option<Option<&str>>| -> Result<Option<String>, StixError> {
        match v {
            None => Ok(None),
            Some(Some(s)) if is_timestamp(s) => Ok(Some(s.to_owned())),
            Some(_) => Err(err(
                Some(id),
                format!("{k} is not an RFC 3339 UTC timestamp"),
            )),
        }
    };
    let created = ts("created", created)?;
    let modified = ts("modified", modified)?;
    if !is_sco {
        if created.is_none() {
            return Err(err(Some(id), "missing created"));
        }
        if modified.is_none() && ty != "marking-definition" {
            return Err(err(Some(id), "missing modified"));
        }
    }
    if let (Some(c), Some(m)) = (&created, &modified)
        && m < c
    {
        return Err(err(Some(id), "modified is before created"));
    }
    let marking_refs = match marking_refs {
        None => vec![],
        Some(Err(())) => return Err(err(Some(id), "object_marking_refs must be a list")),
        Some(Ok(a)) => a
            .into_iter()
            .map(|m| m.filter(|s| s.starts_with("marking-definition--")))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                err(
                    Some(id),
                    "object_marking_refs must be marking-definition ids",
                )
            })?,
    };
    let created_by_ref = match created_by_ref {
        None => None,
        Some(Some(r)) if r.starts_with("identity--") => Some(r.to_owned()),
        Some(_) => return Err(err(Some(id), "created_by_ref must be an identity id")),
    };
    Ok(StixMeta {
        id: id.to_owned(),
        stix_type: ty.to_owned(),
        version: modified.or(created),
        spec_version: spec,
        marking_refs,
        created_by_ref,
    })
}

/// The identity ids of the `known` partners other than `origin`: what an object `origin`
/// signs may not claim to be or to come from (see [`claims_other_partner`]).
pub fn other_partner_identities<'a>(
    origin: &PartnerCode,
    known: impl IntoIterator<Item = &'a PartnerCode>,
) -> Vec<(String, PartnerCode)> {
    let mut out: Vec<(String, PartnerCode)> = known
        .into_iter()
        .filter(|p| *p != origin)
        .map(|p| (partner_identity_id(p), p.clone()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Why an object claims to be another partner's, if it does: its `created_by_ref` names one
/// of `others` (from [`other_partner_identities`]), or it *is* one of them. Identities outside
/// the partnership (a vendor's, MITRE's) are fine: shared intelligence keeps its creator.
pub fn claims_other_partner(meta: &StixMeta, others: &[(String, PartnerCode)]) -> Option<String> {
    for (ident, p) in others {
        if meta.created_by_ref.as_deref() == Some(ident.as_str()) {
            return Some(format!(
                "{}: created_by_ref names {p}'s identity, which only {p} may use",
                meta.id
            ));
        }
        if meta.id == *ident {
            return Some(format!(
                "{}: {p}'s identity can only come from {p}",
                meta.id
            ));
        }
    }
    None
}

/// The deterministic id of the releasability marking for an audience.
pub fn releasability_marking_id(aud: &Audience) -> String {
    format!(
        "marking-definition--{}",
        Uuid::new_v5(
            &namespace(),
            format!("releasable-to:{}", aud.key()).as_bytes()
        )
    )
}

pub fn partner_identity_id(p: &PartnerCode) -> String {
    format!(
        "identity--{}",
        Uuid::new_v5(&namespace(), format!("partner:{p}").as_bytes())
    )
}

fn entente_identity_id() -> String {
    format!("identity--{}", Uuid::new_v5(&namespace(), b"entente"))
}

/// The marking-definition expressing "releasable to" this audience.
pub fn releasability_marking(aud: &Audience) -> Value {
    let codes: Vec<&str> = aud.iter().map(|p| p.as_str()).collect();
    json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": releasability_marking_id(aud),
        "created": DEFINITIONS_CREATED,
        "created_by_ref": entente_identity_id(),
        "name": format!("Releasable to {}", codes.join(", ")),
        "extensions": {
            RELEASABILITY_EXTENSION_ID: {
                "extension_type": "property-extension",
                "releasable_to": codes,
            }
        }
    })
}

/// The extension-definition of the releasability extension.
pub fn releasability_extension_definition() -> Value {
    json!({
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": RELEASABILITY_EXTENSION_ID,
        "created_by_ref": entente_identity_id(),
        "created": DEFINITIONS_CREATED,
        "modified": DEFINITIONS_CREATED,
        "name": "entente releasability",
        "description": "Carries the set of partners (releasable_to) an object is released to.",
        "schema": "The releasable_to property is a sorted list of partner codes (upper-case ASCII letters).",
        "version": "1.0.0",
        "extension_types": ["property-extension"]
    })
}

/// The identity that created Entente's definitions.
pub fn entente_identity() -> Value {
    json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": entente_identity_id(),
        "created": DEFINITIONS_CREATED,
        "modified": DEFINITIONS_CREATED,
        "name": "Entente",
        "identity_class": "system"
    })
}

/// Read the audience from a releasability marking-definition, if it is one.
pub fn audience_of_marking(v: &Value) -> Option<Result<Audience, String>> {
    if v.get("type")?.as_str()? != "marking-definition" {
        return None;
    }
    let ext = v.get("extensions")?.get(RELEASABILITY_EXTENSION_ID)?;
    let codes = ext.get("releasable_to").and_then(Value::as_array);
    Some(match codes {
        Some(a) => a
            .iter()
            .map(|c| {
                c.as_str()
                    .ok_or("partner codes are strings".to_owned())
                    .and_then(|s| PartnerCode::parse(s).map_err(|e| e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
            .and_then(|v| Audience::new(v).map_err(|e| e.to_string())),
        None => Err("releasable_to is missing".into()),
    })
}

/// The STIX object an item is served as: report (reports, assessments), incident, note (notes,
/// lessons learned) or course-of-action (best practices); marked with its TLP level and its
/// releasability, created by its origin partner's identity.
pub fn item_to_stix(it: &ItemState) -> Value {
    let ty = stix_type_of(it.kind);
    let mut o = Map::new();
    o.insert("type".into(), json!(ty));
    o.insert("spec_version".into(), json!("2.1"));
    o.insert("id".into(), json!(item_stix_id(it)));
    o.insert("created".into(), json!(it.created_at));
    o.insert("modified".into(), json!(it.updated_at));
    o.insert(
        "created_by_ref".into(),
        json!(partner_identity_id(&it.origin)),
    );
    o.insert(
        "object_marking_refs".into(),
        json!([
            it.tlp.stix_marking_id(),
            releasability_marking_id(&it.audience)
        ]),
    );
    let mut labels = vec![it.kind.as_str().to_owned()];
    labels.extend(it.topics.iter().cloned());
    o.insert("labels".into(), json!(labels));
    let origin_ref = json!([partner_identity_id(&it.origin)]);
    match ty {
        "note" => {
            o.insert("abstract".into(), json!(it.title));
            o.insert(
                "content".into(),
                json!(if it.body.is_empty() {
                    &it.title
                } else {
                    &it.body
                }),
            );
            o.insert("object_refs".into(), origin_ref);
        }
        _ => {
            o.insert("name".into(), json!(it.title));
            if !it.body.is_empty() {
                o.insert("description".into(), json!(it.body));
            }
            if ty == "report" {
                o.insert("report_types".into(), json!(["threat-report"]));
                o.insert("published".into(), json!(it.created_at));
                o.insert("object_refs".into(), origin_ref);
            }
        }
    }
    Value::Object(o)
}

/// STIX's namespace for the ids of cyber-observable objects (STIX 2.1, section 2.9).
const SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00ab_edb4_aa42_466c_9c01_fed2_3315_a9b7);

/// The id of the `artifact` standing for a file: a v5 UUID, in STIX's namespace for
/// observables, of the artifact's id-contributing property (`hashes`) in canonical JSON. The
/// copies at different partners are one object, and so is an artifact another tool made of
/// the same bytes with a SHA-256 alone (a tool that also records MD5 or SHA-1 derives its id
/// from that hash instead, as the specification prefers those).
pub fn artifact_id(sha256: &str) -> String {
    let canonical = format!(r#"{{"hashes":{{"SHA-256":"{sha256}"}}}}"#);
    format!(
        "artifact--{}",
        Uuid::new_v5(&SCO_NAMESPACE, canonical.as_bytes())
    )
}

/// Where one of an item's files is downloaded from the node whose API is at `base` (the
/// reader signs in and must be allowed to see the item; the bytes come as a file to save).
pub fn attachment_url(base: &str, item_id: &str, sha256: &str) -> String {
    format!(
        "{}/api/v1/items/{item_id}/attachments/{sha256}",
        base.trim_end_matches('/')
    )
}

/// The item's files listed on its STIX object as external references: name, download URL at
/// the node at `base` and SHA-256, which the item's signed entry covers. Every file the entry
/// names is listed, as the item's page lists them: the URL answers once the file has arrived
/// and passed the checks here (a 409 says it is arriving or was withheld). (Served objects carry
/// references rather than `artifact` objects so that one item stays one object on a TAXII
/// page; the bundle export adds the artifacts, see [`attachment_artifact`].)
pub fn add_file_references(o: &mut Value, base: &str, it: &ItemState) {
    if it.attachments.is_empty() {
        return;
    }
    let Some(obj) = o.as_object_mut() else {
        return;
    };
    let refs: Vec<Value> = it
        .attachments
        .iter()
        .map(|a| {
            json!({
                "source_name": "entente-attachment",
                "description": a.name,
                "url": attachment_url(base, &it.item_id, &a.sha256),
                "hashes": {"SHA-256": a.sha256},
            })
        })
        .collect();
    obj.insert("external_references".into(), Value::Array(refs));
}

/// One of an item's files as a STIX `artifact`: its media type (as this node detected it
/// from the bytes), where to download it and its hash, marked as the item is.
pub fn attachment_artifact(
    it: &ItemState,
    a: &crate::attachment::AttachmentRef,
    media_type: &str,
    base: &str,
) -> Value {
    json!({
        "type": "artifact",
        "spec_version": "2.1",
        "id": artifact_id(&a.sha256),
        "mime_type": media_type,
        "url": attachment_url(base, &it.item_id, &a.sha256),
        "hashes": {"SHA-256": a.sha256},
        "object_marking_refs": [it.tlp.stix_marking_id(), releasability_marking_id(&it.audience)],
    })
}

/// The `related-to` relationship from an item's object to the artifact of one of its files,
/// with an id derived from both (stable across exports and partners), created by the item's
/// origin and marked as the item is.
pub fn attachment_relationship(it: &ItemState, a: &crate::attachment::AttachmentRef) -> Value {
    let id = Uuid::new_v5(
        &namespace(),
        format!("attachment:{}:{}", it.item_id, a.sha256).as_bytes(),
    );
    json!({
        "type": "relationship",
        "spec_version": "2.1",
        "id": format!("relationship--{id}"),
        "created": it.created_at,
        "modified": it.updated_at,
        "created_by_ref": partner_identity_id(&it.origin),
        "relationship_type": "related-to",
        "source_ref": item_stix_id(it),
        "target_ref": artifact_id(&a.sha256),
        "description": format!("attachment: {}", a.name),
        "object_marking_refs": [it.tlp.stix_marking_id(), releasability_marking_id(&it.audience)],
    })
}

pub fn stix_type_of(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Report | ItemKind::Assessment => "report",
        ItemKind::Incident => "incident",
        ItemKind::Note | ItemKind::LessonLearned => "note",
        ItemKind::BestPractice => "course-of-action",
    }
}

/// The STIX id an item is served under. Item ids are time-ordered v7 UUIDs, which STIX tools
/// reject; the same 128 bits with the version nibble set to 4 keep the id unique, stable and
/// time-ordered (so the index of served objects grows at its end instead of at random places).
pub fn item_stix_id(it: &ItemState) -> String {
    let u = Uuid::parse_str(&it.item_id)
        .map(|u| {
            let mut b = *u.as_bytes();
            b[6] = (b[6] & 0x0f) | 0x40;
            b[8] = (b[8] & 0x3f) | 0x80;
            Uuid::from_bytes(b)
        })
        .unwrap_or_else(|_| Uuid::new_v5(&namespace(), format!("item:{}", it.item_id).as_bytes()));
    format!("{}--{}", stix_type_of(it.kind), u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::code;

    fn check(v: Value, expected: Result<(&str, Option<&str>), &str>) {
        let got = validate(&v);
        match expected {
            Ok((ty, version)) => {
                let m = got.unwrap_or_else(|e| panic!("{v}: {e}"));
                assert_eq!((m.stix_type.as_str(), m.version.as_deref()), (ty, version));
            }
            Err(reason) => assert!(
                got.as_ref().is_err_and(|e| e.reason.contains(reason)),
                "{v}: {got:?}"
            ),
        }
    }

    #[test]
    fn artifact_ids_are_those_stix_tools_compute() {
        // The id the OASIS `stix2` Python library gives
        // `Artifact(hashes={"SHA-256": <empty file>}, ...)`: an artifact from here and the
        // same file met by MISP or OpenCTI are one object.
        assert_eq!(
            artifact_id("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            "artifact--22f8ff52-8f62-5f03-a53a-6f50f54fd74c"
        );
        assert_eq!(
            attachment_url("https://eu.example:8443/", "i1", "ab"),
            "https://eu.example:8443/api/v1/items/i1/attachments/ab"
        );
    }

    #[test]
    fn validate_str_agrees_with_validate() {
        for v in [
            json!({"type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-02T00:00:00.000Z", "object_marking_refs": ["marking-definition--x"], "name": "n"}),
            json!({"type": "indicator", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}),
            json!({"type": "ipv4-addr", "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd", "value": "198.51.100.3"}),
            json!([1]),
            json!({"type": 7}),
        ] {
            assert_eq!(validate_str(&v.to_string()), validate(&v), "{v}");
        }
    }

    #[test]
    fn validation() {
        let base = json!({"type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-02T00:00:00.000Z"});
        check(
            base.clone(),
            Ok(("indicator", Some("2026-01-02T00:00:00.000Z"))),
        );
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        check(
            with("id", json!("malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")),
            Err("TYPE--UUID"),
        );
        check(with("id", json!("indicator--nope")), Err("TYPE--UUID"));
        check(with("spec_version", json!("2.0")), Err("spec_version"));
        check(with("modified", json!("yesterday")), Err("modified"));
        check(
            with("modified", json!("2025-01-01T00:00:00Z")),
            Err("before created"),
        );
        check(with("type", json!("Indicator")), Err("invalid type"));
        check(
            with("object_marking_refs", json!(["tlp:red"])),
            Err("marking"),
        );
        check(json!([1]), Err("not a JSON object"));
        check(
            json!({"type": "ipv4-addr", "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd", "value": "198.51.100.3"}),
            Ok(("ipv4-addr", None)),
        );
    }

    #[test]
    fn releasability_markings_round_trip_and_are_deterministic() {
        let a = Audience::new([code("JPN"), code("EU")]).unwrap();
        let m = releasability_marking(&a);
        assert_eq!(
            m["id"],
            releasability_marking_id(&Audience::new([code("EU"), code("JPN")]).unwrap())
        );
        assert_eq!(
            m["extensions"][RELEASABILITY_EXTENSION_ID]["releasable_to"],
            json!(["EU", "JPN"])
        );
        assert_eq!(audience_of_marking(&m), Some(Ok(a)));
        validate(&m).unwrap();
        validate(&releasability_extension_definition()).unwrap();
        assert_ne!(
            releasability_marking_id(&Audience::single(code("EU"))),
            m["id"].as_str().unwrap()
        );
    }
}
