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
    // MISP timestamps are seconds since 1970. One before 1970 or past the year 9999 (the
    // fuzzer sent -77777777777, the year -495) cannot be a STIX timestamp: it reads as absent.
    const LAST: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let secs = if (0..=LAST).contains(&secs) { secs } else { 0 };
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

    /// Found by the `misp_import` fuzz target: an event timestamp of -77777777777 seconds
    /// became the year -495, which no STIX validator accepts.
    #[test]
    fn a_timestamp_outside_what_stix_can_say_reads_as_absent() {
        for bad in ["-77777777777", "-1", "253402300800", "99999999999999"] {
            let doc = serde_json::json!({ "timestamp": bad });
            if let Ok(conv) = event_to_stix(&doc, &MispOptions::default()) {
                for o in &conv.objects {
                    crate::stix::validate(o).unwrap_or_else(|e| panic!("{bad}: {e}: {o}"));
                }
            }
        }
        assert_eq!(
            ts_from_epoch(Some(&serde_json::json!("-77777777777"))),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            ts_from_epoch(Some(&serde_json::json!("253402300799"))),
            "9999-12-31T23:59:59.000Z"
        );
    }

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

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// A MISP galaxy (e.g. the DISARM techniques) as STIX attack patterns, each carrying its
/// external id (`T0049`) so items can cite techniques by id and name.
pub fn galaxy_to_stix(galaxy: &Value) -> Result<Vec<Value>, String> {
    let values = galaxy
        .get("values")
        .and_then(Value::as_array)
        .ok_or("a MISP galaxy cluster file has a \"values\" list")?;
    let source = galaxy
        .get("category")
        .and_then(Value::as_str)
        .unwrap_or("misp-galaxy")
        .to_ascii_uppercase();
    let ts = "2026-01-01T00:00:00.000Z";
    values
        .iter()
        .map(|v| {
            let name = v.get("value").and_then(Value::as_str).ok_or("a cluster value without a name")?;
            let key = v.get("uuid").and_then(Value::as_str).unwrap_or(name);
            let meta = v.get("meta");
            let ext_id = meta.and_then(|m| m.get("external_id")).and_then(|e| e.as_str().map(str::to_owned).or_else(|| e.get(0).and_then(Value::as_str).map(str::to_owned)));
            let mut o = json!({"type": "attack-pattern", "spec_version": "2.1", "id": stix_id("attack-pattern", key),
                "created": ts, "modified": ts,
                "name": match &ext_id { Some(e) => format!("{e} {name}"), None => name.to_owned() }});
            if let Some(d) = v.get("description").and_then(Value::as_str) {
                o["description"] = json!(d);
            }
            if let Some(e) = &ext_id {
                let mut r = json!({"source_name": source, "external_id": e});
                if let Some(u) = meta.and_then(|m| m.get("refs")).and_then(|r| r.get(0)).and_then(Value::as_str) {
                    r["url"] = json!(u);
                }
                o["external_references"] = json!([r]);
            }
            let phases: Vec<Value> = meta
                .and_then(|m| m.get("kill_chain"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str())
                .map(|k| {
                    let (chain, phase) = k.split_once(':').unwrap_or(("misp", k));
                    json!({"kill_chain_name": format!("{}-{}", slug(&source), slug(chain)), "phase_name": slug(phase)})
                })
                .collect();
            if !phases.is_empty() {
                o["kill_chain_phases"] = json!(phases);
            }
            Ok(o)
        })
        .collect()
}

fn misp_type_of_pattern(p: &str) -> Option<(&'static str, String)> {
    let inner = p.strip_prefix('[')?.strip_suffix(']')?;
    let (lhs, rhs) = inner.split_once(" = ")?;
    let value = rhs
        .strip_prefix('\'')?
        .strip_suffix('\'')?
        .replace("\\'", "'")
        .replace("\\\\", "\\");
    let ty = match lhs {
        "ipv4-addr:value" | "ipv6-addr:value" => "ip-dst",
        "domain-name:value" => "domain",
        "url:value" => "url",
        "file:hashes.MD5" => "md5",
        "file:hashes.'SHA-1'" => "sha1",
        "file:hashes.'SHA-256'" => "sha256",
        "file:name" => "filename",
        "email-addr:value" => "email-src",
        _ => return None,
    };
    Some((ty, value))
}

/// A collection as one MISP event: indicators with simple patterns become attributes (IDS
/// flag set), other objects text attributes; TLP levels become `tlp:*` tags and the audience a
/// sharing group of partner organisations.
pub fn objects_to_misp_event(
    title: &str,
    event_uuid: &str,
    objects: &[(Value, Tlp, Vec<PartnerCode>)],
) -> Value {
    let mut attributes = vec![];
    let mut audiences: BTreeSet<Vec<PartnerCode>> = BTreeSet::new();
    let mut levels = BTreeSet::new();
    for (o, tlp, aud) in objects {
        audiences.insert(aud.clone());
        levels.insert(*tlp);
        let ty = o.get("type").and_then(Value::as_str).unwrap_or("");
        let id = o.get("id").and_then(Value::as_str).unwrap_or("");
        let uuid = id.split_once("--").map(|(_, u)| u).unwrap_or(id);
        let (aty, value, ids) = match o
            .get("pattern")
            .and_then(Value::as_str)
            .and_then(misp_type_of_pattern)
        {
            Some((t, v)) => (t, v, true),
            None => {
                let text = ["name", "abstract", "value"]
                    .iter()
                    .find_map(|k| o.get(*k).and_then(Value::as_str))
                    .unwrap_or(id);
                ("text", format!("{ty}: {text}"), false)
            }
        };
        attributes.push(json!({"uuid": uuid, "type": aty, "category": if ids { "Network activity" } else { "Other" },
            "value": value, "to_ids": ids, "distribution": "5", "Tag": [{"name": format!("tlp:{}", tlp.as_str().to_ascii_lowercase())}],
            "comment": format!("STIX {id}; releasable to {}", aud.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(","))}));
    }
    let widest = audiences.iter().flatten().cloned().collect::<BTreeSet<_>>();
    let strictest = levels.iter().max().copied().unwrap_or(Tlp::Red);
    json!({"Event": {
        "uuid": event_uuid, "info": title, "distribution": "4", "analysis": "2", "threat_level_id": "4",
        "Tag": [{"name": format!("tlp:{}", strictest.as_str().to_ascii_lowercase())}],
        "SharingGroup": {"name": format!("Entente: {}", widest.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")),
            "SharingGroupOrg": widest.iter().map(|p| json!({"Organisation": {"name": p.as_str()}})).collect::<Vec<_>>()},
        "Attribute": attributes,
    }})
}

#[cfg(test)]
mod export_tests {
    use super::*;
    use crate::partner::code;

    #[test]
    fn galaxy_and_export() {
        let g = json!({"category": "disarm", "values": [{"value": "Flood Information Space", "uuid": "5d1f1d59-6e3a-5e1b-9f27-2a0a8c1e6f00",
            "description": "Flooding", "meta": {"external_id": "T0049", "kill_chain": ["tactics:Maximise Exposure"], "refs": ["https://example.org/T0049"]}}]});
        let aps = galaxy_to_stix(&g).unwrap();
        assert_eq!(aps[0]["name"], "T0049 Flood Information Space");
        assert_eq!(aps[0]["external_references"][0]["external_id"], "T0049");
        assert_eq!(
            aps[0]["kill_chain_phases"][0]["phase_name"],
            "maximise-exposure"
        );
        crate::stix::validate(&aps[0]).unwrap();
        let ind = json!({"type": "indicator", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "pattern": "[url:value = 'http://x.example/a']"});
        let ev = objects_to_misp_event(
            "F",
            "5d1f1d59-6e3a-5e1b-9f27-2a0a8c1e6f01",
            &[(ind, Tlp::Amber, vec![code("EU"), code("JPN")])],
        );
        assert_eq!(ev["Event"]["Attribute"][0]["type"], "url");
        assert_eq!(ev["Event"]["Attribute"][0]["value"], "http://x.example/a");
        assert_eq!(ev["Event"]["Tag"][0]["name"], "tlp:amber");
        // And it imports back with the same semantics.
        let back = event_to_stix(&ev, &MispOptions::default()).unwrap();
        assert_eq!(back.tlp, Some(Tlp::Amber));
        assert_eq!(
            back.releasable_to,
            Some(BTreeSet::from([code("EU"), code("JPN")]))
        );
    }
}
