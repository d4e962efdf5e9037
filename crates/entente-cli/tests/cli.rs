//! The `entente` binary as an operator uses it.

use std::path::Path;
use std::process::{Command, Output};

fn entente(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_entente"))
        .args(args)
        .env_remove("ENTENTE_DIR")
        .env_remove("ENTENTE_PASSWORD")
        .output()
        .expect("run entente")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn d(p: &Path) -> &str {
    p.to_str().unwrap()
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
}
