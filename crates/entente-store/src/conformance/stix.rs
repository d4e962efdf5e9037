//! Conformance checks of the STIX rows: versions, spans of `added_after` paging, and ownership
//! of an object id by its first origin.

use super::*;

/// An object id belongs to the origin that first published it in a collection: a "newer
/// version" of it from another origin is not projected (the entry carrying it is appended),
/// and `stix_owners` names the first origin.
pub async fn stix_ownership(store: &dyn Store) {
    let own = |partner: &str, version: &str, added: &str| {
        let mut r = stix_row("indicator--0wn", version, added, "indicator");
        r.collection = "owned".into();
        r.origin = code(partner);
        r.audience = aud(&["EU", "NATO"]);
        r
    };
    let (eu_key, nato_key) = (
        NodeKey::generate().expect("key"),
        NodeKey::generate().expect("key"),
    );
    for (p, row) in [
        (
            "EU",
            own(
                "EU",
                "2026-01-01T00:00:00.000Z",
                "2026-11-28T00:00:00.000001Z",
            ),
        ),
        (
            "NATO",
            own(
                "NATO",
                "2026-02-01T00:00:00.000Z",
                "2026-11-28T00:00:00.000002Z",
            ),
        ),
        (
            "EU",
            own(
                "EU",
                "2026-01-02T00:00:00.000Z",
                "2026-11-28T00:00:00.000003Z",
            ),
        ),
    ] {
        let key = if p == "EU" { &eu_key } else { &nato_key };
        let a = aud(&["EU", "NATO"]);
        let d = LogDescriptor::new(code(p), a.clone());
        let head = store
            .log(&d.log_id)
            .await
            .unwrap()
            .map(|l| l.head())
            .unwrap_or(LogHead::EMPTY);
        let es = entries(key, p, &a, head, 1);
        store
            .append(&d, head, &es, &[Projection::Stix(row)])
            .await
            .unwrap();
        assert_eq!(
            store.log(&d.log_id).await.unwrap().unwrap().head().seq,
            es[0].header.seq,
            "the entry is appended either way"
        );
    }
    let all = store
        .stix_query(&StixQuery {
            collection: "owned".into(),
            versions: VersionFilter::All,
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let got: Vec<(String, String)> = all
        .iter()
        .map(|r| (r.origin.to_string(), r.version.clone()))
        .collect();
    assert_eq!(
        got.iter()
            .map(|(o, v)| (o.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("EU", "2026-01-01T00:00:00.000Z"),
            ("EU", "2026-01-02T00:00:00.000Z")
        ],
        "NATO's version of EU's object is not projected"
    );
    let latest = store
        .stix_query(&StixQuery {
            collection: "owned".into(),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].version, "2026-01-02T00:00:00.000Z");
    assert_eq!(
        store
            .stix_owners("owned", &["indicator--0wn", "indicator--unknown"])
            .await
            .unwrap(),
        vec![("indicator--0wn".to_owned(), code("EU"))]
    );
    assert!(
        store
            .stix_owners("no-such-collection", &["indicator--0wn"])
            .await
            .unwrap()
            .is_empty()
    );
}

fn stix_row(id: &str, version: &str, added: &str, ty: &str) -> StixRow {
    StixRow {
        collection: "coll".into(),
        stix_id: id.into(),
        stix_type: ty.into(),
        version: version.into(),
        spec_version: "2.1".into(),
        date_added: added.into(),
        origin: code("EU"),
        audience: aud(&["EU", "JPN"]),
        tlp: Tlp::Green,
        author: "alice@EU".into(),
        named_users: vec!["bob@JPN".into()],
        raw: format!("{{\"id\":\"{id}\",\"modified\":\"{version}\"}}"),
        single_version: false,
        span: None,
    }
}

/// Rows handed over as spans of their entry's body (one stored copy) read back with `raw`
/// filled from that body, before and after the entry is followed by others; a span outside the
/// appended entries is refused and changes nothing.
pub async fn stix_spans(store: &dyn Store) {
    let key = NodeKey::generate().expect("key");
    let a = aud(&["AUS", "EU"]);
    let d = LogDescriptor::new(code("EU"), a.clone());
    let objs = [
        r#"{"type":"indicator","id":"indicator--s1","note":"é ü ✓"}"#,
        r#"{"type":"malware","id":"malware--s2"}"#,
    ];
    let payload = format!("{{\"objects\":[{},{}]}}", objs[0], objs[1]);
    let e = sign_entry(
        &key,
        &code("EU"),
        &a,
        LogHead::EMPTY,
        "2026-11-27T00:00:00Z",
        "test",
        &payload,
    )
    .expect("sign");
    let row = |i: usize, added: &str, seq: u64| {
        let start = e.body.find(objs[i]).expect("object in body");
        let (id, ty) = [("indicator--s1", "indicator"), ("malware--s2", "malware")][i];
        let mut r = stix_row(id, "2026-01-01T00:00:00.000Z", added, ty);
        r.collection = "spans".into();
        r.raw = String::new();
        r.span = Some(StixSpan {
            seq,
            start,
            len: objs[i].len(),
        });
        r
    };
    let outside = row(0, "2026-11-27T00:00:01.000001Z", 2);
    let err = store
        .append(
            &d,
            LogHead::EMPTY,
            std::slice::from_ref(&e),
            &[Projection::Stix(outside)],
        )
        .await;
    assert!(
        err.is_err(),
        "a span outside the appended entries is refused"
    );
    assert!(
        store.log(&d.log_id).await.unwrap().is_none(),
        "and changes nothing"
    );
    store
        .append(
            &d,
            LogHead::EMPTY,
            std::slice::from_ref(&e),
            &[
                Projection::Stix(row(0, "2026-11-27T00:00:01.000001Z", 1)),
                Projection::Stix(row(1, "2026-11-27T00:00:01.000002Z", 1)),
            ],
        )
        .await
        .unwrap();
    let later = entries(
        &key,
        "EU",
        &a,
        LogHead {
            seq: 1,
            hash: e.hash,
        },
        1,
    );
    store
        .append(
            &d,
            LogHead {
                seq: 1,
                hash: e.hash,
            },
            &later,
            &[],
        )
        .await
        .unwrap();
    let got = store
        .stix_query(&StixQuery {
            collection: "spans".into(),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let raws: Vec<&str> = got.iter().map(|r| r.raw.as_str()).collect();
    assert_eq!(raws, objs.to_vec());
    assert!(got.iter().all(|r| r.span.is_none()));
}

pub async fn stix(store: &dyn Store) {
    let key = NodeKey::generate().expect("key");
    let a = aud(&["EU", "JPN"]);
    let d = LogDescriptor::new(code("EU"), a.clone());
    let head = store
        .log(&d.log_id)
        .await
        .unwrap()
        .map(|l| l.head())
        .unwrap_or(LogHead::EMPTY);
    let es = entries(&key, "EU", &a, head, 2);
    let v1 = stix_row(
        "indicator--1",
        "2026-01-01T00:00:00.000Z",
        "2026-11-27T00:00:00.000001Z",
        "indicator",
    );
    let other = stix_row(
        "malware--2",
        "2026-01-01T00:00:00.000Z",
        "2026-11-27T00:00:00.000002Z",
        "malware",
    );
    let v2 = stix_row(
        "indicator--1",
        "2026-01-02T00:00:00.000Z",
        "2026-11-27T00:00:00.000003Z",
        "indicator",
    );
    store
        .append(
            &d,
            head,
            &es[..1],
            &[
                Projection::Stix(v1.clone()),
                Projection::Stix(other.clone()),
            ],
        )
        .await
        .unwrap();
    let h1 = LogHead {
        seq: es[0].header.seq,
        hash: es[0].hash,
    };
    // The same version again is ignored; a newer version becomes the latest.
    store
        .append(
            &d,
            h1,
            &es[1..],
            &[Projection::Stix(v1.clone()), Projection::Stix(v2.clone())],
        )
        .await
        .unwrap();
    let q = |f: fn(&mut StixQuery)| {
        let mut q = StixQuery {
            collection: "coll".into(),
            limit: 100,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let ids = |v: Vec<StixRow>| {
        v.into_iter()
            .map(|r| (r.stix_id, r.version))
            .collect::<Vec<_>>()
    };
    let latest = store.stix_query(&q(|_| {})).await.unwrap();
    assert_eq!(
        latest,
        vec![other.clone(), v2.clone()],
        "latest versions in date_added order"
    );
    assert_eq!(
        ids(store
            .stix_query(&q(|q| q.versions = VersionFilter::All))
            .await
            .unwrap())
        .len(),
        3
    );
    assert_eq!(
        store
            .stix_query(&q(|q| q.versions = VersionFilter::First))
            .await
            .unwrap(),
        vec![v1.clone(), other.clone()]
    );
    let exact = store
        .stix_query(&q(|q| {
            q.versions = VersionFilter::Exact(vec!["2026-01-01T00:00:00.000Z".into()])
        }))
        .await
        .unwrap();
    assert_eq!(exact, vec![v1.clone(), other.clone()]);
    assert_eq!(
        store
            .stix_query(&q(|q| q.types = vec!["malware".into()]))
            .await
            .unwrap(),
        vec![other.clone()]
    );
    assert_eq!(
        store
            .stix_query(&q(|q| q.ids = vec!["indicator--1".into(), "x--y".into()]))
            .await
            .unwrap(),
        vec![v2.clone()]
    );
    assert_eq!(
        store
            .stix_query(&q(|q| q.spec_versions = vec!["2.0".into()]))
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store
            .stix_query(&q(
                |q| q.added_after = Some("2026-11-27T00:00:00.000002Z".into())
            ))
            .await
            .unwrap(),
        vec![v2.clone()]
    );
    assert_eq!(
        store.stix_query(&q(|q| q.limit = 1)).await.unwrap(),
        vec![other.clone()]
    );
    let mut paged = q(|_| {});
    paged.after = Some(other.date_added.clone());
    assert_eq!(store.stix_query(&paged).await.unwrap(), vec![v2.clone()]);
    let mut other_coll = q(|_| {});
    other_coll.collection = "elsewhere".into();
    assert_eq!(store.stix_query(&other_coll).await.unwrap(), vec![]);

    let h2 = LogHead {
        seq: es[1].header.seq,
        hash: es[1].hash,
    };
    let es3 = entries(&key, "EU", &a, h2, 1);
    store
        .append(
            &d,
            h2,
            &es3,
            &[Projection::StixDelete {
                collection: "coll".into(),
                stix_id: "indicator--1".into(),
            }],
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .stix_query(&q(|q| q.versions = VersionFilter::All))
            .await
            .unwrap(),
        vec![other]
    );

    // Statements upsert by id.
    let st = entente_domain::statement::StatementState {
        statement_id: "stmt-1".into(),
        format_id: "coll".into(),
        origin: code("EU"),
        audience: a.clone(),
        rule: entente_domain::statement::AdoptionRule::Unanimity,
        deadline: None,
        required: vec![code("EU")],
        versions: vec![],
        stances: Default::default(),
    };
    let h3 = LogHead {
        seq: es3[0].header.seq,
        hash: es3[0].hash,
    };
    let es4 = entries(&key, "EU", &a, h3, 1);
    store
        .append(&d, h3, &es4, &[Projection::Statement(st.clone())])
        .await
        .unwrap();
    assert_eq!(store.statement("stmt-1").await.unwrap(), Some(st.clone()));
    assert!(store.statements().await.unwrap().contains(&st));
    assert_eq!(store.statement("stmt-2").await.unwrap(), None);

    let h4 = LogHead {
        seq: es4[0].header.seq,
        hash: es4[0].hash,
    };
    let es5 = entries(&key, "EU", &a, h4, 1);
    let obj = |state: &str| Projection::Object {
        kind: "alert",
        id: "al-1".into(),
        format_id: "coll".into(),
        state: state.into(),
    };
    store
        .append(&d, h4, &es5, &[obj("{\"v\":1}"), obj("{\"v\":2}")])
        .await
        .unwrap();
    assert_eq!(
        store.object("alert", "al-1").await.unwrap().as_deref(),
        Some("{\"v\":2}")
    );
    assert_eq!(store.object("action", "al-1").await.unwrap(), None);
    assert_eq!(
        store.objects("alert").await.unwrap(),
        vec!["{\"v\":2}".to_owned()]
    );

    store.put_status("st-1", "alice", "{}").await.unwrap();
    assert_eq!(
        store.status("st-1").await.unwrap(),
        Some(("alice".into(), "{}".into()))
    );
    assert_eq!(store.status("st-2").await.unwrap(), None);
}
