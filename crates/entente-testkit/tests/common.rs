//! Helpers shared by the federation and API tests.
#![allow(dead_code)]

use entente_domain::{FormatState, ItemState};
use entente_node::{NewFormat, NewItem};
use entente_testkit::TestNode;
use std::time::Duration;

pub async fn format(n: &TestNode, title: &str, members: &[&str]) -> FormatState {
    n.node
        .create_format(
            &n.admin(),
            NewFormat {
                title: title.into(),
                description: String::new(),
                topics: vec!["maritime-security".into()],
                members: members.iter().map(|m| m.to_string()).collect(),
                stix_default_releasable_to: None,
            },
        )
        .await
        .expect("create format")
}

pub async fn item(
    n: &TestNode,
    format_id: &str,
    title: &str,
    tlp: Option<&str>,
    to: Option<&[&str]>,
) -> ItemState {
    n.node
        .create_item(
            &n.admin(),
            NewItem {
                format_id: format_id.into(),
                kind: "report".into(),
                title: title.into(),
                body: format!("body of {title}"),
                topics: vec!["maritime-security".into()],
                tlp: tlp.map(str::to_owned),
                releasable_to: to.map(|v| v.iter().map(|p| p.to_string()).collect()),
                named_users: vec![],
                attachments: vec![],
            },
        )
        .await
        .expect("create item")
}

pub async fn has_item(n: &TestNode, id: &str) -> bool {
    n.node.store().item(id).await.expect("store").is_some()
}

/// Wait for a condition (checked every 20 ms) with a generous deadline: a condition wait,
/// not a timing assertion.
pub async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if f().await {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every byte the node's SQLite database holds on disk (main file and WAL).
pub fn db_bytes(n: &TestNode) -> Vec<u8> {
    let mut out = vec![];
    for suffix in ["", "-wal"] {
        let mut p = n.db_path().into_os_string();
        p.push(suffix);
        if let Ok(b) = std::fs::read(&p) {
            out.extend(b);
        }
    }
    out
}

pub fn contains(hay: &[u8], needle: &str) -> bool {
    memchr::memmem::find(hay, needle.as_bytes()).is_some()
}

/// A signed federation GET to `target`, as `caller` would send it.
pub async fn fed_get(
    caller: &TestNode,
    caller_key_seed: Option<&str>,
    target: &TestNode,
    path: &str,
) -> reqwest::Response {
    let key = match caller_key_seed {
        Some(s) => entente_log::NodeKey::from_seed_hex(s).unwrap(),
        None => panic!("pass the caller's key seed"),
    };
    let now = time_now();
    let hs = entente_node::fed::sign_request(
        &key,
        caller.node.partner(),
        target.node.partner(),
        "GET",
        path,
        b"",
        now,
        &entente_node::fed::new_nonce(),
    );
    let mut req = entente_testkit::http_client().get(format!("{}{path}", target.url()));
    for (k, v) in hs {
        req = req.header(k, v);
    }
    req.send().await.unwrap()
}

pub fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Sign in to `n`'s web UI with the password form: a client that does not follow redirects,
/// and the session cookie (`name=value`).
pub async fn sign_in(n: &TestNode, user: &str, password: &str) -> (reqwest::Client, String) {
    let http = entente_testkit::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = n.url();
    let r = http.get(format!("{base}/ui/login")).send().await.unwrap();
    let pre = r.headers()["set-cookie"].to_str().unwrap();
    let pre = pre.split(';').next().unwrap().to_owned();
    let html = r.text().await.unwrap();
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    let csrf = html[at..].split('"').next().unwrap();
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("csrf", csrf), ("username", user), ("password", password)])
        .finish();
    let r = http
        .post(format!("{base}/ui/login"))
        .header("cookie", &pre)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "login of {user}");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("entente_session_"))
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (http, cookie)
}

/// A page of `n`'s web UI as its admin sees it.
pub async fn admin_page(n: &TestNode, path: &str) -> String {
    admin_page_in(n, path, "en").await
}

