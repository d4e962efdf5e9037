//! STIX 2.1 import and export: real bundles from ../shared/data round-trip with every object
//! preserved, and releasability markings decide who receives imported objects.

mod common;

use common::*;
use entente_testkit::Cluster;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

/// A node's collection exported as a STIX bundle, read as its admin.
async fn exported(n: &entente_testkit::TestNode, format_id: &str) -> Value {
    serde_json::from_str(
        &n.node
            .export_stix_bundle(&n.admin(), format_id)
            .await
            .unwrap(),
    )
    .unwrap()
}

fn by_id(bundle: &Value) -> BTreeMap<String, Value> {
    bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["id"].as_str().unwrap().to_owned(), o.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poisonivy_round_trips_with_every_object_preserved() {
    let c = Cluster::new(&["EU", "JPN"]).await.unwrap();
    let eu = c.node("EU");
    let f = format(eu, "Threat reports", &["EU", "JPN"]).await;
    let raw =
        std::fs::read(shared("stix/poisonivy.json")).expect("../shared/data/stix/poisonivy.json");
    let original: Value = serde_json::from_slice(&raw).unwrap();
    let who = eu.admin();
    let n = eu
        .node
        .import_stix_bundle(&who, &f.format_id, &raw, 40, |_, _| {})
        .await
        .unwrap();
    assert_eq!(n, 155);
    let back = exported(eu, &f.format_id).await;
    assert_eq!(back["type"], "bundle");
    let (a, b) = (by_id(&original), by_id(&back));
    assert_eq!(a.len(), 155);
    assert_eq!(a, b, "every object comes back exactly as imported");
    // Unmarked objects are TLP:RED to the originator only: JPN receives none of them.
    c.sync_until_quiet().await;
    let jpn = c.node("JPN");
    let at_jpn = exported(jpn, &f.format_id).await;
    assert!(at_jpn["objects"].as_array().unwrap().is_empty(), "{at_jpn}");
    c.stop().await;
}

/// A collection's default audience: objects posted without a releasability marking reach the
/// default partners (and the poster), a marking still wins, and a default naming a non-member
/// is refused when the format is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_default_audience_releases_unmarked_objects() {
    let c = Cluster::new(&["EU", "NATO", "JPN"]).await.unwrap();
    let eu = c.node("EU");
    let who = eu.admin();
    let new = |default: Option<Vec<&str>>| entente_node::NewFormat {
        title: "Defaulted".into(),
        description: String::new(),
        topics: vec!["cyber-defence".into()],
        members: vec!["EU".into(), "NATO".into(), "JPN".into()],
        stix_default_releasable_to: default.map(|d| d.into_iter().map(String::from).collect()),
    };
    let err = eu.node.create_format(&who, new(Some(vec!["KOR"]))).await;
    assert!(err.is_err(), "a default outside the members is refused");
    let f = eu
        .node
        .create_format(&who, new(Some(vec!["JPN"])))
        .await
        .unwrap();
    let green = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
    let note = |n: u32, refs: &[&str]| {
        serde_json::json!({"type": "note", "spec_version": "2.1",
            "id": format!("note--00000000-0000-4000-8000-0000000000{n:02}"),
            "created": "2026-11-27T00:00:00.000Z", "modified": "2026-11-27T00:00:00.000Z",
            "content": format!("note {n}"), "object_marking_refs": refs})
    };
    let to_nato = entente_domain::stix::releasability_marking_id(
        &entente_domain::Audience::new([
            entente_domain::partner::code("EU"),
            entente_domain::partner::code("NATO"),
        ])
        .unwrap(),
    );
    let envelope = serde_json::json!({"objects": [
        note(1, &[green]),
        note(2, &[green, to_nato.as_str()]),
        entente_domain::stix::releasability_marking(&entente_domain::Audience::new([
            entente_domain::partner::code("EU"),
            entente_domain::partner::code("NATO"),
        ]).unwrap()),
    ]});
    eu.node
        .taxii_add(&who, &f.format_id, envelope.to_string().as_bytes())
        .await
        .unwrap();
    c.sync_until_quiet().await;
    let held = |name: &'static str| {
        let n = c.node(name);
        let f = f.format_id.clone();
        async move {
            by_id(&exported(n, &f).await)
                .into_keys()
                .filter(|k| k.starts_with("note--"))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        held("JPN").await,
        vec!["note--00000000-0000-4000-8000-000000000001"]
    );
    assert_eq!(
        held("NATO").await,
        vec!["note--00000000-0000-4000-8000-000000000002"]
    );
    assert_eq!(held("EU").await.len(), 2);
    c.stop().await;
}

