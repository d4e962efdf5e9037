//! Conformance checks of logs, projections and the node's own tables: claiming the partner,
//! appending and reading, head checks, item and format projections and queries, forks,
//! witnesses, peers, users and tokens.

use super::*;

pub async fn claim_partner(store: &dyn Store) {
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

pub async fn append_and_read(store: &dyn Store) {
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

pub async fn head_moved_changes_nothing(store: &dyn Store) {
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

pub async fn projections_and_queries(store: &dyn Store) {
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
    // Newest first, paged the same way: the same items in reverse, each once.
    let newest = |after: Option<String>| ItemQuery {
        limit: 2,
        after,
        newest_first: true,
        ..Default::default()
    };
    let page1 = store.items(&newest(None)).await.unwrap();
    let last = page1.last().unwrap().item_id.clone();
    let page2 = store.items(&newest(Some(last))).await.unwrap();
    let mut back = ids(page1);
    back.extend(ids(page2));
    assert!(
        back.starts_with(&["i333".to_string(), "i22".to_string(), "i1".to_string()]),
        "{back:?}"
    );
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(back, rev[..back.len()].to_vec());
    assert_eq!(
        ids(store
            .items(&ItemQuery {
                limit: 100,
                newest_first: true,
                kind: Some(ItemKind::Note),
                ..Default::default()
            })
            .await
            .unwrap()),
        ["i333", "i22"]
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

pub async fn forks(store: &dyn Store) {
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
pub async fn witnesses(store: &dyn Store) {
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

pub async fn peers(store: &dyn Store) {
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

pub async fn users_and_tokens(store: &dyn Store) {
    let u = UserRecord {
        username: "alice".into(),
        role: Role::Analyst,
        password_hash: "$argon2id$x".into(),
        created_at: "2026-11-27T00:00:00Z".into(),
        disabled: false,
        settings: Default::default(),
    };
    store.create_user(&u).await.unwrap();
    assert!(matches!(
        store.create_user(&u).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.user("alice").await.unwrap(), Some(u.clone()));
    assert_eq!(store.user("bob").await.unwrap(), None);
    // Display preferences: set, read back with the user, replaced whole; none for a stranger.
    let tokyo = crate::UserSettings {
        time_zone: Some("Asia/Tokyo".into()),
        language: Some("ja".into()),
        email: Some("alice@eu.example".into()),
        notify: [("alert".to_owned(), "immediately".to_owned())].into(),
    };
    assert!(store.set_user_settings("alice", &tokyo).await.unwrap());
    assert_eq!(store.user("alice").await.unwrap().unwrap().settings, tokyo);
    assert!(
        store
            .set_user_settings("alice", &Default::default())
            .await
            .unwrap()
    );
    assert!(!store.set_user_settings("bob", &tokyo).await.unwrap());
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
    // Read marks of discussions: per user and thread, replaced whole, deleted with the user.
    store
        .set_read_mark("alice", "t2", "[\"p1\"]")
        .await
        .unwrap();
    store.set_read_mark("alice", "t1", "[]").await.unwrap();
    store
        .set_read_mark("alice", "t2", "[\"p1\",\"p2\"]")
        .await
        .unwrap();
    store
        .set_read_mark("carol", "t1", "[\"p9\"]")
        .await
        .unwrap();
    assert_eq!(
        store.read_marks("alice").await.unwrap(),
        vec![
            ("t1".to_owned(), "[]".to_owned()),
            ("t2".to_owned(), "[\"p1\",\"p2\"]".to_owned())
        ]
    );
    assert!(store.delete_user(&u.username).await.unwrap());
    assert!(store.read_marks("alice").await.unwrap().is_empty());
    assert_eq!(store.read_marks("carol").await.unwrap().len(), 1);
    assert!(!store.delete_user(&u.username).await.unwrap());
    assert!(store.tokens(None).await.unwrap().is_empty());
    assert!(store.users().await.unwrap().is_empty());
}