/// [`admin_page`] as a browser that asks for `accept_language` sees it.
pub async fn admin_page_in(n: &TestNode, path: &str, accept_language: &str) -> String {
    let (http, cookie) = sign_in(n, "admin", "admin-password-1").await;
    let r = http
        .get(format!("{}{path}", n.url()))
        .header("cookie", cookie)
        .header("accept-language", accept_language)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

/// `POST /api/v1/attachments` of `bytes` as `n`'s admin.
pub async fn post_file(n: &TestNode, bytes: &[u8]) -> reqwest::Response {
    n.http()
        .post(format!("{}/api/v1/attachments", n.url()))
        .bearer_auth(&n.token)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

/// Upload a file that must be accepted; its answer.
pub async fn upload(n: &TestNode, bytes: &[u8]) -> serde_json::Value {
    let r = post_file(n, bytes).await;
    assert_eq!(r.status(), 201, "upload");
    r.json().await.unwrap()
}

/// An AMBER report of `n` for `to` carrying one uploaded file; the item as answered.
pub async fn item_with_file(
    n: &TestNode,
    format_id: &str,
    sha: &str,
    name: &str,
    to: &[&str],
) -> serde_json::Value {
    let r = n
        .http()
        .post(format!("{}/api/v1/items", n.url()))
        .bearer_auth(&n.token)
        .json(&serde_json::json!({
            "format_id": format_id, "kind": "report", "title": "After-action report, ferry exercise",
            "tlp": "AMBER", "releasable_to": to, "topics": ["maritime-security"],
            "attachments": [{"sha256": sha, "name": name}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "item: {}", r.text().await.unwrap());
    r.json().await.unwrap()
}

/// Download an item's file as `n`'s admin.
pub async fn download(n: &TestNode, item: &str, sha: &str) -> reqwest::Response {
    n.http()
        .get(format!("{}/api/v1/items/{item}/attachments/{sha}", n.url()))
        .bearer_auth(&n.token)
        .send()
        .await
        .unwrap()
}

/// A stand-in for ClamAV's `clamd` on a Unix socket: its `INSTREAM` protocol, finding every
/// file that holds `marker`, and `VERSION`, which names signature database 27001, or 27000
/// while `blind` (an older database that does not know the marker). While `down` is set it
/// still answers `VERSION` and scans nothing; while `hold` is true it answers no scan until
/// it is set back (a scan that is still running).
pub struct FakeClamd {
    pub clamd: entente_node::config::Clamd,
    pub down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub blind: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub hold: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    /// The task that serves it, to stop when the test is done with it.
    pub task: tokio::task::JoinHandle<()>,
}

impl FakeClamd {
    pub fn start(dir: &std::path::Path, marker: &'static str) -> FakeClamd {
        use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let path = dir.join("clamd.sock");
        let l = tokio::net::UnixListener::bind(&path).unwrap();
        let down = std::sync::Arc::new(AtomicBool::new(false));
        let blind = std::sync::Arc::new(AtomicBool::new(false));
        let (d, b) = (down.clone(), blind.clone());
        let hold = std::sync::Arc::new(tokio::sync::watch::Sender::new(false));
        let held = hold.subscribe();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let down = d.load(SeqCst);
                let blind = b.load(SeqCst);
                let mut held = held.clone();
                tokio::spawn(async move {
                    // The command, up to its NUL.
                    let mut cmd = vec![];
                    while cmd.last() != Some(&0) && cmd.len() < 16 {
                        cmd.push(s.read_u8().await?);
                    }
                    if cmd == b"zVERSION\0" {
                        let db = if blind { "27000" } else { "27001" };
                        let answer = format!("ClamAV 1.0.7/{db}/Mon Dec  7 00:00:00 2026\0");
                        s.write_all(answer.as_bytes()).await?;
                        return Ok(());
                    }
                    if down {
                        return Ok(());
                    }
                    assert_eq!(cmd, b"zINSTREAM\0");
                    let mut data = Vec::new();
                    loop {
                        let n = s.read_u32().await? as usize;
                        if n == 0 {
                            break;
                        }
                        let at = data.len();
                        data.resize(at + n, 0);
                        s.read_exact(&mut data[at..]).await?;
                    }
                    // Answer only once the hold ends, so a test can look at a scan while it
                    // is still running.
                    let _ = held.wait_for(|h| !*h).await;
                    let found =
                        !blind && data.windows(marker.len()).any(|w| w == marker.as_bytes());
                    let answer: &[u8] = if found {
                        b"stream: Entente-Test-Signature FOUND\0"
                    } else {
                        b"stream: OK\0"
                    };
                    s.write_all(answer).await?;
                    Ok::<_, std::io::Error>(())
                });
            }
        });
        FakeClamd {
            clamd: entente_node::config::Clamd::Unix(path),
            down,
            blind,
            hold,
            task,
        }
    }
}
