//! The conformance suite: behaviour every `Store` backend must show. Each backend's tests
//! call [`run_all`] on a fresh, empty store.

use crate::*;
use entente_domain::partner::code;
use entente_log::{LogHead, NodeKey, sign_entry};

fn aud(codes: &[&str]) -> Audience {
    Audience::new(codes.iter().map(|c| code(c))).expect("non-empty")
}

fn entries(key: &NodeKey, origin: &str, a: &Audience, from: LogHead, n: u64) -> Vec<ParsedEntry> {
    let mut head = from;
    (0..n)
        .map(|i| {
            let e = sign_entry(
                key,
                &code(origin),
                a,
                head,
                "2026-11-27T00:00:00Z",
                "test",
                &format!("{{\"n\":{i}}}"),
            )
            .expect("sign");
            head = LogHead {
                seq: e.header.seq,
                hash: e.hash,
            };
            e
        })
        .collect()
}

fn item(
    id: &str,
    format: &str,
    a: &Audience,
    kind: ItemKind,
    topics: &[&str],
    tlp: Tlp,
) -> ItemState {
    ItemState {
        item_id: id.into(),
        format_id: format.into(),
        origin: code("EU"),
        audience: a.clone(),
        log_id: entente_log::log_id(&code("EU"), a),
        kind,
        title: format!("title {id}"),
        body: "body".into(),
        topics: topics.iter().map(|t| t.to_string()).collect(),
        tlp,
        named_users: vec![],
        author: "alice@EU".into(),
        revision: 1,
        created_at: "2026-11-27T00:00:00Z".into(),
        updated_at: format!("2026-11-27T00:00:0{}Z", id.len() % 10),
        retracted: None,
        revised_by: None,
    }
}

pub async fn run_all(store: &dyn Store) {
    claim_partner(store).await;
    append_and_read(store).await;
    head_moved_changes_nothing(store).await;
    projections_and_queries(store).await;
    forks(store).await;
    witnesses(store).await;
    peers(store).await;
    users_and_tokens(store).await;
    stix(store).await;
    stix_spans(store).await;
    stix_ownership(store).await;
}

