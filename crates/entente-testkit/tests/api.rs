//! REST and federation endpoints called in-process (tower `oneshot`, no sockets): every
//! kind of bad input gets a 4xx with a stable error code and stores nothing, and every
//! error code the API defines is produced by some request.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use entente_api::ErrorCode;
use entente_domain::Role;
use entente_node::auth::TokenKind;
use entente_testkit::{Cluster, ClusterOptions, TestNode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use tower::ServiceExt;

struct Call {
    method: &'static str,
    path: String,
    token: Option<String>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    /// As if over TLS with a client certificate bound to this partner.
    tls_client: Option<&'static str>,
}

fn call(method: &'static str, path: impl Into<String>, token: &str) -> Call {
    Call {
        method,
        path: path.into(),
        token: Some(token.to_owned()),
        content_type: None,
        body: vec![],
        headers: vec![],
        tls_client: None,
    }
}

impl Call {
    fn json(mut self, v: Value) -> Call {
        self.content_type = Some("application/json");
        self.body = v.to_string().into_bytes();
        self
    }
    fn raw(mut self, ct: &'static str, body: impl Into<Vec<u8>>) -> Call {
        self.content_type = Some(ct);
        self.body = body.into();
        self
    }
    fn no_token(mut self) -> Call {
        self.token = None;
        self
    }
}

async fn send(n: &TestNode, c: Call) -> (StatusCode, Value) {
    let mut b = Request::builder().method(c.method).uri(&c.path);
    if let Some(t) = &c.token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if let Some(ct) = c.content_type {
        b = b.header("content-type", ct);
    }
    for (k, v) in &c.headers {
        b = b.header(*k, v);
    }
    let mut req = b.body(Body::from(c.body)).unwrap();
    if let Some(p) = c.tls_client {
        req.extensions_mut()
            .insert(entente_node::fed::Channel::Tls {
                client: Some(p.into()),
            });
    }
    let resp = entente_api::router(n.node.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 16 * 1024 * 1024)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Everything the node has stored that a bad request could have changed.
async fn snapshot(n: &TestNode) -> String {
    let s = n.node.store();
    let logs = s.logs().await.unwrap();
    let items = s
        .items(&entente_store::ItemQuery {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let users = s.users().await.unwrap();
    let peers = s.peers().await.unwrap();
    format!(
        "{logs:?}{items:?}{users:?}{peers:?}{:?}",
        s.formats().await.unwrap()
    )
}

/// The one check helper of this area: the call fails with `status` and `code`, and the
/// node's stored state is unchanged.
async fn check(
    n: &TestNode,
    c: Call,
    status: u16,
    code: ErrorCode,
    seen: &mut BTreeSet<&'static str>,
) {
    let before = snapshot(n).await;
    let what = format!("{} {}", c.method, c.path);
    let (st, body) = send(n, c).await;
    assert_eq!(st.as_u16(), status, "{what}: {body}");
    assert_eq!(body["error"]["code"], code.as_str(), "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: a message"
    );
    assert_eq!(snapshot(n).await, before, "{what} changed stored state");
    seen.insert(code.as_str());
}

fn signed(
    caller_seed: &str,
    caller: &str,
    target: &str,
    path: &str,
    date: i64,
) -> Vec<(&'static str, String)> {
    let key = entente_log::NodeKey::from_seed_hex(caller_seed).unwrap();
    let hs = entente_node::fed::sign_request(
        &key,
        &entente_domain::PartnerCode::parse(caller).unwrap(),
        &entente_domain::PartnerCode::parse(target).unwrap(),
        "GET",
        path,
        b"",
        date,
        &entente_node::fed::new_nonce(),
    );
    hs.into_iter().collect()
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// `check` for TAXII endpoints: the TAXII error shape (`http_status`, `error_code`).
async fn check_taxii(
    n: &TestNode,
    c: Call,
    status: u16,
    code: ErrorCode,
    seen: &mut BTreeSet<&'static str>,
) {
    let before = snapshot(n).await;
    let what = format!("{} {}", c.method, c.path);
    let (st, body) = send(n, c).await;
    assert_eq!(st.as_u16(), status, "{what}: {body}");
    assert_eq!(body["error_code"], code.as_str(), "{what}: {body}");
    assert_eq!(body["http_status"], status.to_string(), "{what}: {body}");
    assert_eq!(snapshot(n).await, before, "{what} changed stored state");
    seen.insert(code.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_stable_code_and_stores_nothing() {
    // Password sign-ins limited to one a minute per name, so one guess too many is refused.
    let mut opts = ClusterOptions::default();
    opts.rate_limits.login_per_minute = 1;
    let c = Cluster::with(&["EU", "NATO", "JPN"], opts).await.unwrap();
    let (eu, nato) = (c.node("EU"), c.node("NATO"));
    let t = eu.token.clone();
    let trio = format(eu, "trio", &["EU", "NATO", "JPN"]).await;
    let pair = format(eu, "EU-JPN", &["EU", "JPN"]).await;
    let closed = format(eu, "closed", &["EU", "NATO"]).await;
    eu.node
        .close_format(&eu.admin(), &closed.format_id, "done")
        .await
        .unwrap();
    let nato_f = format(nato, "NATO-convened", &["EU", "NATO"]).await;
    let left = format(nato, "EU leaves", &["EU", "NATO"]).await;
    let nato_item = item(
        nato,
        &nato_f.format_id,
        "NATO's",
        Some("GREEN"),
        Some(&["EU", "NATO"]),
    )
    .await;
    c.sync_until_quiet().await;
    eu.node
        .leave_format(&eu.admin(), &left.format_id)
        .await
        .unwrap();
    eu.node
        .add_user("reader", Role::Reader, "reader-password")
        .await
        .unwrap();
    let reader = eu
        .node
        .create_token_for("reader", "t", TokenKind::Api)
        .await
        .unwrap();

    let good = |f: &str| json!({"format_id": f, "kind": "report", "title": "t", "body": "b", "topics": ["fimi"], "tlp": "GREEN", "releasable_to": ["EU"]});
    let with = |k: &str, v: Value| {
        let mut g = good(&trio.format_id);
        g[k] = v;
        g
    };
    let mut seen = BTreeSet::new();
    let s = &mut seen;
    let items = "/api/v1/items";
    check(
        eu,
        call("POST", items, &t).raw("application/json", "{\"format_id\": "),
        400,
        ErrorCode::MalformedJson,
        s,
    )
    .await;
    check(
        eu,
        call("POST", items, &t).raw("text/plain", "hello"),
        415,
        ErrorCode::UnsupportedMediaType,
        s,
    )
    .await;
    let huge = json!({"format_id": trio.format_id, "kind": "report", "title": "t", "body": "x".repeat(2 * 1024 * 1024)});
    check(
        eu,
        call("POST", items, &t).json(huge),
        413,
        ErrorCode::PayloadTooLarge,
        s,
    )
    .await;
    let big_body = with("body", json!("x".repeat(300 * 1024)));
    check(
        eu,
        call("POST", items, &t).json(big_body),
        422,
        ErrorCode::ValidationFailed,
        s,
    )
    .await;
    check(
        eu,
        call("GET", "/api/v1/items?limit=many", &t),
        400,
        ErrorCode::InvalidQuery,
        s,
    )
    .await;
    check(
        eu,
        call("POST", items, &t).json(json!({"title": "no format"})),
        422,
        ErrorCode::ValidationFailed,
        s,
    )
    .await;
    check(
        eu,
        call("POST", items, &t).json(with("title", json!("  "))),
        422,
        ErrorCode::ValidationFailed,
        s,
    )
    .await;
    check(
        eu,
        call("POST", items, &t).json(with("releasable_to", json!(["eu"]))),
        400,
        ErrorCode::InvalidPartnerCode,
        s,
    )
    .await;
    check(
        eu,
        call("POST", items, &t).json(with("releasable_to", json!(["KOR"]))),
        422,
        ErrorCode::UnknownPartner,
        s,
    )
    .await;
    check(
        eu,
        call("POST", items, &t).json(with("topics", json!(["gossip"]))),
        400,
        ErrorCode::UnknownTopic,
        s,
    )
    .await;
    check(
        eu,
        call("POST", items, &t).json(with("tlp", json!("PURPLE"))),
        400,
        ErrorCode::UnknownTlp,
        s,
    )
    .await;
    check(
        eu,
        call("POST", items, &t).json(with("kind", json!("memo"))),
        400,
        ErrorCode::UnknownItemKind,
        s,
    )
    .await;
    let outside = {
        let mut g = good(&pair.format_id);
        g["releasable_to"] = json!(["EU", "NATO"]);
        g
    };
    check(
        eu,
        call("POST", items, &t).json(outside),
        422,
        ErrorCode::ReleasableToOutsideFormat,
        s,
    )
    .await;
    check(
        eu,
        call("POST", items, &t).json(good(&left.format_id)),
        403,
        ErrorCode::NotAMember,
        s,
    )
    .await;
    check(
        eu,
        call("POST", items, &t).json(good(&closed.format_id)),
        409,
        ErrorCode::FormatClosed,
        s,
    )
    .await;
    check(
        eu,
        call("POST", items, &t).json(good("no-such-format")),
        404,
        ErrorCode::NotFound,
        s,
    )
    .await;
    check(
        eu,
        call("POST", items, &reader).json(good(&trio.format_id)),
        403,
        ErrorCode::Forbidden,
        s,
    )
    .await;
    check(
        eu,
        call("POST", items, "ent_wrong").json(good(&trio.format_id)),
        401,
        ErrorCode::Unauthorized,
        s,
    )
    .await;
    check(
        eu,
        call("POST", items, &t)
            .no_token()
            .json(good(&trio.format_id)),
        401,
        ErrorCode::Unauthorized,
        s,
    )
    .await;
    let revise = json!({"title": "mine now", "body": "", "topics": []});
    check(
        eu,
        call(
            "POST",
            format!("/api/v1/items/{}/revise", nato_item.item_id),
            &t,
        )
        .json(revise),
        403,
        ErrorCode::NotOriginator,
        s,
    )
    .await;
    check(
        eu,
        call(
            "POST",
            format!("/api/v1/formats/{}/join", nato_f.format_id),
            &t,
        )
        .json(json!({"partner": "JPN"})),
        403,
        ErrorCode::NotConvener,
        s,
    )
    .await;
    check(
        eu,
        call("GET", "/api/v1/items/no-such-item", &t),
        404,
        ErrorCode::NotFound,
        s,
    )
    .await;
    check(
        eu,
        call("GET", "/api/v1/no-such-route", &t),
        404,
        ErrorCode::NotFound,
        s,
    )
    .await;
    let user = json!({"username": "admin", "role": "analyst", "password": "long enough password"});
    check(
        eu,
        call("POST", "/api/v1/users", &t).json(user),
        409,
        ErrorCode::Conflict,
        s,
    )
    .await;
    let user = json!({"username": "bob", "role": "god", "password": "long enough password"});
    check(
        eu,
        call("POST", "/api/v1/users", &t).json(user),
        400,
        ErrorCode::UnknownRole,
        s,
    )
    .await;
    let peer = json!({"partner": "KOR", "url": "http://127.0.0.1:1", "public_key": "zz"});
    check(
        eu,
        call("POST", "/api/v1/peers", &t).json(peer),
        422,
        ErrorCode::InvalidKey,
        s,
    )
    .await;
    let login = json!({"username": "admin", "password": "wrong password"});
    check(
        eu,
        call("POST", "/api/v1/auth/login", "")
            .no_token()
            .json(login),
        401,
        ErrorCode::Unauthorized,
        s,
    )
    .await;

    // Federation: unsigned, unknown key, stale, and a signature by the wrong key.
    let logs = "/fed/v1/logs";
    check(
        eu,
        call("GET", logs, "").no_token(),
        401,
        ErrorCode::PeerAuthMissing,
        s,
    )
    .await;
    let stranger = entente_log::NodeKey::generate().unwrap().seed_hex();
    let mut c1 = call("GET", logs, "").no_token();
    c1.headers = signed(&stranger, "KOR", "EU", logs, time_now());
    // L6: an unpinned partner is answered exactly like a pinned one with a bad signature.
    let mut c1a = call("GET", logs, "").no_token();
    c1a.headers = signed(&stranger, "KOR", "EU", logs, time_now());
    let mut c1b = call("GET", logs, "").no_token();
    c1b.headers = signed(&stranger, "NATO", "EU", logs, time_now());
    assert_eq!(send(eu, c1a).await, send(eu, c1b).await);
    check(eu, c1, 401, ErrorCode::BadRequestSignature, s).await;
    let mut c2 = call("GET", logs, "").no_token();
    c2.headers = signed(&nato.key_seed, "NATO", "EU", logs, time_now() - 3600);
    check(eu, c2, 401, ErrorCode::StaleRequest, s).await;
    let mut c3 = call("GET", logs, "").no_token();
    c3.headers = signed(&stranger, "NATO", "EU", logs, time_now());
    check(eu, c3, 401, ErrorCode::BadRequestSignature, s).await;
    // The same signed request twice: the second is a replay.
    let once = signed(&nato.key_seed, "NATO", "EU", logs, time_now());
    let mut c4 = call("GET", logs, "").no_token();
    c4.headers = once.clone();
    assert_eq!(send(eu, c4).await.0, 200);
    let mut c5 = call("GET", logs, "").no_token();
    c5.headers = once;
    check(eu, c5, 401, ErrorCode::Replayed, s).await;
    // Over TLS, the client certificate must name the partner that signed.
    let mut c6 = call("GET", logs, "").no_token();
    c6.headers = signed(&nato.key_seed, "NATO", "EU", logs, time_now());
    c6.tls_client = Some("JPN");
    check(eu, c6, 401, ErrorCode::TlsIdentityMismatch, s).await;

    // Statements: a stance on a version that is not the current one.
    let st = json!({"format_id": trio.format_id, "title": "s", "text": "t", "rule": "unanimity"});
    let (code_, created) = send(eu, call("POST", "/api/v1/statements", &t).json(st)).await;
    assert_eq!(code_, 201, "{created}");
    let sid = created["state"]["statement_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stance = json!({"version": 9, "stance": "endorse"});
    check(
        eu,
        call("POST", format!("/api/v1/statements/{sid}/stance"), &t).json(stance),
        409,
        ErrorCode::UnknownVersion,
        s,
    )
    .await;
    let stance = json!({"version": 1, "stance": "maybe"});
    check(
        eu,
        call("POST", format!("/api/v1/statements/{sid}/stance"), &t).json(stance),
        422,
        ErrorCode::ValidationFailed,
        s,
    )
    .await;
    // Coordination: milestone dates out of order, a progress report by a non-participant,
    // an acknowledgement by a non-recipient — each refused, nothing stored.
    let action = |dues: [&str; 2], leads: &[&str]| {
        json!({"format_id": trio.format_id, "title": "a", "topics": ["resilience"], "leads": leads, "participants": ["JPN"],
            "milestones": [{"title": "one", "due": dues[0]}, {"title": "two", "due": dues[1]}]})
    };
    check(
        eu,
        call("POST", "/api/v1/actions", &t).json(action(["2027-01-01", "2026-01-01"], &["EU"])),
        422,
        ErrorCode::ValidationFailed,
        s,
    )
    .await;
    let (code_, a) = send(
        eu,
        call("POST", "/api/v1/actions", &t).json(action(["2026-01-01", "2027-01-01"], &["NATO"])),
    )
    .await;
    assert_eq!(code_, 201, "{a}");
    let progress = json!({"period": "2026-H2", "status": "in_progress", "narrative": "EU is not a participant"});
    check(
        eu,
        call(
            "POST",
            format!(
                "/api/v1/actions/{}/progress",
                a["action_id"].as_str().unwrap()
            ),
            &t,
        )
        .json(progress),
        403,
        ErrorCode::Forbidden,
        s,
    )
    .await;
    let alert = json!({"format_id": trio.format_id, "severity": "high", "title": "a", "ack_deadline": "2099-01-01T00:00:00.000Z"});
    let (code_, al) = send(eu, call("POST", "/api/v1/alerts", &t).json(alert)).await;
    assert_eq!(code_, 201, "{al}");
    let ack = json!({"note": "the raiser is not a recipient"});
    check(
        eu,
        call(
            "POST",
            format!(
                "/api/v1/alerts/{}/ack",
                al["alert"]["alert_id"].as_str().unwrap()
            ),
            &t,
        )
        .json(ack),
        403,
        ErrorCode::Forbidden,
        s,
    )
    .await;
    let late = json!({"format_id": trio.format_id, "severity": "high", "title": "a", "ack_deadline": "2001-01-01T00:00:00.000Z"});
    check(
        eu,
        call("POST", "/api/v1/alerts", &t).json(late),
        422,
        ErrorCode::ValidationFailed,
        s,
    )
    .await;

    let silent = json!({"format_id": trio.format_id, "title": "s", "text": "t", "rule": "silence"});
    check(
        eu,
        call("POST", "/api/v1/statements", &t).json(silent),
        422,
        ErrorCode::ValidationFailed,
        s,
    )
    .await;

    // TAXII: the TAXII error shape carries the same codes.
    let basic = format!("Basic {}", base64_encode(&format!("admin:{}", eu.token)));
    let taxii = |path: String| {
        let mut c = call("GET", path, "").no_token();
        c.headers = vec![
            ("authorization", basic.clone()),
            ("accept", "application/taxii+json;version=2.1".into()),
        ];
        c
    };
    let objects = format!("/taxii2/entente/collections/{}/objects/", trio.format_id);
    check_taxii(
        eu,
        taxii(format!("{objects}?added_after=yesterday")),
        400,
        ErrorCode::InvalidTaxiiRequest,
        s,
    )
    .await;
    let mut wrong_accept = taxii(objects.clone());
    wrong_accept.headers[1].1 = "application/json".into();
    check_taxii(eu, wrong_accept, 406, ErrorCode::NotAcceptable, s).await;
    let ext = "extension-definition--7aee7a7d-fad2-4a75-8027-3933f3b27e31";
    let marking = json!({"type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--2bc1f8a4-4bd2-4b36-9f4a-3b2b4a3a0b11",
        "created": "2026-01-01T00:00:00.000Z", "extensions": {ext: {"extension_type": "property-extension", "releasable_to": ["EU", "KOR"]}}});
    let mut post = taxii(objects.clone());
    post.method = "POST";
    post.content_type = Some("application/taxii+json;version=2.1");
    post.body = json!({"objects": [marking]}).to_string().into_bytes();
    check_taxii(eu, post, 422, ErrorCode::InvalidReleasabilityMarking, s).await;

    // Hostile nesting: 100,000 levels inside a STIX object (arbitrary JSON) stop at the
    // parser's recursion limit, with a code. (REST bodies are typed: a bracket where a string
    // belongs fails at once, and unknown fields are skipped without recursion.)
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut nested = taxii(objects.clone());
    nested.method = "POST";
    nested.content_type = Some("application/taxii+json;version=2.1");
    nested.body = format!(r#"{{"objects":[{deep}]}}"#).into_bytes();
    check_taxii(eu, nested, 400, ErrorCode::InvalidTaxiiRequest, s).await;

    // Token scopes: a read-only token reads, and is refused anything else on every API.
    check(
        eu,
        call("POST", "/api/v1/tokens", &t).json(json!({"label": "x", "scope": "admin"})),
        422,
        ErrorCode::ValidationFailed,
        s,
    )
    .await;
    let (st, body) = send(
        eu,
        call("POST", "/api/v1/tokens", &t).json(json!({"label": "ro", "scope": "read"})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let ro = body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        send(eu, call("GET", "/api/v1/formats", &ro)).await.0,
        StatusCode::OK
    );
    check(
        eu,
        call("POST", "/api/v1/items", &ro).json(good(&trio.format_id)),
        403,
        ErrorCode::InsufficientScope,
        s,
    )
    .await;
    check(
        eu,
        call("POST", "/api/v1/tokens", &ro).json(json!({"label": "escalate"})),
        403,
        ErrorCode::InsufficientScope,
        s,
    )
    .await;
    let ro_basic = format!("Basic {}", base64_encode(&format!("admin:{ro}")));
    let mut ro_get = taxii(objects.clone());
    ro_get.headers[0].1 = ro_basic.clone();
    assert_eq!(send(eu, ro_get).await.0, StatusCode::OK);
    let mut ro_post = taxii(objects.clone());
    ro_post.headers[0].1 = ro_basic;
    ro_post.method = "POST";
    ro_post.content_type = Some("application/taxii+json;version=2.1");
    ro_post.body = json!({"objects": []}).to_string().into_bytes();
    check_taxii(eu, ro_post, 403, ErrorCode::InsufficientScope, s).await;

    // Rate limits: a second password guess within the minute is refused before it is checked.
    let guess = |pw: &str| {
        let mut c = taxii(format!("/taxii2/entente/collections/{}/", trio.format_id));
        c.headers[0].1 = format!("Basic {}", base64_encode(&format!("reader:{pw}")));
        c
    };
    check_taxii(eu, guess("wrong-1"), 401, ErrorCode::Unauthorized, s).await;
    check_taxii(eu, guess("reader-password"), 429, ErrorCode::RateLimited, s).await;

    // Every code the API defines is produced above, except `internal`, which only a broken
    // database or bug can cause, and the malware scanner's two, which need a scanner: the
    // attachments tests produce them (`the_malware_scanner_refuses_and_quarantines`).
    let all: BTreeSet<&str> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !["internal", "malware_found", "scanner_unavailable"].contains(c))
        .collect();
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "error codes never produced by a test: {missing:?}"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_api_happy_path_and_openapi_document() {
    let c = Cluster::new(&["EU", "NATO", "JPN"]).await.unwrap();
    let eu = c.node("EU");
    let t = eu.token.clone();
    let (st, doc) = send(eu, call("GET", "/api/v1/openapi.json", "").no_token()).await;
    assert_eq!(st, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/api/v1/items",
        "/api/v1/formats/template",
        "/api/v1/items/{id}/retract",
        "/api/v1/peers",
        "/api/v1/tokens",
        "/healthz",
    ] {
        assert!(
            doc["paths"].get(p).is_some(),
            "{p} missing from the OpenAPI document"
        );
    }
    let (st, h) = send(eu, call("GET", "/healthz", "").no_token()).await;
    assert_eq!((st.as_u16(), h["partner"].as_str()), (200, Some("EU")));

    // Login gives a session token that works.
    let (st, tok) = send(
        eu,
        call("POST", "/api/v1/auth/login", "")
            .no_token()
            .json(json!({"username": "admin", "password": "admin-password-1"})),
    )
    .await;
    assert_eq!(st, 200);
    let session = tok["token"].as_str().unwrap().to_owned();
    let (st, me) = send(eu, call("GET", "/api/v1/me", &session)).await;
    assert_eq!(
        (st.as_u16(), me["partner"].as_str(), me["role"].as_str()),
        (200, Some("EU"), Some("admin"))
    );

    let (st, fs) = send(
        eu,
        call("POST", "/api/v1/formats/template", &t).json(json!({"partner": "JPN"})),
    )
    .await;
    assert_eq!(st, 201, "{fs}");
    let f = fs[0]["id"].as_str().unwrap().to_owned();
    let new = json!({"format_id": f, "kind": "incident", "title": "FIMI incident", "body": "T0049", "topics": ["fimi"], "tlp": "AMBER", "releasable_to": ["JPN"]});
    let (st, it) = send(eu, call("POST", "/api/v1/items", &t).json(new)).await;
    assert_eq!(st, 201, "{it}");
    assert_eq!(it["releasable_to"], json!(["EU", "JPN"]));
    assert_eq!(
        it["tlp_marking_id"],
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
    );
    let id = it["id"].as_str().unwrap().to_owned();
    // Unmarked: RED, originator only.
    let unmarked = json!({"format_id": f, "kind": "note", "title": "draft"});
    let (_, u) = send(eu, call("POST", "/api/v1/items", &t).json(unmarked)).await;
    assert_eq!(
        (u["tlp"].as_str(), u["releasable_to"].clone()),
        (Some("RED"), json!(["EU"]))
    );

    let (st, r) = send(
        eu,
        call("POST", format!("/api/v1/items/{id}/revise"), &t).json(
            json!({"title": "FIMI incident (rev)", "body": "T0049, T0023", "topics": ["fimi"]}),
        ),
    )
    .await;
    assert_eq!((st.as_u16(), r["revision"].as_u64()), (200, Some(2)));
    for (q, n) in [
        ("format=".to_owned() + &f, 2),
        ("kind=incident".into(), 1),
        ("topic=fimi".into(), 1),
        ("tlp=RED".into(), 1),
        ("partner=JPN".into(), 0),
    ] {
        let (st, page) = send(eu, call("GET", format!("/api/v1/items?{q}"), &t)).await;
        assert_eq!(st, 200);
        assert_eq!(page["items"].as_array().unwrap().len(), n, "{q}");
    }
    // Paging: limit 1 gives a cursor that leads to the other item and then ends.
    let (_, p1) = send(eu, call("GET", "/api/v1/items?limit=1", &t)).await;
    let next = p1["next"].as_str().unwrap().to_owned();
    assert_eq!(
        next,
        p1["items"][0]["id"].as_str().unwrap(),
        "the cursor is the last item shown, nothing else"
    );
    let (_, p2) = send(
        eu,
        call("GET", format!("/api/v1/items?limit=1&cursor={next}"), &t),
    )
    .await;
    assert_ne!(p2["items"][0]["id"], p1["items"][0]["id"]);
    assert!(p2["next"].is_null());

    let (st, r) = send(
        eu,
        call("POST", format!("/api/v1/items/{id}/retract"), &t).json(json!({"reason": "wrong"})),
    )
    .await;
    assert_eq!(
        (
            st.as_u16(),
            r["retracted"]["reason"].as_str(),
            r["body"].as_str()
        ),
        (200, Some("wrong"), Some(""))
    );

    // Metrics label requests by route template, never by id; readiness answers.
    let resp = entente_api::router(eu.node.clone())
        .oneshot(
            Request::builder()
                .uri("/readyz")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    for (h, v) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(
            resp.headers().get(h).and_then(|x| x.to_str().ok()),
            Some(v),
            "{h}"
        );
    }
    let app = entente_api::router(eu.node.clone());
    let _ = app
        .clone()
        .oneshot(
            Request::builder()
                .uri(format!("/api/v1/items/{id}"))
                .header("authorization", format!("Bearer {t}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    // M3: a client-chosen method is never a label (each unique one used to add a series).
    for i in 0..3 {
        let _ = app
            .clone()
            .oneshot(
                Request::builder()
                    .method(
                        axum::http::Method::from_bytes(format!("M{i:08}XXXX").as_bytes()).unwrap(),
                    )
                    .uri("/healthz")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    let anon = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/metrics")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(anon.status(), 401, "counts are not public");
    let m = app
        .oneshot(
            Request::builder()
                .uri("/metrics")
                .header("authorization", format!("Bearer {t}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let text = String::from_utf8(
        axum::body::to_bytes(m.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains(
            r#"entente_http_requests_total{method="GET",route="/api/v1/items/{id}",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(!text.contains(&id), "no ids in metrics labels");
    assert!(
        !text.contains("XXXX"),
        "no client methods in labels: {text}"
    );
    assert!(
        text.contains(r#"entente_http_requests_total{method="other",route="/healthz""#),
        "{text}"
    );
    assert!(
        text.contains(r#"entente_http_request_duration_seconds_bucket{method="GET",route="/api/v1/items/{id}",le="+Inf"} 1"#),
        "a latency histogram: {text}"
    );

    let (st, tk) = send(
        eu,
        call("POST", "/api/v1/tokens", &t).json(json!({"label": "script"})),
    )
    .await;
    assert_eq!(st, 201);
    let (st, _) = send(eu, call("GET", "/api/v1/me", tk["token"].as_str().unwrap())).await;
    assert_eq!(st, 200);
    let (st, peers) = send(eu, call("GET", "/api/v1/peers", &t)).await;
    assert_eq!(
        (st.as_u16(), peers.as_array().map(|a| a.len())),
        (200, Some(2))
    );
    let (st, status) = send(eu, call("GET", "/api/v1/sync/status", &t)).await;
    assert_eq!(st, 200, "{status}");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn red_items_are_shown_only_to_their_author_and_named_users() {
    let c = Cluster::new(&["EU", "JPN"]).await.unwrap();
    let (eu, jpn) = (c.node("EU"), c.node("JPN"));
    let f = format(eu, "pair", &["EU", "JPN"]).await;
    let ni = entente_node::NewItem {
        format_id: f.format_id.clone(),
        kind: "note".into(),
        title: "RED for kenji".into(),
        body: String::new(),
        topics: vec![],
        tlp: Some("RED".into()),
        releasable_to: Some(vec!["JPN".into()]),
        named_users: vec!["kenji@JPN".into()],
        attachments: vec![],
    };
    let red = eu.node.create_item(&eu.admin(), ni).await.unwrap();
    c.sync_until_quiet().await;
    jpn.node
        .add_user("kenji", Role::Analyst, "kenji-password")
        .await
        .unwrap();
    let kenji = jpn
        .node
        .create_token_for("kenji", "t", TokenKind::Api)
        .await
        .unwrap();
    let (st, _) = send(
        jpn,
        call("GET", format!("/api/v1/items/{}", red.item_id), &kenji),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = send(
        jpn,
        call("GET", format!("/api/v1/items/{}", red.item_id), &jpn.token),
    )
    .await;
    assert_eq!(st, 404, "JPN's admin is not named");
    let (_, page) = send(jpn, call("GET", "/api/v1/items", &jpn.token)).await;
    assert!(!page.to_string().contains(&red.item_id));
    c.stop().await;
}

/// Floods: one user's and one peer's requests beyond their budget get 429 with Retry-After
/// (REST and TAXII shapes), are counted in metrics, and other users and peers are still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_are_limited_per_user_and_per_peer_and_others_are_served() {
    let mut opts = ClusterOptions::default();
    // 60 a minute: a burst of 10, then one a second.
    opts.rate_limits.user_per_minute = 60;
    opts.rate_limits.peer_per_minute = 60;
    let c = Cluster::with(&["EU", "NATO", "JPN"], opts).await.unwrap();
    let (eu, nato, jpn) = (c.node("EU"), c.node("NATO"), c.node("JPN"));
    eu.node
        .add_user("bob", Role::Analyst, "bob-password-1")
        .await
        .unwrap();
    let bob = eu
        .node
        .create_token_for("bob", "t", TokenKind::Api)
        .await
        .unwrap();

    // The user flood: the first ten pass, then 429 until the bucket refills.
    let mut statuses = vec![];
    for _ in 0..25 {
        statuses.push(send(eu, call("GET", "/api/v1/formats", &eu.token)).await.0);
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert!((10..=12).contains(&ok), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    let resp = entente_api::router(eu.node.clone())
        .oneshot(
            Request::get("/api/v1/formats")
                .header("authorization", format!("Bearer {}", eu.token))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // The same user over TAXII shares the budget, in the TAXII error shape.
    let mut t = call("GET", "/taxii2/entente/collections/", "").no_token();
    t.headers = vec![
        (
            "authorization",
            format!("Basic {}", base64_encode(&format!("admin:{}", eu.token))),
        ),
        ("accept", "application/taxii+json;version=2.1".into()),
    ];
    let (st, body) = send(eu, t).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error_code"], "rate_limited", "{body}");
    // Another user is served.
    assert_eq!(
        send(eu, call("GET", "/api/v1/formats", &bob)).await.0,
        StatusCode::OK
    );

    // The peer flood: JPN's signed requests beyond its budget are refused; NATO is served.
    let logs = "/fed/v1/logs";
    let mut peer_statuses = vec![];
    for _ in 0..25 {
        let mut r = call("GET", logs, "").no_token();
        r.headers = signed(&jpn.key_seed, "JPN", "EU", logs, time_now());
        peer_statuses.push(send(eu, r).await.0);
    }
    let ok = peer_statuses
        .iter()
        .filter(|s| **s == StatusCode::OK)
        .count();
    assert!((10..=12).contains(&ok), "{peer_statuses:?}");
    assert_eq!(peer_statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
    // A forged request in JPN's name does not spend JPN's budget (it is refused first).
    let mut forged = call("GET", logs, "").no_token();
    forged.headers = signed(&nato.key_seed, "JPN", "EU", logs, time_now());
    assert_eq!(send(eu, forged).await.0, StatusCode::UNAUTHORIZED);
    let mut r = call("GET", logs, "").no_token();
    r.headers = signed(&nato.key_seed, "NATO", "EU", logs, time_now());
    assert_eq!(send(eu, r).await.0, StatusCode::OK);
    // And NATO still syncs from EU.
    let f = format(eu, "after the flood", &["EU", "NATO"]).await;
    let rep = nato
        .node
        .sync_peer(&entente_domain::partner::code("EU"))
        .await;
    assert_eq!(rep.error, None, "{rep:?}");
    assert!(
        nato.node
            .store()
            .format(&f.format_id)
            .await
            .unwrap()
            .is_some()
    );

    // Counted: in the node's counters and on /metrics (read by a second admin).
    let limited = eu.node.sync_counters().rate_limited();
    assert!(
        limited["user"] >= 14 && limited["peer"] >= 13,
        "{limited:?}"
    );
    eu.node
        .add_user("ops", Role::Admin, "ops-password-1")
        .await
        .unwrap();
    let ops = eu
        .node
        .create_token_for("ops", "t", TokenKind::Api)
        .await
        .unwrap();
    let resp = entente_api::router(eu.node.clone())
        .oneshot(
            Request::get("/metrics")
                .header("authorization", format!("Bearer {ops}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let text = String::from_utf8(
        axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    for limit in ["user", "peer"] {
        assert!(
            text.contains(&format!("entente_rate_limited_total{{limit=\"{limit}\"}}")),
            "{text}"
        );
    }
    c.stop().await;
}

/// M6: inside a partner, only an item's author (or an officer or admin) revises or retracts
/// it; being named on a TLP:RED item is reading, not writing; the item shows who revised it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_author_or_an_officer_changes_an_item() {
    use entente_node::auth::Principal;
    let c = Cluster::new(&["EU", "JPN"]).await.unwrap();
    let eu = c.node("EU");
    let f = format(eu, "pair", &["EU", "JPN"]).await;
    let user = |name: &str, role: Role| Principal {
        username: name.into(),
        role,
        partner: eu.node.partner().clone(),
    };
    for (name, role) in [("alan", Role::Analyst), ("olga", Role::Officer)] {
        eu.node
            .add_user(name, role, &format!("pw-{name}-0123456789"))
            .await
            .unwrap();
    }
    let (alan, olga) = (user("alan", Role::Analyst), user("olga", Role::Officer));
    let red = eu
        .node
        .create_item(
            &eu.admin(),
            entente_node::NewItem {
                format_id: f.format_id.clone(),
                kind: "report".into(),
                title: "RED by admin".into(),
                body: "original".into(),
                topics: vec![],
                tlp: Some("RED".into()),
                releasable_to: None,
                named_users: vec!["alan@EU".into(), "olga@EU".into()],
                attachments: vec![],
            },
        )
        .await
        .unwrap();
    let rev = |title: &str| entente_node::ItemRevision {
        title: title.into(),
        body: "changed".into(),
        topics: vec![],
    };
    let err = eu
        .node
        .revise_item(&alan, &red.item_id, rev("rewritten by alan"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("author admin@EU"), "{err}");
    let err = eu
        .node
        .retract_item(&alan, &red.item_id, "x")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("author"), "{err}");
    assert_eq!(
        eu.node.item(&eu.admin(), &red.item_id).await.unwrap().title,
        "RED by admin"
    );
    // An officer of the partner may; the item says who did.
    let it = eu
        .node
        .revise_item(&olga, &red.item_id, rev("revised by the officer"))
        .await
        .unwrap();
    assert_eq!(it.revised_by.as_deref(), Some("olga@EU"));
    assert_eq!(it.author, "admin@EU");
    // Alan's own item is his to change.
    let own = item(eu, &f.format_id, "Alan's", Some("GREEN"), None).await;
    let mine = eu
        .node
        .create_item(
            &alan,
            entente_node::NewItem {
                format_id: f.format_id.clone(),
                kind: "note".into(),
                title: "alan's note".into(),
                body: String::new(),
                topics: vec![],
                tlp: Some("GREEN".into()),
                releasable_to: None,
                named_users: vec![],
                attachments: vec![],
            },
        )
        .await
        .unwrap();
    eu.node
        .revise_item(&alan, &mine.item_id, rev("alan's note, revised"))
        .await
        .unwrap();
    eu.node
        .retract_item(&alan, &mine.item_id, "done")
        .await
        .unwrap();
    assert!(
        eu.node
            .retract_item(&alan, &own.item_id, "x")
            .await
            .is_err()
    );
    c.stop().await;
}

/// L1, M1, M4, L2: password checks are limited per (name, client address) and per address,
/// so guesses from one place never lock the user out from another and made-up names cost
/// their sender; a name that cannot exist is refused without argon2 and audited bounded; TAXII
/// Basic checks passwords like a login (dummy hash, audited failures) and a logged-out session
/// stops working on TAXII at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_limited_per_address_and_audited_bounded() {
    let mut opts = ClusterOptions::default();
    // Buckets hold ten seconds' worth: two guesses per (name, address), five per address.
    opts.rate_limits.login_per_minute = 12;
    opts.rate_limits.login_per_address_per_minute = 30;
    let c = Cluster::with(&["EU"], opts).await.unwrap();
    let n = &c.node("EU").node;
    n.add_user("jun", Role::Analyst, "pw-jun-0123456789")
        .await
        .unwrap();
    let (a, b, x): (std::net::IpAddr, std::net::IpAddr, std::net::IpAddr) = (
        "192.0.2.1".parse().unwrap(),
        "192.0.2.2".parse().unwrap(),
        "192.0.2.3".parse().unwrap(),
    );
    // L1: two wrong guesses from A use A's budget for jun; the real user at B gets in.
    for _ in 0..2 {
        assert!(matches!(
            n.login("jun", "wrong-password", Some(a)).await,
            Err(entente_node::NodeError::Unauthorized)
        ));
    }
    assert!(matches!(
        n.login("jun", "pw-jun-0123456789", Some(a)).await,
        Err(entente_node::NodeError::RateLimited { .. })
    ));
    n.login("jun", "pw-jun-0123456789", Some(b)).await.unwrap();
    // M1: made-up names from one address stop at its budget; a 500 KB name is refused
    // without argon2 and does not go into the audit log.
    let huge = format!("x{}", "A".repeat(500_000));
    assert!(matches!(
        n.login(&huge, "whatever123", Some(x)).await,
        Err(entente_node::NodeError::Unauthorized)
    ));
    let mut limited = false;
    for i in 0..10 {
        if let Err(entente_node::NodeError::RateLimited { .. }) =
            n.login(&format!("u{i}"), "whatever123", Some(x)).await
        {
            limited = true;
            break;
        }
    }
    assert!(limited, "unique names from one address are limited");
    // M4: TAXII Basic with an unknown name is audited like a login.
    assert!(
        n.authenticate_basic("ghost", "whatever123", Some(b))
            .await
            .is_err()
    );
    let records = n.store().audit_records(0, 10_000).await.unwrap();
    assert!(
        records
            .iter()
            .all(|r| r.actor.len() <= 300 && r.detail.len() <= 300)
    );
    assert!(records.iter().any(|r| r.actor == "(invalid user name)"));
    assert!(
        records
            .iter()
            .any(|r| r.actor == "ghost" && r.action == "login_failed" && r.detail == "taxii basic"),
        "{records:?}"
    );
    // L2: a session used as the Basic password stops working at logout, not a minute later.
    let (secret, _) = n.login("jun", "pw-jun-0123456789", Some(b)).await.unwrap();
    n.authenticate_basic("jun", &secret, Some(b)).await.unwrap();
    n.revoke_session(&secret).await.unwrap();
    assert!(n.authenticate_basic("jun", &secret, Some(b)).await.is_err());
    c.stop().await;
}

/// Audit records of many concurrent callers (each returning once its record is durable) are
/// chained without a gap and written several to a transaction: one transaction per record
/// made the audit lock the bottleneck of posting under load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_audit_records_are_group_committed_and_chained() {
    use std::sync::atomic::Ordering::Relaxed;
    let c = Cluster::new(&["EU"]).await.unwrap();
    let n = c.node("EU").node.clone();
    let before = n.store().audit_records(0, 10_000).await.unwrap().len();
    let (records0, commits0) = (
        n.sync_counters().audit_records.load(Relaxed),
        n.sync_counters().audit_commits.load(Relaxed),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let n = n.clone();
        tasks.spawn(async move {
            n.audit("loader@EU", "release", &format!("item {i}")).await;
            // Durable when the call returns: the record is already in the store.
            let all = n.store().audit_records(0, 10_000).await.unwrap();
            assert!(all.iter().any(|r| r.detail == format!("item {i}")));
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let all = n.store().audit_records(0, 10_000).await.unwrap();
    assert_eq!(all.len(), before + 200);
    let details: BTreeSet<&str> = all[before..].iter().map(|r| r.detail.as_str()).collect();
    assert_eq!(details.len(), 200, "every record once");
    let report = n.verify_audit().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let records = n.sync_counters().audit_records.load(Relaxed) - records0;
    let commits = n.sync_counters().audit_commits.load(Relaxed) - commits0;
    eprintln!("audit: {records} records in {commits} transactions");
    assert_eq!(records, 200);
    assert!(
        commits < 100,
        "200 concurrent records took {commits} transactions"
    );
    assert_eq!(n.sync_counters().audit_failures.load(Relaxed), 0);
}

/// Callers that go away mid-audit (a client that hung up: the handler's future is dropped at
/// any await point, the writer's included) leave no record written twice and cost no other
/// caller its record; a NUL in a field (PostgreSQL refuses it in text, which failed the whole
/// run it was written with) is kept as U+FFFD.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_audit_callers_write_nothing_twice_and_lose_no_one_elses_record() {
    let c = Cluster::new(&["EU"]).await.unwrap();
    let n = c.node("EU").node.clone();
    let before = n.store().audit_records(0, 100_000).await.unwrap().len();
    let mut kept = BTreeSet::new();
    for round in 0..20u64 {
        let mut handles = vec![];
        for i in 0..40u64 {
            let n = n.clone();
            let detail = format!("r{round} c{i}");
            handles.push((
                detail.clone(),
                tokio::spawn(async move { n.audit("alice@EU", "read", &detail).await }),
            ));
        }
        // Cancel every other caller after a varying number of scheduler turns: before it
        // queued, while it waits for the lock, or while it holds it and writes.
        for (detail, ()) in cancel_every_other(handles, round, 1).await {
            kept.insert(detail);
        }
    }
    n.audit("alice@EU", "login_failed", "name \0 with a NUL")
        .await;
    let all = n.store().audit_records(0, 100_000).await.unwrap();
    let mut seen = BTreeSet::new();
    for r in &all[before..] {
        assert!(seen.insert(r.detail.clone()), "written twice: {}", r.detail);
    }
    for d in &kept {
        assert!(
            seen.contains(d),
            "a caller that stayed lost its record: {d}"
        );
    }
    assert!(seen.contains("name \u{fffd} with a NUL"), "{seen:?}");
    let report = n.verify_audit().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// The same window for audit records: a run of two records committed, the store's call not
/// returned, and the caller writing the run cancelled. The other caller's record must be
/// written once (`cancelled_audit_callers_…` above hits this window only by chance).
#[tokio::test(flavor = "current_thread")]
async fn an_audit_caller_cancelled_after_its_runs_commit_makes_no_one_write_twice() {
    let (n, store, _tmp) = gated_node().await;
    for cancel_first in [true, false] {
        let audit = |detail: String| {
            let n = n.clone();
            tokio::spawn(async move { n.audit("alice@EU", "read", &detail).await })
        };
        let (a_committed, a_release) = store.hold_next_audit_run();
        let a = audit(format!("A {cancel_first}"));
        a_committed.await.unwrap();
        let (bc_committed, bc_release) = store.hold_next_audit_run();
        let b = audit(format!("B {cancel_first}"));
        let_others_run().await;
        let c = audit(format!("C {cancel_first}"));
        let_others_run().await;
        a_release.send(()).unwrap();
        a.await.unwrap();
        bc_committed.await.unwrap();
        let (gone, stays) = if cancel_first { (b, c) } else { (c, b) };
        gone.abort();
        let _ = gone.await;
        let _ = bc_release.send(());
        stays.await.unwrap();
    }
    let details: Vec<String> = n
        .store()
        .audit_records(0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.detail)
        .filter(|d| d.len() < 10)
        .collect();
    each_of_the_held_runs_once(&details);
    assert!(n.verify_audit().await.unwrap().problems.is_empty());
}

/// A TLP:GREEN note by EU's admin in `format_id`, as a payload to publish directly.
fn green_note(format_id: &str, item_id: &str, title: &str) -> entente_domain::Payload {
    entente_domain::Payload::ItemPublish(entente_domain::payload::ItemPublish {
        released_from: None,
        item_id: item_id.to_owned(),
        format_id: format_id.into(),
        kind: entente_domain::ItemKind::Note,
        title: title.into(),
        body: String::new(),
        topics: vec![],
        tlp: Some(entente_domain::Tlp::Green),
        named_users: vec![],
        author: "admin@EU".into(),
        attachments: vec![],
    })
}

/// What the two held-run tests wrote: each of A, B and C of both rounds once, none twice.
fn each_of_the_held_runs_once(written: &[String]) {
    let unique: BTreeSet<&String> = written.iter().collect();
    assert_eq!(unique.len(), written.len(), "written twice: {written:?}");
    for t in [
        "A true", "B true", "C true", "A false", "B false", "C false",
    ] {
        assert!(
            unique.contains(&t.to_owned()),
            "{t} is missing: {written:?}"
        );
    }
}

/// Abort every other task after `(k + round) % 7 * turns` scheduler turns, and return the
/// answers of those left to finish.
async fn cancel_every_other<K, T: Send + 'static>(
    handles: Vec<(K, tokio::task::JoinHandle<T>)>,
    round: u64,
    turns: u64,
) -> Vec<(K, T)> {
    for (k, (_, h)) in handles.iter().enumerate() {
        if k % 2 == 1 {
            for _ in 0..((k as u64 + round) % 7) * turns {
                tokio::task::yield_now().await;
            }
            h.abort();
        }
    }
    let mut kept = vec![];
    for (k, (key, h)) in handles.into_iter().enumerate() {
        if k % 2 == 1 {
            let _ = h.await;
        } else {
            kept.push((key, h.await.unwrap()));
        }
    }
    kept
}

/// Yield until every other task of a one-thread runtime has run as far as it can.
async fn let_others_run() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// A node over a store whose writes can be held after they commit (see `GatedStore`).
async fn gated_node() -> (
    std::sync::Arc<entente_node::Node>,
    std::sync::Arc<entente_testkit::gated::GatedStore>,
    tempfile::TempDir,
) {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = entente_node::NodeConfig::new(
        entente_domain::PartnerCode::parse("EU").unwrap(),
        "http://127.0.0.1:0",
        tmp.path().into(),
    );
    cfg.transport.allow_plain_loopback = true;
    let sqlite = entente_store_sqlite::SqliteStore::open(&tmp.path().join("entente.db"))
        .await
        .unwrap();
    let store = std::sync::Arc::new(entente_testkit::gated::GatedStore::new(
        std::sync::Arc::new(sqlite),
    ));
    let n = entente_node::Node::new(
        cfg,
        entente_log::NodeKey::generate().unwrap(),
        store.clone(),
        std::sync::Arc::new(entente_node::SystemClock),
    )
    .await
    .unwrap();
    (n, store, tmp)
}

/// The window the test below can only hit by chance, opened wide: the store has committed a
/// run of two publishes and its append has not returned yet, and the publisher whose call is
/// writing that run is cancelled (a client that hung up). Before the write moved into a task of
/// its own, the other publisher of the run found its job unanswered, queued it again, and its
/// entry was signed and stored twice. One runtime thread, so the order in which the publishers
/// queue is the order in which they were spawned.
#[tokio::test(flavor = "current_thread")]
async fn a_publisher_cancelled_after_its_runs_commit_makes_no_one_publish_twice() {
    use entente_domain::{Audience, PartnerCode, Payload, payload};
    let code = |s: &str| PartnerCode::parse(s).unwrap();
    let (n, store, _tmp) = gated_node().await;
    let aud = Audience::new([code("EU"), code("JPN")]).unwrap();
    n.publish(
        &aud,
        &[Payload::FormatCharter(payload::FormatCharter {
            format_id: "gate".into(),
            title: "gate".into(),
            description: String::new(),
            topics: vec![],
            members: vec![code("EU"), code("JPN")],
            convener: code("EU"),
            stix_default_releasable_to: None,
        })],
    )
    .await
    .unwrap();
    let publish = |title: &str| {
        let (n, aud) = (n.clone(), aud.clone());
        let p = green_note("gate", &entente_node::new_id(), title);
        tokio::spawn(async move { n.publish(&aud, &[p]).await.map(|_| ()) })
    };
    for cancel_first in [true, false] {
        // A holds the write lock, its append committed and held; B and C queue behind it.
        let (a_committed, a_release) = store.hold_next_append();
        let a = publish(&format!("A {cancel_first}"));
        a_committed.await.unwrap();
        let (bc_committed, bc_release) = store.hold_next_append();
        let b = publish(&format!("B {cancel_first}"));
        let_others_run().await;
        let c = publish(&format!("C {cancel_first}"));
        let_others_run().await;
        a_release.send(()).unwrap();
        a.await.unwrap().unwrap();
        // B and C are written as one run, committed, and held: cancel one of them.
        bc_committed.await.unwrap();
        let (gone, stays) = if cancel_first { (b, c) } else { (c, b) };
        gone.abort();
        let _ = gone.await;
        let _ = bc_release.send(());
        stays.await.unwrap().unwrap();
    }
    let log_id = entente_log::log_id(&code("EU"), &aud);
    let entries = n.store().entries_after(&log_id, 0, 1_000).await.unwrap();
    let titles: Vec<String> = entries
        .iter()
        .filter_map(|e| {
            let v: Value = serde_json::from_str(&e.body).ok()?;
            Some(v["payload"]["title"].as_str()?.to_owned())
        })
        .collect();
    each_of_the_held_runs_once(&titles);
}

/// Publishers that go away mid-publish (a client that hung up: the handler's future is dropped
/// at any await point, the group commit's write included) leave no entry signed twice and cost
/// no other publisher its entry. Before the write moved into a task of its own, a holder of
/// the write lock cancelled while the store committed its run (SQLite commits on a blocking
/// thread, which a dropped future does not stop) left the other jobs of that run unanswered;
/// their callers queued them again and they were signed and stored a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_publishers_sign_nothing_twice_and_lose_no_one_elses_entry() {
    use entente_domain::{Audience, PartnerCode, Payload, payload};
    let code = |s: &str| PartnerCode::parse(s).unwrap();
    let c = Cluster::new(&["EU", "JPN"]).await.unwrap();
    let n = c.node("EU").node.clone();
    let aud = Audience::new([code("EU"), code("JPN")]).unwrap();
    let charter = Payload::FormatCharter(payload::FormatCharter {
        format_id: "cancel".into(),
        title: "cancel".into(),
        description: String::new(),
        topics: vec![],
        members: vec![code("EU"), code("JPN")],
        convener: code("EU"),
        stix_default_releasable_to: None,
    });
    n.publish(&aud, &[charter]).await.unwrap();
    let note = |item_id: &str| green_note("cancel", item_id, item_id);
    let mut kept = BTreeSet::new();
    for round in 0..20u64 {
        let mut handles = vec![];
        for _ in 0..40 {
            let (n, aud) = (n.clone(), aud.clone());
            let id = entente_node::new_id();
            let p = note(&id);
            handles.push((
                id,
                tokio::spawn(async move { n.publish(&aud, &[p]).await.map(|_| ()) }),
            ));
        }
        // Cancel every other publisher after a varying number of scheduler turns: before it
        // queued, while it waits for the lock, or while it holds it and the store commits.
        for (id, published) in cancel_every_other(handles, round, 10).await {
            published.unwrap();
            kept.insert(id);
        }
    }
    let log_id = entente_log::log_id(&code("EU"), &aud);
    let entries = n.store().entries_after(&log_id, 0, 100_000).await.unwrap();
    let mut seen = BTreeSet::new();
    for e in &entries {
        let v: Value = serde_json::from_str(&e.body).unwrap();
        if let Some(id) = v["payload"]["item_id"].as_str() {
            assert!(seen.insert(id.to_owned()), "signed and stored twice: {id}");
        }
    }
    for id in &kept {
        assert!(
            seen.contains(id),
            "a publisher that stayed lost its entry: {id}"
        );
    }
}
