//! Two `entente serve` processes of one node sharing one PostgreSQL database behave as one node:
//! concurrent writers through both leave every log gap-free and duplicate-free, and a third node
//! syncs the result and verifies it. Runs when `ENTENTE_TEST_PG_URL` names a database (CI starts
//! a cluster and sets it).

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use entente_testkit::cli::{Kill as Serve, free_port, path as d};

fn entente(args: &[&str]) -> Output {
    entente_testkit::cli::run(env!("CARGO_BIN_EXE_entente"), args, &[])
}

fn ok(args: &[&str]) -> String {
    let o = entente(args);
    let text = entente_testkit::cli::text(&o);
    assert!(o.status.success(), "entente {args:?}: {text}");
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// A node's public key, as `entente id` prints it.
fn public_key(dir: &Path) -> String {
    ok(&["id", "--dir", d(dir)])
        .split_whitespace()
        .find(|w| w.len() == 64 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .expect("a public key in `entente id`")
        .to_owned()
}

fn serve(dir: &Path, listen: &str) -> Serve {
    Serve(
        entente_testkit::cli::command(env!("CARGO_BIN_EXE_entente"))
            .args(["serve", "--dir", d(dir)])
            .env("ENTENTE_LISTEN", listen)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

async fn healthy(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if http
            .get(format!("{url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        assert!(Instant::now() < deadline, "{url} never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_on_one_postgres_are_one_node() {
    let Ok(base) = std::env::var("ENTENTE_TEST_PG_URL") else {
        eprintln!("ENTENTE_TEST_PG_URL is not set: the replica test is skipped");
        return;
    };
    // A database of its own.
    let db = format!("replicas_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}")))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&admin)
        .await
        .unwrap();
    let url = format!("{}/{db}", &base[..base.rfind('/').unwrap()]);

    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("eu-a"),
        tmp.path().join("eu-b"),
        tmp.path().join("jpn"),
    );
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let la = format!("127.0.0.1:{pa}");
    ok(&[
        "init",
        "--dir",
        d(&a),
        "--partner",
        "EU",
        "--listen",
        &la,
        "--dev-plain-http",
    ]);
    entente_server::ServerConfig::rewrite(&a, |f| f.database.url = url.clone()).unwrap();
    // The second process of the same node: the same key and configuration, its own port.
    std::fs::create_dir_all(&b).unwrap();
    for f in std::fs::read_dir(&a).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            std::fs::copy(f.path(), b.join(f.file_name())).unwrap();
        }
    }
    let lc = format!("127.0.0.1:{pc}");
    ok(&[
        "init",
        "--dir",
        d(&c),
        "--partner",
        "JPN",
        "--listen",
        &lc,
        "--dev-plain-http",
    ]);
    let (eu_key, jpn_key) = (public_key(&a), public_key(&c));
    ok(&[
        "peer",
        "add",
        "--dir",
        d(&a),
        "--partner",
        "JPN",
        "--key",
        &jpn_key,
        "--url",
        &format!("http://{lc}"),
    ]);
    ok(&[
        "peer",
        "add",
        "--dir",
        d(&c),
        "--partner",
        "EU",
        "--key",
        &eu_key,
        "--url",
        &format!("http://{la}"),
    ]);
    ok(&[
        "user",
        "add",
        "--dir",
        d(&a),
        "--username",
        "alice",
        "--role",
        "officer",
        "--password",
        "alice-password-1",
    ]);
    let token = ok(&["token", "create", "--dir", d(&a), "--username", "alice"]);

    let lb = format!("127.0.0.1:{pb}");
    let (_sa, _sb) = (serve(&a, &la), serve(&b, &lb));
    let http = entente_server::tools_http().build().unwrap();
    let (ua, ub) = (format!("http://{la}"), format!("http://{lb}"));
    healthy(&http, &ua).await;
    healthy(&http, &ub).await;
    let f: serde_json::Value = http
        .post(format!("{ua}/api/v1/formats"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "Replicated", "topics": ["maritime-security"], "members": ["EU", "JPN"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let format_id = f["id"].as_str().expect("format id").to_owned();

    // Eight writers, four through each process, all at once.
    const PER_WRITER: usize = 25;
    let mut writers = vec![];
    for w in 0..8 {
        let (http, token, format_id) = (http.clone(), token.clone(), format_id.clone());
        let url = if w % 2 == 0 { ua.clone() } else { ub.clone() };
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let r = http
                    .post(format!("{url}/api/v1/items"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({
                        "format_id": format_id, "kind": "note", "title": format!("w{w} item {i}"),
                        "tlp": "GREEN", "releasable_to": if i % 3 == 0 { vec![] } else { vec!["JPN"] },
                    }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }

    // Every log in the shared database: sequence numbers 1..head, each once.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let logs: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT l.log_id, l.head_seq, COUNT(e.seq), COUNT(DISTINCT e.seq), COALESCE(MAX(e.seq), 0)
         FROM logs l LEFT JOIN entries e ON e.log_id = l.log_id GROUP BY l.log_id, l.head_seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(logs.len() >= 2, "{logs:?}");
    for (log, head, n, distinct, max) in &logs {
        assert_eq!(
            (n, distinct, max),
            (head, head, head),
            "log {log} has gaps or duplicates"
        );
    }
    let items: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(items as usize, 8 * PER_WRITER);

    // Each process's search index converges on the shared store: both find all 200 items,
    // half of which the other process wrote (a refresh every few seconds picks them up).
    for u in [&ua, &ub] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r: serde_json::Value = http
                .get(format!("{u}/api/v1/search?q=item"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if r["total"] == 8 * PER_WRITER {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{u}: search sees {} items",
                r["total"]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // A third node syncs from one of the processes and verifies what it received.
    let out = ok(&["sync", "--once", "--dir", d(&c)]);
    assert!(out.contains("EU"), "{out}");
    let out = ok(&["verify", "--dir", d(&c)]);
    assert!(!out.contains("problem"), "{out}");
    ok(&[
        "user",
        "add",
        "--dir",
        d(&c),
        "--username",
        "admin",
        "--role",
        "admin",
        "--password",
        "admin-password-1",
    ]);
    let listed = ok(&["api", "--dir", d(&c), "GET", "/api/v1/items?limit=500"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let to_jpn = (0..PER_WRITER).filter(|i| i % 3 != 0).count() * 8;
    assert_eq!(listed["items"].as_array().unwrap().len(), to_jpn);
    drop(pool);
    admin.close().await;
}

/// A fresh database in the test cluster; returns its URL.
async fn fresh_database(base: &str, name: &str) -> String {
    let admin = sqlx::PgPool::connect(base).await.unwrap();
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .unwrap();
    }
    admin.close().await;
    format!("{}/{name}", &base[..base.rfind('/').unwrap()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_backup_taken_under_load_restores_verifies_and_resumes() {
    let Ok(base) = std::env::var("ENTENTE_TEST_PG_URL") else {
        eprintln!("ENTENTE_TEST_PG_URL is not set: the PostgreSQL backup test is skipped");
        return;
    };
    let url = fresh_database(&base, &format!("backup_{}", std::process::id())).await;
    let tmp = tempfile::tempdir().unwrap();
    let (eu, jpn) = (tmp.path().join("eu"), tmp.path().join("jpn"));
    let (pe, pj) = (free_port(), free_port());
    let (le, lj) = (format!("127.0.0.1:{pe}"), format!("127.0.0.1:{pj}"));
    ok(&[
        "init",
        "--dir",
        d(&eu),
        "--partner",
        "EU",
        "--listen",
        &le,
        "--dev-plain-http",
    ]);
    entente_server::ServerConfig::rewrite(&eu, |f| f.database.url = url.clone()).unwrap();
    ok(&[
        "init",
        "--dir",
        d(&jpn),
        "--partner",
        "JPN",
        "--listen",
        &lj,
        "--dev-plain-http",
    ]);
    let (ke, kj) = (public_key(&eu), public_key(&jpn));
    ok(&[
        "peer",
        "add",
        "--dir",
        d(&eu),
        "--partner",
        "JPN",
        "--key",
        &kj,
        "--url",
        &format!("http://{lj}"),
    ]);
    ok(&[
        "peer",
        "add",
        "--dir",
        d(&jpn),
        "--partner",
        "EU",
        "--key",
        &ke,
        "--url",
        &format!("http://{le}"),
    ]);
    ok(&[
        "user",
        "add",
        "--dir",
        d(&eu),
        "--username",
        "alice",
        "--role",
        "officer",
        "--password",
        "alice-password-1",
    ]);
    ok(&[
        "user",
        "add",
        "--dir",
        d(&jpn),
        "--username",
        "admin",
        "--role",
        "admin",
        "--password",
        "admin-password-1",
    ]);
    let token = ok(&["token", "create", "--dir", d(&eu), "--username", "alice"]);
    let mut eu_serve = serve(&eu, &le);
    let _jpn_serve = serve(&jpn, &lj);
    let http = entente_server::tools_http().build().unwrap();
    let (ue, uj) = (format!("http://{le}"), format!("http://{lj}"));
    healthy(&http, &ue).await;
    healthy(&http, &uj).await;
    let f: serde_json::Value = http
        .post(format!("{ue}/api/v1/formats"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "Backed up", "topics": ["maritime-security"], "members": ["EU", "JPN"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let format_id = f["id"].as_str().unwrap().to_owned();
    let post = {
        let (http, ue, token, format_id) =
            (http.clone(), ue.clone(), token.clone(), format_id.clone());
        move |i: usize| {
            let (http, ue, token, format_id) =
                (http.clone(), ue.clone(), token.clone(), format_id.clone());
            async move {
                let r = http
                    .post(format!("{ue}/api/v1/items"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"format_id": format_id, "kind": "note",
                    "title": format!("item {i}"), "tlp": "GREEN", "releasable_to": ["JPN"]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
            }
        }
    };
    // Writers run while the backup is taken.
    // The writer reports how many items it has written and stops after 60; it waits for the
    // backup to have been taken before its last 20, so the backup always falls mid-load.
    let (written_tx, mut written) = tokio::sync::watch::channel(0usize);
    let (backed_up_tx, mut backed_up) = tokio::sync::watch::channel(false);
    let writer = {
        let post = post.clone();
        tokio::spawn(async move {
            for i in 0..60 {
                if i == 40 {
                    let _ = backed_up.wait_for(|b| *b).await;
                }
                post(i).await;
                written_tx.send_replace(i + 1);
            }
        })
    };
    written.wait_for(|n| *n >= 20).await.unwrap();
    let dump = tmp.path().join("eu.dump");
    ok(&["backup", "--dir", d(&eu), "--out", d(&dump)]);
    backed_up_tx.send_replace(true);
    writer.await.unwrap();
    // JPN holds everything EU wrote (push, then an explicit pull to be sure).
    ok(&["sync", "--once", "--dir", d(&jpn)]);
    // A backup of another partner is refused before anything is replaced.
    drop(eu_serve);
    let o = entente(&["restore", "--dir", d(&jpn), "--from", d(&dump)]);
    assert!(!o.status.success());
    // EU is restored from the mid-load backup: it verifies, recovers its later entries from
    // JPN instead of reissuing their sequence numbers, and goes on writing.
    ok(&["restore", "--dir", d(&eu), "--from", d(&dump)]);
    let out = ok(&["verify", "--dir", d(&eu)]);
    assert!(out.contains("all logs verify"), "{out}");
    let count = |dir: &Path, user: &str| {
        let listed = ok(&[
            "api",
            "--dir",
            d(dir),
            "--user",
            user,
            "GET",
            "/api/v1/items?limit=500",
        ]);
        let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
        listed["items"].as_array().unwrap().len()
    };
    let restored = count(&eu, "alice");
    assert!(
        restored < 60,
        "the backup was taken mid-load: {restored} items"
    );
    ok(&["sync", "--once", "--dir", d(&eu)]);
    assert_eq!(
        count(&eu, "alice"),
        60,
        "EU recovers its later items from JPN"
    );
    eu_serve = serve(&eu, &le);
    healthy(&http, &ue).await;
    post(1000).await;
    ok(&["sync", "--once", "--dir", d(&jpn)]);
    for dir in [&eu, &jpn] {
        let out = ok(&["verify", "--dir", d(dir)]);
        assert!(
            out.contains("all logs verify") && out.contains(" 0 fork(s)"),
            "{out}"
        );
    }
    assert_eq!(count(&jpn, "admin"), 61);
    drop(eu_serve);
}