/// An object id belongs to the origin that first published it in a collection: a "newer
/// version" of it from another origin is not projected (the entry carrying it is appended),
/// and `stix_owners` names the first origin.
async fn stix_ownership(store: &dyn Store) {
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
async fn stix_spans(store: &dyn Store) {
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

async fn stix(store: &dyn Store) {
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

async fn claim_partner(store: &dyn Store) {
    store.claim_partner(&code("EU")).await.expect("first claim");
    store
        .claim_partner(&code("EU"))
        .await
        .expect("same partner again");
    assert!(matches!(
        store.claim_partner(&code("JPN")).await,
        Err(StoreError::WrongPartner { .. })
    ));
}

async fn append_and_read(store: &dyn Store) {
    let key = NodeKey::generate().expect("key");
    let a = aud(&["EU", "JPN"]);
    let d = LogDescriptor::new(code("EU"), a.clone());
    assert!(store.log(&d.log_id).await.unwrap().is_none());
    let es = entries(&key, "EU", &a, LogHead::EMPTY, 5);
    store
        .append(&d, LogHead::EMPTY, &es[..3], &[])
        .await
        .expect("append 1-3");
    let head3 = LogHead {
        seq: 3,
        hash: es[2].hash,
    };
    store
        .append(&d, head3, &es[3..], &[])
        .await
        .expect("append 4-5");
    let info = store.log(&d.log_id).await.unwrap().expect("log exists");
    assert_eq!(info.head_seq, 5);
    assert_eq!(info.head_hash, es[4].hash);
    assert_eq!(info.audience, a);
    let got = store.entries_after(&d.log_id, 1, 2).await.unwrap();
    assert_eq!(got, vec![es[1].signed(), es[2].signed()]);
    let all = store.entries_after(&d.log_id, 0, 100).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(
        store
            .entries_after(&d.log_id, 5, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let hashes = store.entry_hashes(&d.log_id, 2, 4).await.unwrap();
    assert_eq!(
        hashes,
        vec![(2, es[1].hash), (3, es[2].hash), (4, es[3].hash)]
    );
    assert!(
        store
            .logs()
            .await
            .unwrap()
            .iter()
            .any(|l| l.log_id == d.log_id)
    );
}

async fn head_moved_changes_nothing(store: &dyn Store) {
    let key = NodeKey::generate().expect("key");
    let a = aud(&["EU", "NATO"]);
    let d = LogDescriptor::new(code("EU"), a.clone());
    let es = entries(&key, "EU", &a, LogHead::EMPTY, 2);
    store
        .append(&d, LogHead::EMPTY, &es[..1], &[])
        .await
        .unwrap();
    let it = item("conf-hm", "f", &a, ItemKind::Note, &[], Tlp::Green);
    let r = store
        .append(&d, LogHead::EMPTY, &es[..1], &[Projection::Item(it)])
        .await;
    assert!(matches!(r, Err(StoreError::HeadMoved { .. })), "{r:?}");
    assert!(
        store.item("conf-hm").await.unwrap().is_none(),
        "projection of a refused append is not stored"
    );
    assert_eq!(store.log(&d.log_id).await.unwrap().unwrap().head_seq, 1);
}

async fn projections_and_queries(store: &dyn Store) {
    let key = NodeKey::generate().expect("key");
    let a = aud(&["EU", "JPN", "NATO"]);
    let d = LogDescriptor::new(code("EU"), a.clone());
    let es = entries(&key, "EU", &a, LogHead::EMPTY, 1);
    let f = FormatState {
        format_id: "fmt-1".into(),
        title: "Transatlantic+ Japan — maritime security".into(),
        description: String::new(),
        topics: vec!["maritime-security".into()],
        members: a.as_set().clone(),
        convener: code("EU"),
        closed: false,
        created_at: "2026-11-27T00:00:00Z".into(),
        updated_at: "2026-11-27T00:00:00Z".into(),
        stix_default_releasable_to: None,
        departed: Default::default(),
        relayed: Default::default(),
    };
    let i1 = item(
        "i1",
        "fmt-1",
        &a,
        ItemKind::Report,
        &["maritime-security"],
        Tlp::Green,
    );
    let i2 = item(
        "i22",
        "fmt-1",
        &a,
        ItemKind::Note,
        &["fimi", "hybrid-threats"],
        Tlp::Amber,
    );
    let i3 = item("i333", "fmt-2", &a, ItemKind::Note, &["fimi"], Tlp::Red);
    let projections = [
        Projection::Format(f.clone()),
        Projection::Item(i1.clone()),
        Projection::Item(i2.clone()),
        Projection::Item(i3.clone()),
    ];
    store
        .append(&d, LogHead::EMPTY, &es, &projections)
        .await
        .unwrap();
    assert_eq!(store.format("fmt-1").await.unwrap(), Some(f.clone()));
    assert!(store.formats().await.unwrap().contains(&f));
    assert_eq!(store.item("i22").await.unwrap(), Some(i2.clone()));

    let ids = |v: Vec<ItemState>| v.into_iter().map(|i| i.item_id).collect::<Vec<_>>();
    let q = |f: fn(&mut ItemQuery)| {
        let mut q = ItemQuery {
            limit: 100,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    assert_eq!(
        ids(store
            .items(&q(|q| q.format_id = Some("fmt-1".into())))
            .await
            .unwrap()),
        ["i1", "i22"]
    );
    assert_eq!(
        ids(store
            .items(&q(|q| q.kind = Some(ItemKind::Note)))
            .await
            .unwrap()),
        ["i22", "i333"]
    );
    assert_eq!(
        ids(store
            .items(&q(|q| q.topic = Some("fimi".into())))
            .await
            .unwrap()),
        ["i22", "i333"]
    );
    assert_eq!(
        ids(store
            .items(&q(|q| q.topic = Some("hybrid".into())))
            .await
            .unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(store.items(&q(|q| q.tlp = Some(Tlp::Red))).await.unwrap()),
        ["i333"]
    );
    assert_eq!(
        ids(store
            .items(&q(|q| q.origin = Some(code("JPN"))))
            .await
            .unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(store
            .items(&q(|q| q.since = Some("2026-11-27T00:00:03Z".into())))
            .await
            .unwrap()),
        ["i22", "i333"]
    );
    // Paging: positions are increasing and `after` resumes strictly after.
    let page1 = store
        .items(&ItemQuery {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    let last = page1.last().unwrap().item_id.clone();
    let page2 = store
        .items(&ItemQuery {
            limit: 2,
            after: Some(last),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut all = ids(page1);
    all.extend(ids(page2));
    assert!(
        all.ends_with(&["i1".to_string(), "i22".to_string(), "i333".to_string()]),
        "{all:?}"
    );

    // Upsert keeps the position and replaces the state.
    let mut revised = i1.clone();
    revised.title = "revised".into();
    revised.revision = 2;
    let es2 = entries(
        &key,
        "EU",
        &a,
        LogHead {
            seq: 1,
            hash: es[0].hash,
        },
        1,
    );
    store
        .append(
            &d,
            LogHead {
                seq: 1,
                hash: es[0].hash,
            },
            &es2,
            &[Projection::Item(revised.clone())],
        )
        .await
        .unwrap();
    let listed = store
        .items(&q(|q| q.format_id = Some("fmt-1".into())))
        .await
        .unwrap();
    assert_eq!(listed[0], revised);
    let mut by_id = store
        .items_by_id(&["i22".into(), "nope".into(), "i1".into()])
        .await
        .unwrap();
    by_id.sort_by(|a, b| a.item_id.cmp(&b.item_id));
    assert_eq!(by_id, vec![revised, i2]);
}

async fn forks(store: &dyn Store) {
    let key = NodeKey::generate().expect("key");
    let a = aud(&["EU", "JPN"]);
    let e1 = entries(&key, "JPN", &a, LogHead::EMPTY, 1);
    let fork = ForkEvidence {
        log_id: e1[0].header.log.clone(),
        origin: code("JPN"),
        seq: 1,
        held: e1[0].signed(),
        conflicting: e1[0].signed(),
        received_from: code("NATO"),
        detected_at: "2026-11-27T00:00:00Z".into(),
    };
    store.record_fork(&fork).await.unwrap();
    store.record_fork(&fork).await.unwrap();
    let got = store.forks().await.unwrap();
    assert_eq!(
        got.iter().filter(|f| **f == fork).count(),
        1,
        "the same evidence is kept once"
    );
}

/// One record per (origin, witness): a newer checkpoint replaces the older.
async fn witnesses(store: &dyn Store) {
    let rec = |origin: &str, witness: &str, at: &str| WitnessRecord {
        origin: code(origin),
        witness: code(witness),
        checkpoint: format!("{{\"ts\":\"{at}\"}}"),
        origin_sig: "aa".repeat(64),
        cosig: "bb".repeat(64),
        recorded_at: at.into(),
    };
    assert_eq!(store.witnesses().await.unwrap(), vec![]);
    let (a, b) = (
        rec("EU", "JPN", "2026-11-27T00:00:00Z"),
        rec("EU", "NATO", "2026-11-27T00:00:01Z"),
    );
    store.put_witness(&a).await.unwrap();
    store.put_witness(&b).await.unwrap();
    let newer = rec("EU", "JPN", "2026-11-27T00:00:02Z");
    store.put_witness(&newer).await.unwrap();
    assert_eq!(store.witnesses().await.unwrap(), vec![newer, b]);
}

async fn peers(store: &dyn Store) {
    let mut p = PeerRecord {
        partner: code("JPN"),
        url: Some("http://127.0.0.1:7403".into()),
        public_key: "ab".repeat(32),
        added_at: "2026-11-27T00:00:00Z".into(),
        last_sync_at: None,
        last_ok_at: None,
        last_error: None,
        state: "active".into(),
    };
    store.upsert_peer(&p).await.unwrap();
    p.url = Some("http://127.0.0.1:7413".into());
    store.upsert_peer(&p).await.unwrap();
    store
        .set_peer_status(
            &code("JPN"),
            "2026-11-27T00:00:01Z",
            Some("connection refused"),
        )
        .await
        .unwrap();
    let got = store.peers().await.unwrap();
    let jpn = got.iter().find(|x| x.partner == code("JPN")).unwrap();
    assert_eq!(jpn.url.as_deref(), Some("http://127.0.0.1:7413"));
    assert_eq!(jpn.last_error.as_deref(), Some("connection refused"));
    assert_eq!(jpn.last_ok_at, None);
    store
        .set_peer_status(&code("JPN"), "2026-11-27T00:00:02Z", None)
        .await
        .unwrap();
    let jpn = store
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.partner == code("JPN"))
        .unwrap();
    assert_eq!(jpn.last_error, None);
    assert_eq!(jpn.last_ok_at.as_deref(), Some("2026-11-27T00:00:02Z"));
    // Suspending keeps the peer and its key; an unknown partner is reported.
    assert!(
        store
            .set_peer_state(&code("JPN"), "suspended")
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_peer_state(&code("ZZZ"), "suspended")
            .await
            .unwrap()
    );
    let jpn = store
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.partner == code("JPN"))
        .unwrap();
    assert_eq!(
        (jpn.state.as_str(), jpn.public_key.is_empty()),
        ("suspended", false)
    );
}

async fn users_and_tokens(store: &dyn Store) {
    let u = UserRecord {
        username: "alice".into(),
        role: Role::Analyst,
        password_hash: "$argon2id$x".into(),
        created_at: "2026-11-27T00:00:00Z".into(),
        disabled: false,
    };
    store.create_user(&u).await.unwrap();
    assert!(matches!(
        store.create_user(&u).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.user("alice").await.unwrap(), Some(u.clone()));
    assert_eq!(store.user("bob").await.unwrap(), None);
    assert!(store.users().await.unwrap().contains(&u));
    let t = TokenRecord {
        token_hash: "00".repeat(32),
        username: "alice".into(),
        label: "cli".into(),
        kind: TokenKind::Api,
        created_at: "2026-11-27T00:00:00Z".into(),
        expires_at: None,
    };
    store.create_token(&t).await.unwrap();
    assert_eq!(store.token(&t.token_hash).await.unwrap(), Some(t.clone()));
    assert_eq!(store.token(&"11".repeat(32)).await.unwrap(), None);
    // Revoking a token (a logout) removes it; revoking an unknown one changes nothing.
    store.delete_token(&"11".repeat(32)).await.unwrap();
    store.delete_token(&t.token_hash).await.unwrap();
    assert_eq!(store.token(&t.token_hash).await.unwrap(), None);
    // Every kind round-trips (a read-only token must never come back as a full one).
    for (i, kind) in [TokenKind::Api, TokenKind::ApiRead, TokenKind::Session]
        .into_iter()
        .enumerate()
    {
        let t = TokenRecord {
            token_hash: format!("{i}").repeat(64),
            kind,
            ..t.clone()
        };
        store.create_token(&t).await.unwrap();
        assert_eq!(store.token(&t.token_hash).await.unwrap(), Some(t));
    }
    assert_eq!(store.users().await.unwrap().len(), 1);
    // Revocation: tokens listed per user, a user re-roled and disabled, then deleted with
    // every token it held.
    assert_eq!(store.tokens(Some(&u.username)).await.unwrap().len(), 3);
    assert_eq!(store.tokens(Some("nobody")).await.unwrap().len(), 0);
    assert_eq!(store.tokens(None).await.unwrap().len(), 3);
    assert!(
        store
            .update_user(&u.username, Some(Role::Reader), Some(true))
            .await
            .unwrap()
    );
    let got = store.user(&u.username).await.unwrap().unwrap();
    assert_eq!((got.role, got.disabled), (Role::Reader, true));
    assert!(
        store
            .update_user(&u.username, None, Some(false))
            .await
            .unwrap()
    );
    let got = store.user(&u.username).await.unwrap().unwrap();
    assert_eq!((got.role, got.disabled), (Role::Reader, false));
    assert!(!store.update_user("nobody", None, Some(true)).await.unwrap());
    assert!(store.delete_user(&u.username).await.unwrap());
    assert!(!store.delete_user(&u.username).await.unwrap());
    assert!(store.tokens(None).await.unwrap().is_empty());
    assert!(store.users().await.unwrap().is_empty());
}
