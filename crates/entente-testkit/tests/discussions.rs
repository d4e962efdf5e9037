//! Discussions across nodes: a reply reaches the thread's audience by push and nothing of it
//! reaches anyone else (REST, search, the UI, the database, the federation answers); edits,
//! retractions and read marks; bad input refused and nothing stored.

mod common;

use common::*;
use entente_testkit::{Cluster, ClusterOptions};
use serde_json::{Value, json};
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_reaches_the_thread_audience_by_push_and_nothing_reaches_outsiders() {
    let mut c = Cluster::with(
        &["EU", "NATO", "JPN"],
        ClusterOptions {
            search: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // The periodic pull is an hour: anything that arrives here arrived by push.
    c.start_background();
    let (eu, nato, jpn) = (c.node("EU"), c.node("NATO"), c.node("JPN"));
    let f = format(
        eu,
        "Transatlantic+ Japan — maritime",
        &["EU", "NATO", "JPN"],
    )
    .await;
    eventually("format at NATO and JPN", async || {
        nato.node.format(&f.format_id).await.is_ok() && jpn.node.format(&f.format_id).await.is_ok()
    })
    .await;
    let http = entente_testkit::http_client();
    let post = async |n: &entente_testkit::TestNode, path: &str, body: Value| {
        http.post(format!("{}{path}", n.url()))
            .bearer_auth(&n.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    };
    let get = async |n: &entente_testkit::TestNode, path: &str| {
        http.get(format!("{}{path}", n.url()))
            .bearer_auth(&n.token)
            .send()
            .await
            .unwrap()
    };

    // A mention of a user of a partner outside the audience is refused, and stores nothing.
    let r = post(
        eu,
        "/api/v1/threads",
        json!({"format_id": f.format_id, "title": "Ferry capacity", "body": "cc @admin@NATO",
               "releasable_to": ["EU", "JPN"]}),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text().await.unwrap().contains("admin@NATO"),
        "the message names the mention"
    );
    assert!(
        eu.node
            .threads(&eu.admin(), &Default::default())
            .await
            .unwrap()
            .is_empty()
    );

    // EU starts a thread released to {EU, JPN}, mentioning JPN's admin.
    let r = post(
        eu,
        "/api/v1/threads",
        json!({"format_id": f.format_id, "title": "Ferry capacity in the Tsugaru strait",
               "body": "What do we know of ro-ro capacity? @admin@JPN", "releasable_to": ["EU", "JPN"]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let t: Value = r.json().await.unwrap();
    let tid = t["thread_id"].as_str().unwrap().to_owned();
    let first = t["posts"][0]["post_id"].as_str().unwrap().to_owned();
    assert_eq!(t["audience"], json!(["EU", "JPN"]));
    eventually("thread at JPN", async || {
        get(jpn, &format!("/api/v1/threads/{tid}")).await.status() == 200
    })
    .await;
    // At JPN the opening post is unread and mentions JPN's admin.
    let list: Value = get(jpn, "/api/v1/threads").await.json().await.unwrap();
    assert_eq!(list[0]["unread"], 1, "{list}");
    assert_eq!(list[0]["unread_mentions"], 1, "{list}");

    // Nothing unread at EU yet (the counter's threads are now read for this generation).
    assert_eq!(eu.node.unread_posts(&eu.admin()).await.unwrap(), 0);
    // JPN replies, quoting EU's post; EU has it by push.
    let t0 = Instant::now();
    let r = post(
        jpn,
        &format!("/api/v1/threads/{tid}/posts"),
        json!({"body": "Kaikyo ro-ro lines: 12 sailings a day, Tsugaru-reply-marker.", "quote": first}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let reply: Value = r.json().await.unwrap();
    let rid = reply["posts"][1]["post_id"].as_str().unwrap().to_owned();
    eventually("reply at EU", async || {
        get(eu, &format!("/api/v1/threads/{tid}"))
            .await
            .text()
            .await
            .unwrap()
            .contains("Tsugaru-reply-marker")
    })
    .await;
    println!("reply JPN -> EU by push took {:?}", t0.elapsed());
    let at_eu: Value = get(eu, &format!("/api/v1/threads/{tid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(at_eu["posts"][1]["quote"], first.as_str());
    assert_eq!(at_eu["posts"][1]["author"], "admin@JPN");
    assert_eq!(
        at_eu["new_posts"],
        json!([rid]),
        "new since EU's last visit"
    );
    // Both nodes hold the same thread.
    assert_eq!(
        eu.node.store().object("thread", &tid).await.unwrap(),
        jpn.node.store().object("thread", &tid).await.unwrap()
    );

    // Read marks: EU has one unread post until it marks the thread read.
    assert_eq!(eu.node.unread_posts(&eu.admin()).await.unwrap(), 1);
    assert_eq!(
        post(eu, &format!("/api/v1/threads/{tid}/read"), json!({}))
            .await
            .status(),
        204
    );
    assert_eq!(eu.node.unread_posts(&eu.admin()).await.unwrap(), 0);

    // Search at EU finds the reply's words, with a snippet.
    eu.node.search_settled().await;
    let found: Value = get(eu, "/api/v1/search?q=sailings&what=thread")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["hits"][0]["id"], tid.as_str());
    assert!(
        found["hits"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("sailings")
    );

    // Only JPN changes JPN's post: EU's node refuses; JPN's edit arrives at EU as a revision.
    let r = http
        .put(format!("{}/api/v1/threads/{tid}/posts/{rid}", eu.url()))
        .bearer_auth(&eu.token)
        .json(&json!({"body": "EU rewrites JPN"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .put(format!("{}/api/v1/threads/{tid}/posts/{rid}", jpn.url()))
        .bearer_auth(&jpn.token)
        .json(&json!({"body": "Kaikyo ro-ro lines: 14 sailings a day (corrected), Tsugaru-reply-marker."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    eventually("edit at EU", async || {
        get(eu, &format!("/api/v1/threads/{tid}"))
            .await
            .text()
            .await
            .unwrap()
            .contains("(corrected)")
    })
    .await;
    let at_eu: Value = get(eu, &format!("/api/v1/threads/{tid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(at_eu["posts"][1]["history"].as_array().unwrap().len(), 1);
    assert!(at_eu["posts"][1]["edited_at"].is_string());

    // A later thread to all three reaching NATO shows NATO has been sent everything it may
    // have since.
    let r = post(
        eu,
        "/api/v1/threads",
        json!({"format_id": f.format_id, "title": "Open to all three", "body": "hello all"}),
    )
    .await;
    let open: Value = r.json().await.unwrap();
    let open_id = open["thread_id"].as_str().unwrap().to_owned();
    eventually("open thread at NATO", async || {
        get(nato, &format!("/api/v1/threads/{open_id}"))
            .await
            .status()
            == 200
    })
    .await;

    // NATO: not listed, not found, not searchable, not on a page, not on disk, not offered.
    let list = get(nato, "/api/v1/threads").await.text().await.unwrap();
    assert!(list.contains(&open_id));
    for secret in [&tid, "Tsugaru", "sailings"] {
        assert!(!list.contains(secret), "NATO's list shows {secret}");
    }
    let missing = get(nato, "/api/v1/threads/00000000-0000-7000-8000-000000000000").await;
    assert_eq!(missing.status(), 404);
    let missing = missing.text().await.unwrap();
    let r = get(nato, &format!("/api/v1/threads/{tid}")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.text().await.unwrap(),
        missing,
        "the same 404 as a missing thread"
    );
    nato.node.search_settled().await;
    let found: Value = get(nato, "/api/v1/search?q=sailings")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 0, "{found}");
    let bytes = db_bytes(nato);
    let log_id = at_eu["posts"][0]["entry_log"].as_str().unwrap().to_owned();
    let reply_log = at_eu["posts"][1]["entry_log"].as_str().unwrap().to_owned();
    for secret in [tid.as_str(), "Tsugaru", "sailings", &log_id, &reply_log] {
        assert!(!contains(&bytes, secret), "NATO's database holds {secret}");
    }
    for holder in [eu, jpn] {
        let r = fed_get(nato, Some(&nato.key_seed), holder, "/fed/v1/logs").await;
        let body = r.text().await.unwrap();
        assert!(!body.contains(&log_id) && !body.contains(&reply_log));
        let r = fed_get(
            nato,
            Some(&nato.key_seed),
            holder,
            &format!("/fed/v1/logs/{reply_log}/entries?after=0"),
        )
        .await;
        assert_ne!(r.status(), 200);
        assert!(!r.text().await.unwrap().contains("sailings"));
    }
    // What NATO serves to EU (its sync responses) holds nothing of it either.
    let r = fed_get(eu, Some(&eu.key_seed), nato, "/fed/v1/logs").await;
    let body = r.text().await.unwrap();
    assert!(!body.contains(&log_id) && !body.contains(&reply_log));

    // JPN retracts its reply: at EU its text leaves the thread and the search.
    let r = post(
        jpn,
        &format!("/api/v1/threads/{tid}/posts/{rid}/retract"),
        json!({"reason": "figures under review"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    eventually("retraction at EU", async || {
        !get(eu, &format!("/api/v1/threads/{tid}"))
            .await
            .text()
            .await
            .unwrap()
            .contains("sailings")
    })
    .await;
    eu.node.search_settled().await;
    let found: Value = get(eu, "/api/v1/search?q=sailings")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 0, "{found}");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_on_an_object_goes_no_further_than_the_object() {
    let c = Cluster::new(&["EU", "NATO", "JPN"]).await.unwrap();
    let (eu, jpn) = (c.node("EU"), c.node("JPN"));
    let f = format(eu, "Transatlantic+ Japan — cyber", &["EU", "NATO", "JPN"]).await;
    c.sync_until_quiet().await;
    let it = item(
        eu,
        &f.format_id,
        "EU-JPN lesson",
        Some("GREEN"),
        Some(&["EU", "JPN"]),
    )
    .await;
    let subject = entente_domain::coord::ThreadSubject {
        kind: "item".into(),
        id: it.item_id.clone(),
    };
    let new = |to: Option<Vec<String>>| entente_domain::coord::NewThread {
        attachments: vec![],
        format_id: String::new(),
        title: "On the lesson".into(),
        body: "Comments?".into(),
        subject: Some(subject.clone()),
        releasable_to: to,
    };
    let e = eu
        .node
        .start_thread(
            &eu.admin(),
            new(Some(vec!["EU".into(), "NATO".into(), "JPN".into()])),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("NATO may not see"), "{e}");
    // Left out, the audience is the item's.
    let t = eu.node.start_thread(&eu.admin(), new(None)).await.unwrap();
    assert_eq!(t.audience, it.audience);
    assert_eq!(t.format_id, f.format_id);
    c.sync_until_quiet().await;
    let at_jpn = jpn
        .node
        .threads(
            &jpn.admin(),
            &entente_node::discussions::ThreadFilter {
                format_id: None,
                subject: Some(format!("item:{}", it.item_id)),
            },
        )
        .await
        .unwrap();
    assert_eq!(at_jpn.len(), 1);
    // A subject the caller may not see is "not found", as a missing one.
    let nato = c.node("NATO");
    let e = nato
        .node
        .start_thread(&nato.admin(), new(None))
        .await
        .unwrap_err();
    assert!(
        matches!(e, entente_node::NodeError::NotFound("item")),
        "{e}"
    );
    // A TLP:RED item is not discussed in a partner thread.
    let red = item(eu, &f.format_id, "EU only", Some("RED"), Some(&["EU"])).await;
    let mut n = new(None);
    n.subject = Some(entente_domain::coord::ThreadSubject {
        kind: "item".into(),
        id: red.item_id,
    });
    assert!(eu.node.start_thread(&eu.admin(), n).await.is_err());
}

/// A file attached to a post reaches exactly the thread's audience, byte-identical and
/// searchable there; NATO gets nothing of it (no thread, no download, no bytes in its database,
/// no chunk from the holders); a file attached after posting adds no version of the text; only
/// the post's partner attaches; a retracted post's files are no longer served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posts_file_reaches_exactly_the_threads_audience() {
    let c = Cluster::with(
        &["EU", "NATO", "JPN"],
        ClusterOptions {
            search: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (eu, nato, jpn) = (c.node("EU"), c.node("NATO"), c.node("JPN"));
    let f = format(
        eu,
        "Transatlantic+ Japan — maritime",
        &["EU", "NATO", "JPN"],
    )
    .await;
    c.sync_until_quiet().await;
    let http = entente_testkit::http_client();
    let send = async |n: &entente_testkit::TestNode, path: &str, body: Value| {
        http.post(format!("{}{path}", n.url()))
            .bearer_auth(&n.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    };
    let fetch = async |n: &entente_testkit::TestNode, path: &str| {
        http.get(format!("{}{path}", n.url()))
            .bearer_auth(&n.token)
            .send()
            .await
            .unwrap()
    };
    let r = send(
        eu,
        "/api/v1/threads",
        json!({"format_id": f.format_id, "title": "Ferry timetables",
               "body": "Who has the northern timetable?", "releasable_to": ["EU", "JPN"]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let t: Value = r.json().await.unwrap();
    let tid = t["thread_id"].as_str().unwrap().to_owned();
    let first = t["posts"][0]["post_id"].as_str().unwrap().to_owned();
    c.sync_until_quiet().await;

    // JPN replies with a file (a Japanese name, text with a word found nowhere else).
    let marker = "Tsugaru-timetable-kumquatferry";
    let text = format!("{marker}\n津軽海峡の運航表：一日十二便、旅客九千人。\n");
    let up = upload(jpn, text.as_bytes()).await;
    let sha = up["sha256"].as_str().unwrap().to_owned();
    let r = send(
        jpn,
        &format!("/api/v1/threads/{tid}/posts"),
        json!({"body": "Timetable attached.", "attachments": [{"sha256": sha, "name": "運航表.txt"}]}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let t: Value = r.json().await.unwrap();
    let rid = t["posts"][1]["post_id"].as_str().unwrap().to_owned();
    assert_eq!(t["posts"][1]["attachments"][0]["name"], "運航表.txt");
    c.sync_until_quiet().await;
    let file = format!("/api/v1/threads/{tid}/posts/{rid}/attachments/{sha}");
    eventually("the post's file at EU", async || {
        fetch(eu, &file).await.status() == 200
    })
    .await;
    let r = fetch(eu, &file).await;
    let cd = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cd.starts_with("attachment; "), "{cd}");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().await.unwrap(), text.as_bytes(), "byte-identical");
    eventually("the file's text searchable at EU", async || {
        eu.node.search_settled().await;
        let s: Value = fetch(eu, "/api/v1/search?q=kumquatferry")
            .await
            .json()
            .await
            .unwrap();
        s.to_string().contains(&tid)
    })
    .await;
    // The same for a Japanese word inside the file's sentence.
    let s: Value = fetch(eu, "/api/v1/search?q=運航")
        .await
        .json()
        .await
        .unwrap();
    assert!(s.to_string().contains(&tid), "{s}");

    // NATO: nothing.
    assert_eq!(fetch(nato, &file).await.status(), 404);
    nato.node.search_settled().await;
    let s: Value = fetch(nato, "/api/v1/search?q=kumquatferry")
        .await
        .json()
        .await
        .unwrap();
    assert!(!s.to_string().contains(&tid), "{s}");
    assert!(nato.node.store().blob(&sha).await.unwrap().is_none());
    assert!(!contains(&db_bytes(nato), marker), "not on NATO's disk");
    let key = format!("post:{tid}:{rid}");
    for holder in [eu, jpn] {
        assert!(
            holder
                .node
                .fed_attachment_chunk(&entente_domain::partner::code("NATO"), &key, &sha, 0)
                .await
                .is_err(),
            "{} serves NATO no chunk",
            holder.partner
        );
    }
    assert!(
        jpn.node
            .fed_attachment_chunk(&entente_domain::partner::code("EU"), &key, &sha, 0)
            .await
            .is_ok()
    );
    // The item route does not serve a post's file under the post's key.
    let as_item = format!(
        "/api/v1/items/{}/attachments/{sha}",
        key.replace(':', "%3A")
    );
    assert_eq!(fetch(eu, &as_item).await.status(), 404);

    // EU attaches a file to its own opening post afterwards: no new version of the text.
    let up = upload(eu, b"EU annex: port capacities").await;
    let sha2 = up["sha256"].as_str().unwrap().to_owned();
    let attach = format!("/api/v1/threads/{tid}/posts/{first}/attachments");
    let r = send(eu, &attach, json!({"sha256": sha2, "name": "annex.txt"})).await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["posts"][0]["history"], json!([]), "{t}");
    assert_eq!(t["posts"][0]["attachments"][0]["name"], "annex.txt");
    // JPN may not attach to EU's post (its own upload or not).
    let r = send(jpn, &attach, json!({"sha256": sha, "name": "x.txt"})).await;
    assert_eq!(r.status(), 403);
    c.sync_until_quiet().await;
    let file2 = format!("/api/v1/threads/{tid}/posts/{first}/attachments/{sha2}");
    eventually("EU's late file at JPN", async || {
        fetch(jpn, &file2).await.status() == 200
    })
    .await;

    // JPN retracts its reply: its file is served no more, to users or peers.
    let r = send(
        jpn,
        &format!("/api/v1/threads/{tid}/posts/{rid}/retract"),
        json!({"reason": "superseded"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    c.sync_until_quiet().await;
    assert_eq!(fetch(eu, &file).await.status(), 404);
    assert!(
        jpn.node
            .fed_attachment_chunk(&entente_domain::partner::code("EU"), &key, &sha, 0)
            .await
            .is_err()
    );
    c.stop().await;
}
