//! M5: access can be taken away, and it is gone at the next request on every surface: a
//! revoked token on REST and TAXII; a disabled, re-roled or deleted user on REST, TAXII
//! (password and token) and the UI; a suspended peer on federation. Each change is audited.

mod common;

use common::*;
use entente_domain::Role;
use entente_node::auth::TokenKind;
use entente_testkit::Cluster;
use reqwest::StatusCode;
use serde_json::json;

const TAXII: &str = "application/taxii+json;version=2.1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_disabled_users_and_suspended_peers_stop_at_the_next_request() {
    let c = Cluster::new(&["EU", "NATO"]).await.unwrap();
    let (eu, nato) = (c.node("EU"), c.node("NATO"));
    let (base, http, admin) = (eu.url(), eu.http(), eu.token.clone());
    eu.node
        .add_user("jun", Role::Analyst, "pw-jun-0123456789")
        .await
        .unwrap();
    let api_token = eu
        .node
        .create_token_for("jun", "script", TokenKind::Api)
        .await
        .unwrap();
    let login: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "jun", "password": "pw-jun-0123456789"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = login["token"].as_str().unwrap().to_owned();

    let rest = |secret: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            http.get(format!("{base}/api/v1/me"))
                .bearer_auth(secret)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let taxii = |secret: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            http.get(format!("{base}/taxii2/"))
                .header("accept", TAXII)
                .basic_auth("jun", Some(secret))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let ui = |secret: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http
                .get(format!("{base}/ui/items"))
                .header("cookie", format!("entente_session_eu={secret}"))
                .send()
                .await
                .unwrap();
            // Signed in: the page; signed out: sent to the login form.
            r.status() == StatusCode::OK && !r.url().path().starts_with("/ui/login")
        }
    };
    let admin_call = |method: reqwest::Method, path: String, body: Option<serde_json::Value>| {
        let (http, base, admin) = (http.clone(), base.clone(), admin.clone());
        async move {
            let mut r = http
                .request(method, format!("{base}{path}"))
                .bearer_auth(admin);
            if let Some(b) = body {
                r = r.json(&b);
            }
            let r = r.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };

    // Everything works to begin with (the password also warms the TAXII password cache).
    assert_eq!(rest(api_token.clone()).await, StatusCode::OK);
    assert_eq!(taxii(api_token.clone()).await, StatusCode::OK);
    assert_eq!(taxii("pw-jun-0123456789".into()).await, StatusCode::OK);
    assert!(ui(session.clone()).await);

    // Revoke the API token by its listed id: REST and TAXII refuse it at once.
    let (st, list) = admin_call(reqwest::Method::GET, "/api/v1/tokens?user=jun".into(), None).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    assert_eq!(list.len(), 2, "the API token and the session: {list:?}");
    assert!(
        !serde_json::to_string(&list).unwrap().contains(&api_token),
        "no secrets listed"
    );
    let id = list.iter().find(|t| t["label"] == "script").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (st, body) = admin_call(
        reqwest::Method::DELETE,
        format!("/api/v1/tokens/{id}"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(rest(api_token.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(taxii(api_token.clone()).await, StatusCode::UNAUTHORIZED);
    assert!(ui(session.clone()).await, "other tokens are untouched");

    // Disable the user: its session (REST, UI) and password (TAXII, cached) stop at once.
    let (st, body) = admin_call(
        reqwest::Method::PATCH,
        "/api/v1/users/jun".into(),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(rest(session.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(taxii(session.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        taxii("pw-jun-0123456789".into()).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(!ui(session.clone()).await);
    assert!(
        eu.node
            .login("jun", "pw-jun-0123456789", None)
            .await
            .is_err()
    );

    // Enabled again as a reader: signed in, but writing is refused.
    let (st, _) = admin_call(
        reqwest::Method::PATCH,
        "/api/v1/users/jun".into(),
        Some(json!({"disabled": false, "role": "reader"})),
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(rest(session.clone()).await, StatusCode::OK);
    let f = format(eu, "pair", &["EU", "NATO"]).await;
    let w = http
        .post(format!("{base}/api/v1/items"))
        .bearer_auth(&session)
        .json(&json!({"format_id": f.format_id, "kind": "note", "title": "t", "tlp": "GREEN"}))
        .send()
        .await
        .unwrap();
    assert_eq!(w.status(), StatusCode::FORBIDDEN);
    // An admin cannot lock itself out.
    let (st, _) = admin_call(
        reqwest::Method::PATCH,
        "/api/v1/users/admin".into(),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);

    // Deleted: everything it held is gone.
    let (st, _) = admin_call(reqwest::Method::DELETE, "/api/v1/users/jun".into(), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(rest(session.clone()).await, StatusCode::UNAUTHORIZED);
    assert!(
        eu.node
            .store()
            .tokens(Some("jun"))
            .await
            .unwrap()
            .is_empty()
    );

    // A suspended peer may no longer call; resumed, it may again. Its logs stay.
    assert_eq!(
        fed_get(nato, Some(&nato.key_seed), eu, "/fed/v1/logs")
            .await
            .status(),
        StatusCode::OK
    );
    let (st, body) = admin_call(
        reqwest::Method::PATCH,
        "/api/v1/peers/NATO".into(),
        Some(json!({"state": "suspended"})),
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        fed_get(nato, Some(&nato.key_seed), eu, "/fed/v1/logs")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let reports = eu.node.sync_once().await;
    assert!(
        reports.is_empty(),
        "a suspended peer is not pulled from: {reports:?}"
    );
    let (st, _) = admin_call(
        reqwest::Method::PATCH,
        "/api/v1/peers/NATO".into(),
        Some(json!({"state": "active"})),
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        fed_get(nato, Some(&nato.key_seed), eu, "/fed/v1/logs")
            .await
            .status(),
        StatusCode::OK
    );

    // Every change is in the audit log.
    let actions: Vec<String> = eu
        .node
        .store()
        .audit_records(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    for a in ["token_revoke", "user_change", "user_delete", "peer_state"] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
    c.stop().await;
}
