//! The `entente` binary as an operator uses it.

use std::path::Path;
use std::process::{Command, Output};

use entente_testkit::cli::{path as d, text};

fn entente(args: &[&str]) -> Output {
    entente_testkit::cli::run(env!("CARGO_BIN_EXE_entente"), args, &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_a_hand_altered_entry_and_exits_non_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("eu");
    let o = entente(&[
        "init",
        "--dir",
        d(&dir),
        "--partner",
        "EU",
        "--listen",
        "127.0.0.1:7499",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = entente(&["init", "--dir", d(&dir), "--partner", "EU"]);
    assert!(
        !o.status.success() && text(&o).contains("refusing to overwrite"),
        "{}",
        text(&o)
    );
    let o = entente(&[
        "user",
        "add",
        "--dir",
        d(&dir),
        "--username",
        "alice",
        "--role",
        "analyst",
        "--password",
        "alice-password",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = entente(&["token", "create", "--dir", d(&dir), "--username", "alice"]);
    assert!(
        o.status.success() && text(&o).starts_with("ent_"),
        "{}",
        text(&o)
    );
    let jpn_key = entente_node_key();
    let o = entente(&[
        "peer",
        "add",
        "--dir",
        d(&dir),
        "--partner",
        "JPN",
        "--key",
        &jpn_key,
        "--url",
        "http://127.0.0.1:7498",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = entente(&[
        "peer",
        "add",
        "--dir",
        d(&dir),
        "--partner",
        "JPN",
        "--key",
        "not-hex",
    ]);
    assert!(
        !o.status.success() && text(&o).contains("key"),
        "{}",
        text(&o)
    );

    // Content, written through the library as the server would.
    let (log_id, item_id) = {
        let node = entente_server::open(&dir).await.unwrap();
        let admin = entente_node::auth::Principal {
            username: "alice".into(),
            role: entente_domain::Role::Admin,
            partner: node.partner().clone(),
        };
        let f = node
            .create_format(
                &admin,
                entente_node::NewFormat {
                    title: "F".into(),
                    description: String::new(),
                    topics: vec!["space".into()],
                    members: vec!["EU".into(), "JPN".into()],
                    stix_default_releasable_to: None,
                },
            )
            .await
            .unwrap();
        let it = node
            .create_item(
                &admin,
                entente_node::NewItem {
                    format_id: f.format_id,
                    kind: "note".into(),
                    title: "Original title".into(),
                    body: String::new(),
                    topics: vec![],
                    tlp: Some("GREEN".into()),
                    releasable_to: Some(vec!["JPN".into()]),
                    named_users: vec![],
                    attachments: vec![],
                },
            )
            .await
            .unwrap();
        (it.log_id, it.item_id)
    };
    let o = entente(&["verify", "--dir", d(&dir)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("all logs verify"));

    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("entente.db").display()))
        .await
        .unwrap();
    let n = sqlx::query("UPDATE entries SET body = replace(body, 'Original title', 'Altered! title') WHERE log_id = ?")
        .bind(&log_id)
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(
        n, 2,
        "every entry of the log rewritten (only the item's body changes)"
    );
    pool.close().await;

    let o = entente(&["verify", "--dir", d(&dir)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains(&log_id) && t.contains("entry 2"),
        "names the log and the entry: {t}"
    );
    let _ = item_id;
}

fn entente_node_key() -> String {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("jpn");
    let o = entente(&["init", "--dir", d(&dir), "--partner", "JPN"]);
    let t = text(&o);
    t.lines()
        .find_map(|l| l.strip_prefix("public key "))
        .expect("init prints the key")
        .trim()
        .to_owned()
}

#[test]
fn bad_flags_and_config_give_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let o = entente(&["init", "--dir", d(&tmp.path().join("x")), "--partner", "eu"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("--partner") && text(&o).contains("invalid partner code"),
        "{}",
        text(&o)
    );
    let o = entente(&["verify", "--dir", d(&tmp.path().join("missing"))]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("entente.toml") && text(&o).contains("entente init"),
        "{}",
        text(&o)
    );
    let dir = tmp.path().join("eu");
    assert!(
        entente(&["init", "--dir", d(&dir), "--partner", "EU"])
            .status
            .success()
    );
    let cfg = std::fs::read_to_string(dir.join("entente.toml")).unwrap();
    std::fs::write(dir.join("entente.toml"), format!("{cfg}\nbogus_key = 1\n")).unwrap();
    let o = entente(&["verify", "--dir", d(&dir)]);
    assert!(!o.status.success());
    assert!(text(&o).contains("bogus_key"), "{}", text(&o));
    std::fs::write(dir.join("entente.toml"), &cfg).unwrap();
    // `serve` with an unreachable PostgreSQL, a missing key file, an unknown setting: one line
    // each, naming the setting or the path.
    let serve = |env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_entente"));
        c.args(["serve", "--dir", d(&dir)])
            .env_remove("ENTENTE_DIR")
            .env_remove("ENTENTE_TEST_PG_URL")
            .env("RUST_BACKTRACE", "1");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let one_line = |o: &Output, needles: &[&str]| {
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!o.status.success(), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        for n in needles {
            assert!(err.contains(n), "{n:?} in {err}");
        }
    };
    one_line(
        &serve(&[(
            "ENTENTE_DATABASE_URL",
            "postgres://entente:secret@127.0.0.1:1/x",
        )]),
        &["database.url", "Connection refused", "entente:***@"],
    );
    let o = serve(&[(
        "ENTENTE_DATABASE_URL",
        "postgres://entente:secret@127.0.0.1:1/x",
    )]);
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("secret"),
        "the password is never printed"
    );
    one_line(&serve(&[("ENTENTE_BOGUS", "1")]), &["ENTENTE_BOGUS"]);
    one_line(
        &serve(&[("ENTENTE_TIME_ZONE", "Mars/Olympus")]),
        &["time_zone", "Mars/Olympus"],
    );
    one_line(
        &serve(&[("ENTENTE_LIMITS_HEADER_READ_TIMEOUT_SECS", "0")]),
        &["limits.header_read_timeout_secs"],
    );
    std::fs::rename(dir.join("node.key"), dir.join("node.key.moved")).unwrap();
    one_line(&serve(&[("ENTENTE_LISTEN", "127.0.0.1:0")]), &["node.key"]);
}

/// The README's demo command, as a newcomer runs it: three peered nodes; an item created at EU
/// released to {EU, JPN} reaches JPN by push and never shows at NATO.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_three_peered_nodes_and_push_respects_audiences() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    // Three consecutive free ports.
    let base = loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        drop(l);
        if p < 65000 && (1..3).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok()) {
            break p;
        }
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_entente"))
        .args(["demo", "--base-port", &base.to_string(), "--dir", d(&dir)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let demo_json = dir.join("demo.json");
    while !demo_json.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "demo.json never written"
        );
        assert!(child.try_wait().unwrap().is_none(), "demo exited early");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _guard = Kill(child);
    let demo: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&demo_json).unwrap()).unwrap();
    let nodes = demo["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    let node = |p: &str| nodes.iter().find(|n| n["partner"] == p).unwrap().clone();
    let (eu, nato, jpn) = (node("EU"), node("NATO"), node("JPN"));
    for n in [&eu, &nato, &jpn] {
        for k in ["url", "username", "password", "token"] {
            assert!(
                n[k].as_str().is_some_and(|v| !v.is_empty()),
                "{k} in demo.json"
            );
        }
    }
    // Every node serves HTTPS with its own certificate, named in demo.json.
    assert!(eu["url"].as_str().unwrap().starts_with("https://"));
    let certs: Vec<std::path::PathBuf> = [&eu, &nato, &jpn]
        .iter()
        .map(|n| std::path::PathBuf::from(n["certificate"].as_str().unwrap()))
        .collect();
    let cert_refs: Vec<&std::path::Path> = certs.iter().map(|p| p.as_path()).collect();
    let http = entente_server::tools_https(&cert_refs)
        .unwrap()
        .build()
        .unwrap();
    let get = |n: &serde_json::Value, path: &str| {
        http.get(format!("{}{path}", n["url"].as_str().unwrap()))
            .bearer_auth(n["token"].as_str().unwrap())
            .send()
    };
    // Each node sees a different subset of the seeded scenario.
    let mut seen = vec![];
    for n in [&eu, &nato, &jpn] {
        let page: serde_json::Value = get(n, "/api/v1/items?limit=500")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.push(page["items"].as_array().unwrap().len());
    }
    assert!(
        seen.iter().all(|&c| c > 0) && (seen[0] != seen[1] || seen[1] != seen[2]),
        "{seen:?}"
    );

    // The dialogue: a discussion with replies from all three partners, held alike by each.
    for n in [&eu, &nato, &jpn] {
        let threads: serde_json::Value = get(n, "/api/v1/threads")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let t = threads
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["title"].as_str().unwrap().contains("Ferry capacity"))
            .unwrap_or_else(|| panic!("{}: no ferry discussion: {threads}", n["partner"]));
        let id = t["thread_id"].as_str().unwrap();
        let full: serde_json::Value = get(n, &format!("/api/v1/threads/{id}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let partners: std::collections::BTreeSet<&str> = full["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["partner"].as_str().unwrap())
            .collect();
        assert_eq!(partners, ["EU", "JPN", "NATO"].into(), "{full}");
        // A meeting whose minutes every participant agreed, its decisions joint actions, and
        // the next meeting of its series planned.
        let meetings: serde_json::Value = get(n, "/api/v1/meetings")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(meetings.as_array().unwrap().len(), 2, "{meetings}");
        let first = meetings[0]["plan"]["meeting_id"].as_str().unwrap();
        let m: serde_json::Value = get(n, &format!("/api/v1/meetings/{first}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(m["agreed"], true, "{m}");
        assert_eq!(m["actions"].as_array().unwrap().len(), 2, "{m}");
        // A concept paper with an accepted and a rejected amendment, adopted by all three.
        let papers: serde_json::Value = get(n, "/api/v1/papers")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let pid = papers[0]["paper_id"].as_str().unwrap();
        let p: serde_json::Value = get(n, &format!("/api/v1/papers/{pid}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(p["adopted"], true, "{p}");
        let statuses: Vec<&str> = p["paper"]["amendments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["status"].as_str().unwrap())
            .collect();
        assert!(
            statuses.contains(&"accepted") && statuses.contains(&"rejected"),
            "{statuses:?}"
        );
    }
    // Two EU–JPN lessons released to NATO later: NATO holds the releases, naming their origin.
    let page: serde_json::Value = get(&nato, "/api/v1/items?limit=500")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let releases = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["released_from"].is_object())
        .count();
    assert_eq!(releases, 2, "{page}");

    let formats: serde_json::Value = get(&eu, "/api/v1/formats")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let f = formats
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["members"].as_array().unwrap().len() == 3)
        .unwrap();
    let new = serde_json::json!({"format_id": f["id"], "kind": "report", "title": "demo check: EU-JPN only",
        "tlp": "AMBER", "releasable_to": ["EU", "JPN"]});
    let t0 = std::time::Instant::now();
    let created: serde_json::Value = http
        .post(format!("{}/api/v1/items", eu["url"].as_str().unwrap()))
        .bearer_auth(eu["token"].as_str().unwrap())
        .json(&new)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    loop {
        let r = get(&jpn, &format!("/api/v1/items/{id}")).await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "never reached JPN"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    println!("EU -> JPN via push in the demo: {:?}", t0.elapsed());
    // Every instrument is seeded, and the progress report's numbers match the actions.
    for (path, min) in [
        ("/api/v1/actions", 10),
        ("/api/v1/statements", 2),
        ("/api/v1/alerts", 2),
        ("/api/v1/exercises", 1),
        ("/api/v1/projects", 1),
    ] {
        let v: serde_json::Value = get(&eu, path).await.unwrap().json().await.unwrap();
        assert!(v.as_array().is_some_and(|a| a.len() >= min), "{path}: {v}");
    }
    let statements: serde_json::Value = get(&eu, "/api/v1/statements")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let states: Vec<&str> = statements
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["status"]["state"].as_str())
        .collect();
    assert!(
        states.contains(&"adopted") && states.contains(&"pending"),
        "{states:?}"
    );
    let hybrid = formats
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["title"]
                .as_str()
                .unwrap()
                .ends_with("hybrid threats and FIMI")
        })
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let actions: serde_json::Value = get(&eu, &format!("/api/v1/actions?format={hybrid}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let n_actions = actions.as_array().unwrap().len();
    let report: serde_json::Value = get(
        &eu,
        &format!("/api/v1/formats/{hybrid}/progress-report?period=2026-H2&format=json"),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(report["actions"].as_u64().unwrap() as usize, n_actions);
    let reports: usize = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reports"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        report["reports_in_period"].as_u64().unwrap() as usize,
        reports
    );
    let md = get(
        &eu,
        &format!("/api/v1/formats/{hybrid}/progress-report?period=2026-H2"),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    // The marking is the first and the last line, the report between.
    let marking = md.lines().next().unwrap_or_default();
    assert!(marking.starts_with("**Releasable to "), "{md}");
    assert!(
        md.contains("\n# Progress report") && md.contains("## Built from"),
        "{md}"
    );
    assert_eq!(md.trim_end().lines().last(), Some(marking));
    let html = get(
        &eu,
        &format!("/api/v1/formats/{hybrid}/progress-report?period=2026-H2&format=html"),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(html.contains("<h1>Progress report"));
    assert_eq!(
        get(&nato, &format!("/api/v1/items/{id}"))
            .await
            .unwrap()
            .status(),
        404
    );
    let page = get(&nato, "/api/v1/items?limit=500")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains(&id) && !page.contains("demo check"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_checks_an_exported_statement_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("eu");
    assert!(
        entente(&["init", "--dir", d(&dir), "--partner", "EU"])
            .status
            .success()
    );
    let doc = {
        let node = entente_server::open(&dir).await.unwrap();
        node.add_user("officer", entente_domain::Role::Officer, "officer-password")
            .await
            .unwrap();
        let who = node.principal_for("officer").await.unwrap();
        let f = node
            .create_format(
                &who,
                entente_node::NewFormat {
                    title: "F".into(),
                    description: String::new(),
                    topics: vec!["space".into()],
                    members: vec!["EU".into()],
                    stix_default_releasable_to: None,
                },
            )
            .await
            .unwrap();
        let st = node
            .create_statement(
                &who,
                entente_node::statements::NewStatement {
                    format_id: f.format_id,
                    title: "Statement".into(),
                    text: "We agree.".into(),
                    releasable_to: None,
                    required: None,
                    rule: entente_domain::statement::AdoptionRule::Unanimity,
                    deadline: None,
                },
            )
            .await
            .unwrap();
        let id = st.state.statement_id;
        node.take_stance(&who, &id, 1, entente_domain::statement::Stance::Endorse, "")
            .await
            .unwrap();
        node.export_statement(&who, &id).await.unwrap()
    };
    let file = tmp.path().join("statement.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let o = entente(&["verify", "--dir", d(&dir), "--statement", d(&file)]);
    assert!(
        o.status.success() && text(&o).contains("OK"),
        "{}",
        text(&o)
    );
    let tampered = std::fs::read_to_string(&file)
        .unwrap()
        .replace("We agree.", "We disagree.");
    std::fs::write(&file, tampered).unwrap();
    let o = entente(&["verify", "--dir", d(&dir), "--statement", d(&file)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("FAILED") && text(&o).contains("altered"),
        "{}",
        text(&o)
    );
}

/// Every instrument is reachable from the command line through `entente api`.
#[test]
fn the_api_command_reaches_every_instrument() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("eu");
    assert!(
        entente(&["init", "--dir", d(&dir), "--partner", "EU"])
            .status
            .success()
    );
    assert!(
        entente(&[
            "user",
            "add",
            "--dir",
            d(&dir),
            "--username",
            "admin",
            "--role",
            "admin",
            "--password",
            "admin-password"
        ])
        .status
        .success()
    );
    let o = entente(&[
        "api",
        "--dir",
        d(&dir),
        "POST",
        "/api/v1/formats",
        "--data",
        r#"{"title":"F","topics":["space"],"members":["EU"]}"#,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let id = f["id"].as_str().unwrap();
    let body =
        format!(r#"{{"format_id":"{id}","title":"S","text":"We agree.","rule":"unanimity"}}"#);
    let o = entente(&[
        "api",
        "--dir",
        d(&dir),
        "POST",
        "/api/v1/statements",
        "--data",
        &body,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let body = format!(
        r#"{{"format_id":"{id}","title":"A","topics":["space"],"leads":["EU"],"milestones":[{{"title":"m","due":"2027-01-01"}}]}}"#
    );
    assert!(
        entente(&[
            "api",
            "--dir",
            d(&dir),
            "POST",
            "/api/v1/actions",
            "--data",
            &body
        ])
        .status
        .success()
    );
    let o = entente(&["api", "--dir", d(&dir), "GET", "/api/v1/statements"]);
    assert!(
        o.status.success() && text(&o).contains("We agree."),
        "{}",
        text(&o)
    );
    let o = entente(&[
        "api",
        "--dir",
        d(&dir),
        "POST",
        "/api/v1/alerts",
        "--data",
        "{not json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("malformed_json"), "{}", text(&o));
}

#[test]
fn backup_and_restore_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (eu, other) = (tmp.path().join("eu"), tmp.path().join("jpn"));
    assert!(
        entente(&["init", "--dir", d(&eu), "--partner", "EU"])
            .status
            .success()
    );
    assert!(
        entente(&["init", "--dir", d(&other), "--partner", "JPN"])
            .status
            .success()
    );
    assert!(
        entente(&[
            "user",
            "add",
            "--dir",
            d(&eu),
            "--username",
            "admin",
            "--role",
            "admin",
            "--password",
            "admin-password"
        ])
        .status
        .success()
    );
    let file = tmp.path().join("eu-backup.db");
    let o = entente(&["backup", "--dir", d(&eu), "--out", d(&file)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = entente(&["backup", "--dir", d(&eu), "--out", d(&file)]);
    assert!(!o.status.success(), "never overwrites an existing file");
    let o = entente(&["restore", "--dir", d(&other), "--from", d(&file)]);
    assert!(
        !o.status.success() && text(&o).contains("another partner"),
        "{}",
        text(&o)
    );
    let o = entente(&["restore", "--dir", d(&eu), "--from", d(&file)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = entente(&["verify", "--dir", d(&eu)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = entente(&["api", "--dir", d(&eu), "GET", "/api/v1/me"]);
    assert!(
        o.status.success() && text(&o).contains("admin"),
        "the restored store has its users: {}",
        text(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_detects_alteration_and_deletion() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("eu");
    assert!(
        entente(&["init", "--dir", d(&dir), "--partner", "EU"])
            .status
            .success()
    );
    assert!(
        entente(&[
            "user",
            "add",
            "--dir",
            d(&dir),
            "--username",
            "admin",
            "--role",
            "admin",
            "--password",
            "admin-password"
        ])
        .status
        .success()
    );
    assert!(
        entente(&["token", "create", "--dir", d(&dir), "--username", "admin"])
            .status
            .success()
    );
    let o = entente(&[
        "api",
        "--dir",
        d(&dir),
        "POST",
        "/api/v1/formats",
        "--data",
        r#"{"title":"F","topics":["space"],"members":["EU"]}"#,
    ]);
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let body = format!(
        r#"{{"format_id":"{}","kind":"note","title":"amber","tlp":"AMBER"}}"#,
        f["id"].as_str().unwrap()
    );
    let o = entente(&[
        "api",
        "--dir",
        d(&dir),
        "POST",
        "/api/v1/items",
        "--data",
        &body,
    ]);
    let it: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        entente(&[
            "api",
            "--dir",
            d(&dir),
            "GET",
            &format!("/api/v1/items/{}", it["id"].as_str().unwrap())
        ])
        .status
        .success()
    );
    let o = entente(&["verify", "--dir", d(&dir), "--audit"]);
    assert!(o.status.success(), "{}", text(&o));
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("entente.db").display()))
        .await
        .unwrap();
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit ORDER BY seq")
        .fetch_all(&pool)
        .await
        .unwrap();
    for a in ["user_add", "token_create", "release", "read"] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
    sqlx::query("UPDATE audit SET actor = 'someone-else' WHERE action = 'read'")
        .execute(&pool)
        .await
        .unwrap();
    let o = entente(&["verify", "--dir", d(&dir), "--audit"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("altered"), "{}", text(&o));
    sqlx::query("UPDATE audit SET actor = (SELECT actor FROM audit WHERE action = 'release') WHERE action = 'read'").execute(&pool).await.unwrap();
    sqlx::query("DELETE FROM audit WHERE action = 'token_create'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let o = entente(&["verify", "--dir", d(&dir), "--audit"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("missing"), "{}", text(&o));
}

#[test]
fn config_check_names_the_key_or_path_at_fault() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("eu");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = port.local_addr().unwrap().to_string();
    assert!(
        entente(&[
            "init",
            "--dir",
            d(&dir),
            "--partner",
            "EU",
            "--listen",
            &addr
        ])
        .status
        .success()
    );
    let check = |env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_entente"));
        c.args(["config", "check", "--dir", d(&dir)])
            .env_remove("ENTENTE_DIR")
            .env_remove("ENTENTE_TEST_PG_URL");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    // The port is held by this test: start-up would fail, and says so.
    let o = check(&[]);
    assert!(
        !o.status.success() && text(&o).contains("listen") && text(&o).contains(&addr),
        "{}",
        text(&o)
    );
    drop(port);
    let o = check(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = check(&[("ENTENTE_SYNC_PAGE_SIZE", "lots")]);
    assert!(
        !o.status.success() && text(&o).contains("ENTENTE_SYNC_PAGE_SIZE"),
        "{}",
        text(&o)
    );
    let o = check(&[("ENTENTE_COLOUR", "blue")]);
    assert!(
        !o.status.success() && text(&o).contains("ENTENTE_COLOUR: unknown setting"),
        "{}",
        text(&o)
    );
    let o = check(&[("ENTENTE_MALWARE_SCAN", "clamd.example:3310")]);
    assert!(
        !o.status.success()
            && text(&o).contains("malware_scan")
            && text(&o).contains("tcp:HOST:PORT"),
        "{}",
        text(&o)
    );
    let o = check(&[("ENTENTE_MALWARE_SCAN", "unix:/run/clamav/clamd.ctl")]);
    assert!(o.status.success(), "{}", text(&o));
    let o = check(&[("ENTENTE_DATABASE_URL", "mysql://nowhere")]);
    assert!(
        !o.status.success() && text(&o).contains("database.url"),
        "{}",
        text(&o)
    );
    std::fs::write(dir.join("node.key"), "not a key").unwrap();
    let o = check(&[]);
    assert!(
        !o.status.success() && text(&o).contains("node.key"),
        "{}",
        text(&o)
    );
}

/// M7/L8: what a node keeps and writes is its operator's only: the data directory is 0700,
/// the database, its WAL, backups and exports 0600; an export never follows a symlink; a
/// password can come from a file instead of the command line.
#[test]
fn data_at_rest_is_the_operators_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let tmp = tempfile::tempdir().unwrap();
    let eu = tmp.path().join("eu");
    assert!(
        entente(&["init", "--dir", d(&eu), "--partner", "EU"])
            .status
            .success()
    );
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "a-password-from-a-file\n").unwrap();
    let o = entente(&[
        "user",
        "add",
        "--dir",
        d(&eu),
        "--username",
        "admin",
        "--role",
        "admin",
        "--password-file",
        d(&pw),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = entente(&[
        "api",
        "--dir",
        d(&eu),
        "POST",
        "/api/v1/formats",
        "--data",
        r#"{"title":"lab","topics":["cyber-defence"],"members":["EU"]}"#,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let id = f["id"].as_str().unwrap().to_owned();
    assert_eq!(mode(&eu), 0o700, "data directory");
    for f in ["entente.db", "node.key"] {
        assert_eq!(mode(&eu.join(f)), 0o600, "{f}");
    }
    if eu.join("entente.db-wal").exists() {
        assert_eq!(mode(&eu.join("entente.db-wal")), 0o600, "WAL");
    }
    let backup = tmp.path().join("b.db");
    assert!(
        entente(&["backup", "--dir", d(&eu), "--out", d(&backup)])
            .status
            .success()
    );
    assert_eq!(mode(&backup), 0o600, "backup");
    let out = tmp.path().join("export.json");
    let o = entente(&["export", "--dir", d(&eu), "--format", &id, "--out", d(&out)]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(mode(&out), 0o600, "export");
    // An export aimed at a symlink does not write through it.
    let target = tmp.path().join("elsewhere");
    std::fs::write(&target, "untouched").unwrap();
    let link = tmp.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = entente(&[
        "export",
        "--dir",
        d(&eu),
        "--format",
        &id,
        "--out",
        d(&link),
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
    let dangling = tmp.path().join("dangling.db");
    std::os::unix::fs::symlink(tmp.path().join("nowhere.db"), &dangling).unwrap();
    let o = entente(&["backup", "--dir", d(&eu), "--out", d(&dangling)]);
    assert!(!o.status.success(), "a backup never writes through a link");
    assert!(!tmp.path().join("nowhere.db").exists());
}

/// M5 from the command line: `user disable|enable|set-role|delete`, `token list|revoke` and
/// `peer suspend|resume|remove` work on a node's directory, and `entente api` as a disabled
/// user is refused at once.
#[test]
fn access_is_revoked_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (eu, nato) = (tmp.path().join("eu"), tmp.path().join("nato"));
    assert!(
        entente(&["init", "--dir", d(&eu), "--partner", "EU"])
            .status
            .success()
    );
    assert!(
        entente(&["init", "--dir", d(&nato), "--partner", "NATO"])
            .status
            .success()
    );
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "pw-jun-0123456789\n").unwrap();
    let o = entente(&[
        "user",
        "add",
        "--dir",
        d(&eu),
        "--username",
        "jun",
        "--role",
        "analyst",
        "--password-file",
        d(&pw),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let me = || entente(&["api", "--dir", d(&eu), "--user", "jun", "GET", "/api/v1/me"]);
    assert!(me().status.success(), "{}", text(&me()));
    let o = entente(&["user", "disable", "--dir", d(&eu), "jun"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !me().status.success(),
        "a disabled user's `entente api` is refused"
    );
    let o = entente(&["user", "list", "--dir", d(&eu)]);
    assert!(text(&o).contains("DISABLED"), "{}", text(&o));
    assert!(
        entente(&["user", "enable", "--dir", d(&eu), "jun"])
            .status
            .success()
    );
    assert!(
        entente(&["user", "set-role", "--dir", d(&eu), "jun", "reader"])
            .status
            .success()
    );
    let o = entente(&["api", "--dir", d(&eu), "--user", "jun", "GET", "/api/v1/me"]);
    assert!(text(&o).contains("reader"), "{}", text(&o));
    let o = entente(&["user", "set-role", "--dir", d(&eu), "jun", "emperor"]);
    assert!(
        !o.status.success(),
        "an unknown role is refused: {}",
        text(&o)
    );

    let o = entente(&[
        "token",
        "create",
        "--dir",
        d(&eu),
        "--username",
        "jun",
        "--label",
        "cron",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = entente(&["token", "list", "--dir", d(&eu), "--username", "jun"]);
    let line = text(&o)
        .lines()
        .find(|l| l.contains("cron"))
        .unwrap()
        .to_owned();
    assert!(line.contains("expires 20"), "API tokens expire: {line}");
    let id = line.split_whitespace().next().unwrap().to_owned();
    let o = entente(&["token", "revoke", "--dir", d(&eu), &id]);
    assert!(o.status.success(), "{}", text(&o));
    let o = entente(&["token", "list", "--dir", d(&eu), "--username", "jun"]);
    assert!(!text(&o).contains("cron"), "{}", text(&o));

    let key = String::from_utf8(entente(&["id", "--dir", d(&nato)]).stdout).unwrap();
    let key = key
        .split_whitespace()
        .find(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap()
        .to_owned();
    let o = entente(&[
        "peer",
        "add",
        "--dir",
        d(&eu),
        "--partner",
        "NATO",
        "--key",
        &key,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    for (cmd, state) in [
        ("suspend", "suspended"),
        ("resume", "active"),
        ("remove", "removed"),
    ] {
        let o = entente(&["peer", cmd, "--dir", d(&eu), "NATO"]);
        assert!(
            o.status.success() && text(&o).contains(state),
            "{}",
            text(&o)
        );
    }
    let o = entente(&["peer", "list", "--dir", d(&eu)]);
    assert!(text(&o).contains("removed"), "{}", text(&o));
    assert!(
        entente(&["user", "delete", "--dir", d(&eu), "jun"])
            .status
            .success()
    );
    assert!(!me().status.success());
}
