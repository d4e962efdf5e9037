//! MISP event JSON to STIX 2.1: attributes (and the attributes of MISP objects) become
//! indicators or notes, the event a report, galaxy clusters attack patterns; `tlp:*` tags
//! give the TLP level and the distribution / sharing group gives "releasable to" where the
//! organisations map to partners. Pure: JSON in, JSON out.

use crate::{PartnerCode, Tlp};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

#[derive(Debug, Clone, Default)]
pub struct MispOptions {
    /// MISP organisation name (or uuid) → partner code. An organisation whose name is itself
    /// a partner code maps to it without an entry.
    pub org_map: BTreeMap<String, PartnerCode>,
    /// Sharing groups (MISP export, as in `sharing_groups.json`) to resolve sharing_group_id.
    pub sharing_groups: Vec<Value>,
}

/// What an event converts to.
#[derive(Debug, Clone, PartialEq)]
pub struct MispConversion {
    pub objects: Vec<Value>,
    /// From `tlp:*` tags; None when the event carries none (treated as RED by the caller).
    pub tlp: Option<Tlp>,
    /// From the distribution: None = originator only; Some(set) = these partners (the caller
    /// adds itself and checks membership of the format).
    pub releasable_to: Option<BTreeSet<PartnerCode>>,
    /// True when the event is shared beyond one organisation without a sharing group
    /// (community, connected communities, all): every member of the format.
    pub whole_format: bool,
    /// Sharing-group organisations that map to no partner (reported, not released to).
    pub unmapped_orgs: Vec<String>,
}

fn ns() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:entente:misp")
}

fn stix_id(ty: &str, key: &str) -> String {
    match Uuid::parse_str(key) {
        Ok(u) if u.get_version_num() == 4 || u.get_version_num() == 5 => format!("{ty}--{u}"),
        _ => format!(
            "{ty}--{}",
            Uuid::new_v5(&ns(), format!("{ty}:{key}").as_bytes())
        ),
    }
}

fn ts_from_epoch(v: Option<&Value>) -> String {
    let secs = v
        .and_then(|t| {
            t.as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .or_else(|| t.as_i64())
        })
        .unwrap_or(0);
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// The STIX pattern for a MISP attribute type, if it is an observable we can express.
fn pattern(ty: &str, value: &str) -> Option<String> {
    let v = esc(value);
    Some(match ty {
        "ip-src" | "ip-dst" if value.contains(':') => format!("[ipv6-addr:value = '{v}']"),
        "ip-src" | "ip-dst" => format!("[ipv4-addr:value = '{v}']"),
        "domain" | "hostname" => format!("[domain-name:value = '{v}']"),
        "url" | "link" | "uri" => format!("[url:value = '{v}']"),
        "md5" => format!("[file:hashes.MD5 = '{v}']"),
        "sha1" => format!("[file:hashes.'SHA-1' = '{v}']"),
        "sha256" => format!("[file:hashes.'SHA-256' = '{v}']"),
        "filename" => format!("[file:name = '{v}']"),
        "email-src" | "email-dst" | "email" => format!("[email-addr:value = '{v}']"),
        _ => return None,
    })
}

fn tags(v: &Value) -> Vec<String> {
    v.get("Tag")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("name")?.as_str().map(str::to_owned))
        .collect()
}

fn tlp_of(tags: &[String]) -> Option<Tlp> {
    tags.iter()
        .filter_map(|t| t.strip_prefix("tlp:").or_else(|| t.strip_prefix("TLP:")))
        .find_map(|l| Tlp::parse(l).ok())
}