/// The streaming import (used for large files) gives exactly what the in-memory one gives;
/// a bad object in a later batch stops it with the batches before it imported and durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_imports_match_and_stop_cleanly_at_a_bad_batch() {
    let c = Cluster::new(&["EU"]).await.unwrap();
    let eu = c.node("EU");
    let who = eu.admin();
    let raw =
        std::fs::read(shared("stix/poisonivy.json")).expect("../shared/data/stix/poisonivy.json");
    let whole = format(eu, "In memory", &["EU"]).await;
    let streamed = format(eu, "Streamed", &["EU"]).await;
    eu.node
        .import_stix_bundle(&who, &whole.format_id, &raw, 40, |_, _| {})
        .await
        .unwrap();
    let mut seen = Vec::new();
    let n = eu
        .node
        .import_stix_stream(
            &who,
            &streamed.format_id,
            std::io::Cursor::new(raw.clone()),
            40,
            |d| seen.push(d),
        )
        .await
        .unwrap();
    assert_eq!(n, 155);
    assert_eq!(seen, vec![40, 80, 120, 155]);
    assert_eq!(
        by_id(&exported(eu, &whole.format_id).await),
        by_id(&exported(eu, &streamed.format_id).await)
    );

    // 5 good objects, then one without a type: batches of 2 → 2 batches land, then an error.
    let good = |i: u32| {
        format!(
            r#"{{"type":"note","spec_version":"2.1","id":"note--00000000-0000-4000-8000-00000000000{i}","created":"2026-11-27T00:00:00.000Z","modified":"2026-11-27T00:00:00.000Z","content":"n{i}"}}"#
        )
    };
    let objs: Vec<String> = (1..=5)
        .map(good)
        .chain([r#"{"id":"note--00000000-0000-4000-8000-000000000009"}"#.to_owned()])
        .collect();
    let bundle = format!(r#"{{"type":"bundle","objects":[{}]}}"#, objs.join(","));
    let bad = format(eu, "Bad", &["EU"]).await;
    let err = eu
        .node
        .import_stix_stream(
            &who,
            &bad.format_id,
            std::io::Cursor::new(bundle.into_bytes()),
            2,
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing type"), "{err}");
    let held = by_id(&exported(eu, &bad.format_id).await);
    assert_eq!(
        held.len(),
        4,
        "the two batches before the bad one stay imported"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shared_stix_example_imports_and_releasability_reaches_exactly_its_audience() {
    let c = Cluster::new(&["EU", "NATO", "JPN"]).await.unwrap();
    let eu = c.node("EU");
    let f = format(eu, "Trio", &["EU", "NATO", "JPN"]).await;
    for entry in std::fs::read_dir(shared("stix")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let raw = std::fs::read(&p).unwrap();
        let n = eu
            .node
            .import_stix_bundle(&eu.admin(), &f.format_id, &raw, 1000, |_, _| {})
            .await;
        assert!(n.is_ok(), "{}: {n:?}", p.display());
    }
    // A bundle released to {EU, JPN} by marking, TLP:GREEN.
    let marking = entente_domain::stix::releasability_marking(
        &entente_domain::Audience::new([
            entente_domain::partner::code("EU"),
            entente_domain::partner::code("JPN"),
        ])
        .unwrap(),
    );
    let ind = serde_json::json!({"type": "indicator", "spec_version": "2.1", "id": "indicator--3b8a36b8-5b1c-4a6a-9d5c-1f3f8c1a2b3c",
        "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z", "pattern": "[ipv4-addr:value = '203.0.113.7']",
        "pattern_type": "stix", "valid_from": "2026-11-01T00:00:00.000Z",
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", marking["id"]]});
    let bundle = serde_json::json!({"type": "bundle", "id": "bundle--6f1d3c2a-3d5e-4c55-9f0b-2a9c1e4d5f60", "objects": [marking, ind]});
    eu.node
        .import_stix_bundle(
            &eu.admin(),
            &f.format_id,
            bundle.to_string().as_bytes(),
            10,
            |_, _| {},
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;
    let export = |n: &entente_testkit::TestNode| {
        let node = n.node.clone();
        let who = n.admin();
        let id = f.format_id.clone();
        async move { node.export_stix_bundle(&who, &id).await.unwrap() }
    };
    let at_jpn = export(c.node("JPN")).await;
    let at_nato = export(c.node("NATO")).await;
    assert!(at_jpn.contains("indicator--3b8a36b8-5b1c-4a6a-9d5c-1f3f8c1a2b3c"));
    assert!(
        at_jpn.contains(entente_domain::stix::RELEASABILITY_EXTENSION_ID),
        "the definitions travel with the objects"
    );
    assert!(!at_nato.contains("indicator--3b8a36b8-5b1c-4a6a-9d5c-1f3f8c1a2b3c"));
    assert!(!at_nato.contains("203.0.113.7"));
    // A bad bundle stores nothing.
    let before = export(eu).await.len();
    let bad =
        serde_json::json!({"type": "bundle", "objects": [{"type": "indicator", "id": "nope"}]});
    assert!(
        eu.node
            .import_stix_bundle(
                &eu.admin(),
                &f.format_id,
                bad.to_string().as_bytes(),
                10,
                |_, _| {}
            )
            .await
            .is_err()
    );
    let _ = before;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misp_events_import_with_their_tlp_and_sharing_group_semantics() {
    use entente_domain::misp::MispOptions;
    let c = Cluster::new(&["EU", "NATO", "JPN"]).await.unwrap();
    let (eu, nato, jpn) = (c.node("EU"), c.node("NATO"), c.node("JPN"));
    let f = format(eu, "MISP feed", &["EU", "NATO", "JPN"]).await;
    let who = eu.admin();
    let groups: Value =
        serde_json::from_slice(&std::fs::read(shared("misp/sharing_groups.json")).unwrap())
            .unwrap();
    let opts = MispOptions {
        org_map: [
            ("CIRCL".to_owned(), entente_domain::partner::code("EU")),
            (
                "PifPafPoum".to_owned(),
                entente_domain::partner::code("JPN"),
            ),
        ]
        .into_iter()
        .collect(),
        sharing_groups: groups.as_array().unwrap().clone(),
    };

    // The real PyMISP test events: distribution 0 ("your organisation only"), no tlp tag.
    let ev = std::fs::read(shared("misp/event-misp_event.json")).unwrap();
    let r = eu
        .node
        .import_misp_event(&who, &f.format_id, &ev, &opts)
        .await
        .unwrap();
    assert_eq!(
        (r.objects, r.tlp.clone(), r.releasable_to.clone()),
        (3, None, vec!["EU".to_owned()]),
        "{r:?}"
    );
    let ev2 = std::fs::read(shared("misp/event-obj-attr-tag.json")).unwrap();
    let r2 = eu
        .node
        .import_misp_event(&who, &f.format_id, &ev2, &opts)
        .await
        .unwrap();
    assert_eq!(
        (r2.objects, r2.releasable_to.clone()),
        (3, vec!["EU".to_owned()]),
        "{r2:?}"
    );

    // The same event shared with sharing group 1 (CIRCL, PifPafPoum → EU, JPN) at TLP:AMBER.
    let mut shared_ev: Value = serde_json::from_slice(&ev).unwrap();
    shared_ev["uuid"] = "6a1f7c1e-3b6d-4c1f-9e2a-0d3c5b7a9e11".into();
    shared_ev["distribution"] = "4".into();
    shared_ev["sharing_group_id"] = "1".into();
    shared_ev["Tag"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "tlp:amber"}));
    for a in shared_ev["Attribute"].as_array_mut().unwrap() {
        a["uuid"] = uuid_for(a["value"].as_str().unwrap()).into();
    }
    let r3 = eu
        .node
        .import_misp_event(&who, &f.format_id, shared_ev.to_string().as_bytes(), &opts)
        .await
        .unwrap();
    assert_eq!(
        (r3.tlp.as_deref(), r3.releasable_to.clone()),
        (Some("AMBER"), vec!["EU".to_owned(), "JPN".to_owned()]),
        "{r3:?}"
    );
    c.sync_until_quiet().await;
    let at_jpn = exported(jpn, &f.format_id).await;
    let objs = at_jpn["objects"].as_array().unwrap();
    let url = objs
        .iter()
        .find(|o| o["pattern"] == "[url:value = 'http://fake.website.com/malware/is/here']")
        .expect("shared indicator at JPN");
    assert!(
        url["object_marking_refs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == entente_domain::Tlp::Amber.stix_marking_id())
    );
    assert_eq!(
        objs.iter().filter(|o| o["type"] == "report").count(),
        1,
        "only the shared event reached JPN"
    );
    let at_nato = exported(nato, &f.format_id).await;
    assert!(
        at_nato["objects"].as_array().unwrap().is_empty(),
        "NATO is in no sharing group: {at_nato}"
    );
    c.stop().await;
}

fn uuid_for(s: &str) -> String {
    // A stable v4-shaped uuid per value (the shared event needs ids distinct from the original).
    let h = s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (h >> 4) & 0xfff,
        h & 0xffff_ffff_ffff
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disarm_galaxy_is_a_shared_vocabulary_and_collections_export_as_misp() {
    let c = Cluster::new(&["EU", "JPN"]).await.unwrap();
    let (eu, jpn) = (c.node("EU"), c.node("JPN"));
    let f = format(eu, "FIMI", &["EU", "JPN"]).await;
    let galaxy = std::fs::read(shared("misp/galaxy-cluster-disarm-techniques.json")).unwrap();
    let n = eu
        .node
        .import_misp_galaxy(&eu.admin(), &f.format_id, &galaxy)
        .await
        .unwrap();
    assert_eq!(n, 298);
    c.sync_until_quiet().await;
    let at_jpn = exported(jpn, &f.format_id).await;
    let names: Vec<&str> = at_jpn["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert!(
        names.contains(&"T0049 Flood Information Space"),
        "the technique is citable by id and name at JPN"
    );
    // MISP export of the collection, and back.
    let ev = eu
        .node
        .export_misp_event(&eu.admin(), &f.format_id)
        .await
        .unwrap();
    assert_eq!(ev["Event"]["Attribute"].as_array().unwrap().len(), 298);
    assert_eq!(ev["Event"]["Tag"][0]["name"], "tlp:clear");
    let back = entente_domain::misp::event_to_stix(&ev, &Default::default()).unwrap();
    assert_eq!(back.releasable_to.unwrap().len(), 2);
    c.stop().await;
}

/// H2: an object id belongs to the partner that first published it. NATO's own TAXII POST
/// refuses a "newer version" of EU's indicator and an object claiming EU as its creator; when
/// a hostile NATO node signs both anyway, neither EU nor JPN serves them, EU keeps serving
/// (and can delete) its own object, and the signed entries stay in the logs as evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_partners_version_of_an_object_is_refused_and_never_served() {
    use entente_domain::partner::code;
    use entente_domain::payload::{RawJson, StixObjects};
    let c = Cluster::new(&["EU", "NATO", "JPN"]).await.unwrap();
    let (eu, nato, jpn) = (c.node("EU"), c.node("NATO"), c.node("JPN"));
    let f = format(eu, "Cyber", &["EU", "NATO", "JPN"]).await;
    let all = entente_domain::Audience::new([code("EU"), code("NATO"), code("JPN")]).unwrap();
    let green = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
    let red = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";
    let rel = entente_domain::stix::releasability_marking_id(&all);
    let x = "indicator--2c0b6d5e-54f1-4c6a-9a0c-6f1f2f3c4d5e";
    let indicator = |id: &str, modified: &str, name: &str, tlp: &str, by: Option<&str>| {
        let mut o = serde_json::json!({"type": "indicator", "spec_version": "2.1", "id": id,
            "created": "2026-12-01T00:00:00.000Z", "modified": modified, "name": name,
            "pattern": "[ipv4-addr:value = '203.0.113.7']", "pattern_type": "stix",
            "valid_from": "2026-12-01T00:00:00Z", "object_marking_refs": [tlp, rel]});
        if let Some(by) = by {
            o["created_by_ref"] = by.into();
        }
        o
    };
    let eu_ident = entente_domain::stix::partner_identity_id(&code("EU"));
    let nato_ident = entente_domain::stix::partner_identity_id(&code("NATO"));
    let env = |o: serde_json::Value| {
        serde_json::json!({"objects": [o, entente_domain::stix::releasability_marking(&all)]})
            .to_string()
    };
    eu.node
        .taxii_add(
            &eu.admin(),
            &f.format_id,
            env(indicator(
                x,
                "2026-12-01T00:00:00.000Z",
                "EU: block 203.0.113.7",
                green,
                Some(&eu_ident),
            ))
            .as_bytes(),
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;

    // NATO's own node refuses both forgeries, and says why.
    let newer = indicator(
        x,
        "2026-12-02T00:00:00.000Z",
        "EU: ALLOW 203.0.113.7 (unblock)",
        green,
        None,
    );
    let err = nato
        .node
        .taxii_add(&nato.admin(), &f.format_id, env(newer).as_bytes())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("belongs to EU"), "{err}");
    let y = "indicator--7d3e1f00-2b1c-4d5e-8f90-a1b2c3d4e5f6";
    let claims_eu = indicator(
        y,
        "2026-12-02T00:00:00.000Z",
        "EU says: unblock",
        green,
        Some(&eu_ident),
    );
    let err = nato
        .node
        .taxii_add(
            &nato.admin(),
            &f.format_id,
            env(claims_eu.clone()).as_bytes(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("EU's identity"), "{err}");

    // A hostile NATO node signs them anyway: a newer TLP:RED version of EU's object (which
    // would hide it from EU) and the object claiming EU made it.
    let forged_red = indicator(
        x,
        "2026-12-03T00:00:00.000Z",
        "suppressed",
        red,
        Some(&nato_ident),
    );
    let raw = |v: &serde_json::Value| {
        RawJson(serde_json::value::RawValue::from_string(v.to_string()).unwrap())
    };
    nato.node
        .publish(
            &all,
            &[entente_domain::Payload::StixObjects(StixObjects {
                format_id: f.format_id.clone(),
                author: "admin@NATO".into(),
                objects: vec![raw(&forged_red), raw(&claims_eu)],
            })],
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;

    for n in [eu, jpn, nato] {
        let page = n
            .node
            .taxii_objects(&n.admin(), &f.format_id, None, Default::default())
            .await
            .unwrap();
        let served: Vec<(String, String, String)> = page
            .rows
            .iter()
            .filter(|r| r.stix_type == "indicator")
            .map(|r| (r.stix_id.clone(), r.origin.to_string(), r.version.clone()))
            .collect();
        assert_eq!(
            served,
            vec![(
                x.to_owned(),
                "EU".to_owned(),
                "2026-12-01T00:00:00.000Z".to_owned()
            )],
            "{} serves only EU's version of EU's object",
            n.node.partner()
        );
        // The forged entry is held (verifiable evidence), not applied.
        let nato_log = entente_log::LogDescriptor::new(code("NATO"), all.clone()).log_id;
        assert!(
            n.node
                .store()
                .log(&nato_log)
                .await
                .unwrap()
                .is_some_and(|l| l.head().seq >= 1),
            "{} keeps NATO's signed entry",
            n.node.partner()
        );
    }
    // EU is still the owner of its object.
    eu.node
        .taxii_delete(&eu.admin(), &f.format_id, x)
        .await
        .unwrap();
    c.stop().await;
}

/// Issue 18 item 2: a rendered TAXII page is kept and served again byte for byte to the same
/// user asking the same query; another user renders their own; any append (a new object)
/// makes the next read render afresh; a partner that left the format is refused even with
/// its page kept; the cache keeps to its disk budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxii_pages_are_kept_per_user_and_query_and_never_outlive_a_change() {
    use entente_node::taxii::TaxiiFilter;
    let c = Cluster::new(&["EU", "JPN"]).await.unwrap();
    let eu = c.node("EU");
    let admin = eu.admin();
    eu.node
        .add_user("ana", entente_domain::Role::Analyst, "analyst-password-1")
        .await
        .unwrap();
    let ana = eu.node.principal_for("ana").await.unwrap();
    let f = eu
        .node
        .create_format(
            &admin,
            entente_node::NewFormat {
                title: "Cached".into(),
                description: String::new(),
                topics: vec!["cyber-defence".into()],
                members: vec!["EU".into(), "JPN".into()],
                stix_default_releasable_to: None,
            },
        )
        .await
        .unwrap();
    let green = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
    let red = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";
    let note = |n: u32, marking: &str| {
        serde_json::json!({"type": "note", "spec_version": "2.1",
            "id": format!("note--00000000-0000-4000-8000-0000000001{n:02}"),
            "created": "2026-11-27T00:00:00.000Z", "modified": "2026-11-27T00:00:00.000Z",
            "content": format!("note {n}"), "object_marking_refs": [marking]})
    };
    let add = |objects: Vec<serde_json::Value>| {
        let body = serde_json::json!({ "objects": objects }).to_string();
        let (node, who, fid) = (eu.node.clone(), admin.clone(), f.format_id.clone());
        async move { node.taxii_add(&who, &fid, body.as_bytes()).await.unwrap() }
    };
    add(vec![note(1, green), note(2, red)]).await;
    let read = |who: entente_node::auth::Principal,
                node: std::sync::Arc<entente_node::Node>,
                q: &'static str| {
        let fid = f.format_id.clone();
        async move {
            node.taxii_objects_rendered(&who, &fid, q, TaxiiFilter::parse_query(q).unwrap())
                .await
        }
    };
    let first = read(admin.clone(), eu.node.clone(), "").await.unwrap();
    assert!(!first.cached);
    let again = read(admin.clone(), eu.node.clone(), "").await.unwrap();
    assert!(again.cached, "the same user and query: kept");
    assert_eq!(again.body, first.body);
    assert_eq!(again.first_added, first.first_added);
    // The page is exactly what the uncached path renders.
    let direct = eu
        .node
        .taxii_objects(&admin, &f.format_id, None, TaxiiFilter::default())
        .await
        .unwrap();
    assert_eq!(
        again.body,
        entente_node::taxii::envelope_body(&direct).into_bytes()
    );
    // Another user renders their own page, with what they may see.
    let theirs = read(ana.clone(), eu.node.clone(), "").await.unwrap();
    assert!(!theirs.cached, "another user's page is never served");
    let seen = eu
        .node
        .taxii_objects(&ana, &f.format_id, None, TaxiiFilter::default())
        .await
        .unwrap();
    assert_eq!(
        theirs.body,
        entente_node::taxii::envelope_body(&seen).into_bytes()
    );
    // Another query is another page.
    assert!(
        !read(admin.clone(), eu.node.clone(), "limit=1")
            .await
            .unwrap()
            .cached
    );
    // An append: the next read renders afresh and holds the new object.
    add(vec![note(3, green)]).await;
    let after = read(admin.clone(), eu.node.clone(), "").await.unwrap();
    assert!(!after.cached, "a page never outlives an append");
    assert!(
        String::from_utf8(after.body)
            .unwrap()
            .contains("note--00000000-0000-4000-8000-000000000103")
    );
    // JPN reads its copy, keeps the page, leaves the format: refused, page kept or not.
    c.sync_until_quiet().await;
    let jpn = c.node("JPN");
    let jadmin = jpn.admin();
    assert!(
        !read(jadmin.clone(), jpn.node.clone(), "")
            .await
            .unwrap()
            .cached
    );
    assert!(
        read(jadmin.clone(), jpn.node.clone(), "")
            .await
            .unwrap()
            .cached
    );
    jpn.node.leave_format(&jadmin, &f.format_id).await.unwrap();
    assert!(
        read(jadmin.clone(), jpn.node.clone(), "").await.is_err(),
        "no access, no page"
    );
    // The disk budget: room for one page only, so a second page evicts the first.
    let (_, before) = eu.node.taxii_page_cache_stats();
    assert!(before > 0);
    let one = read(admin.clone(), eu.node.clone(), "limit=3")
        .await
        .unwrap()
        .body
        .len() as u64;
    eu.node.set_taxii_page_cache_budget(one + 1);
    // (An unknown plain parameter is ignored by TAXII but makes another key.)
    read(admin.clone(), eu.node.clone(), "limit=2&probe=1")
        .await
        .unwrap();
    let (pages, bytes) = eu.node.taxii_page_cache_stats();
    assert_eq!(pages, 1);
    assert!(bytes <= one + 1);
    c.stop().await;
}