/// Convert one MISP event (bare, or wrapped as `{"Event": …}`).
pub fn event_to_stix(doc: &Value, opts: &MispOptions) -> Result<MispConversion, String> {
    let ev = doc.get("Event").unwrap_or(doc);
    if !ev.is_object() {
        return Err("a MISP event is a JSON object".into());
    }
    let ev_tags = tags(ev);
    let tlp = tlp_of(&ev_tags);
    let tlp_ref = tlp.map(|t| t.stix_marking_id());
    let created = ts_from_epoch(ev.get("timestamp"));
    let key = ev
        .get("uuid")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{doc}"));
    let report_id = stix_id("report", &key);
    let mut objects = vec![];
    let mut refs = vec![];
    let marking = |o: &mut Value| {
        if let Some(r) = tlp_ref {
            o["object_marking_refs"] = json!([r]);
        }
    };
    let mut attrs: Vec<&Value> = ev
        .get("Attribute")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    for obj in ev
        .get("Object")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        attrs.extend(
            obj.get("Attribute")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
    }
    for a in attrs {
        if a.get("deleted").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let ty = a.get("type").and_then(Value::as_str).unwrap_or("");
        let value = a.get("value").and_then(Value::as_str).unwrap_or("");
        let akey = a
            .get("uuid")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{key}:{ty}:{value}"));
        let ts = a
            .get("timestamp")
            .map(|t| ts_from_epoch(Some(t)))
            .unwrap_or_else(|| created.clone());
        let mut o = match pattern(ty, value) {
            Some(p) => json!({
                "type": "indicator", "spec_version": "2.1", "id": stix_id("indicator", &akey),
                "created": ts, "modified": ts, "name": format!("{ty}: {value}"),
                "indicator_types": ["malicious-activity"], "pattern": p, "pattern_type": "stix", "valid_from": ts,
                "labels": [format!("misp:category=\"{}\"", a.get("category").and_then(Value::as_str).unwrap_or(""))],
            }),
            None => json!({
                "type": "note", "spec_version": "2.1", "id": stix_id("note", &akey),
                "created": ts, "modified": ts, "abstract": format!("MISP {ty}"),
                "content": if value.is_empty() { ty.to_owned() } else { value.to_owned() }, "object_refs": [report_id],
            }),
        };
        marking(&mut o);
        refs.push(o["id"].clone());
        objects.push(o);
    }
    for g in ev
        .get("Galaxy")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for c in g
            .get("GalaxyCluster")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = c.get("value").and_then(Value::as_str).unwrap_or("unnamed");
            let ckey = c.get("uuid").and_then(Value::as_str).unwrap_or(name);
            let mut o = json!({"type": "attack-pattern", "spec_version": "2.1", "id": stix_id("attack-pattern", ckey),
                "created": created, "modified": created, "name": name});
            if let Some(d) = c.get("description").and_then(Value::as_str) {
                o["description"] = json!(d);
            }
            marking(&mut o);
            refs.push(o["id"].clone());
            objects.push(o);
        }
    }
    if refs.is_empty() {
        refs.push(json!(crate::stix::partner_identity_id(
            &PartnerCode::parse("EU").unwrap_or_else(|_| unreachable!())
        )));
    }
    let mut report = json!({
        "type": "report", "spec_version": "2.1", "id": report_id, "created": created, "modified": created,
        "name": ev.get("info").and_then(Value::as_str).unwrap_or("MISP event"),
        "report_types": ["threat-report"], "published": created, "object_refs": refs,
        "labels": ev_tags,
    });
    marking(&mut report);
    objects.insert(0, report);

    // Distribution: 0 your organisation only, 1 this community, 2 connected communities,
    // 3 all communities, 4 sharing group.
    let dist = ev
        .get("distribution")
        .and_then(|d| {
            d.as_str()
                .and_then(|s| s.parse::<u8>().ok())
                .or_else(|| d.as_u64().map(|n| n as u8))
        })
        .unwrap_or(0);
    let (mut releasable_to, mut whole_format, mut unmapped) = (None, false, vec![]);
    match dist {
        1..=3 => whole_format = true,
        4 => {
            let sg_id = ev.get("sharing_group_id").and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            });
            let embedded = ev.get("SharingGroup").cloned();
            let group = embedded.or_else(|| {
                opts.sharing_groups
                    .iter()
                    .find(|g| {
                        g.get("SharingGroup")
                            .and_then(|s| s.get("id"))
                            .and_then(Value::as_str)
                            == sg_id.as_deref()
                    })
                    .cloned()
            });
            let group = group.ok_or_else(|| {
                format!(
                    "sharing group {} is not known; pass the sharing groups export",
                    sg_id.unwrap_or_default()
                )
            })?;
            let mut set = BTreeSet::new();
            for o in group
                .get("SharingGroupOrg")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let org = o.get("Organisation").unwrap_or(o);
                let name = org.get("name").and_then(Value::as_str).unwrap_or("");
                let uuid = org.get("uuid").and_then(Value::as_str).unwrap_or("");
                match opts
                    .org_map
                    .get(name)
                    .or_else(|| opts.org_map.get(uuid))
                    .cloned()
                    .or_else(|| PartnerCode::parse(name).ok())
                {
                    Some(p) => {
                        set.insert(p);
                    }
                    None => unmapped.push(name.to_owned()),
                }
            }
            releasable_to = Some(set);
        }
        _ => {}
    }
    Ok(MispConversion {
        objects,
        tlp,
        releasable_to,
        whole_format,
        unmapped_orgs: unmapped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::code;

    #[test]
    fn tlp_tags_attributes_and_sharing_groups() {
        let ev = json!({"Event": {"uuid": "5758ebf5-c898-48e6-9fe9-5665c0a83866", "info": "test", "timestamp": "1465681801",
            "distribution": "4", "sharing_group_id": "1", "Tag": [{"name": "tlp:amber"}],
            "Attribute": [{"type": "ip-dst", "value": "198.51.100.1", "uuid": "575c8598-f1f0-4c16-a94a-0612c0a83866", "timestamp": "1465681304"},
                          {"type": "text", "value": "Locky"}]}});
        let groups = vec![json!({"SharingGroup": {"id": "1"}, "SharingGroupOrg": [
            {"Organisation": {"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"}},
            {"Organisation": {"name": "JPN"}}, {"Organisation": {"name": "Somebody"}}]})];
        let opts = MispOptions {
            org_map: BTreeMap::from([("CIRCL".to_owned(), code("EU"))]),
            sharing_groups: groups,
        };
        let c = event_to_stix(&ev, &opts).unwrap();
        assert_eq!(c.tlp, Some(Tlp::Amber));
        assert_eq!(
            c.releasable_to,
            Some(BTreeSet::from([code("EU"), code("JPN")]))
        );
        assert_eq!(c.unmapped_orgs, vec!["Somebody".to_owned()]);
        assert_eq!(c.objects.len(), 3);
        assert_eq!(
            c.objects[1]["pattern"],
            "[ipv4-addr:value = '198.51.100.1']"
        );
        assert_eq!(
            c.objects[1]["object_marking_refs"],
            json!([Tlp::Amber.stix_marking_id()])
        );
        for o in &c.objects {
            crate::stix::validate(o).unwrap();
        }
    }
}
