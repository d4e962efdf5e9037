//! The transport as `entente serve` runs it: federation over mutual TLS pinned to the node
//! keys, and what the client and the listener refuse — a server bound to another key, a
//! client nobody pinned, a signature that is not the TLS client's, plain http, redirects,
//! and a replayed signed request.

mod common;

use common::*;
use entente_testkit::{Cluster, ClusterOptions, TestNode};
use std::time::Duration;

fn tls() -> ClusterOptions {
    ClusterOptions {
        tls: true,
        ..Default::default()
    }
}

async fn last_error(n: &TestNode, peer: &str) -> Option<String> {
    n.node
        .store()
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.partner.as_str() == peer)
        .and_then(|p| p.last_error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_runs_over_mutual_tls_pinned_to_node_keys() {
    let c = Cluster::with(&["EU", "NATO", "JPN"], tls()).await.unwrap();
    let (eu, nato, jpn) = (c.node("EU"), c.node("NATO"), c.node("JPN"));
    assert!(eu.url().starts_with("https://"));
    let f = format(
        eu,
        "Transatlantic+ Japan — cyber defence",
        &["EU", "NATO", "JPN"],
    )
    .await;
    c.sync_until_quiet().await;
    let it = item(
        eu,
        &f.format_id,
        "EU-JPN over TLS",
        Some("AMBER"),
        Some(&["EU", "JPN"]),
    )
    .await;
    c.sync_until_quiet().await;
    assert!(has_item(jpn, &it.item_id).await);
    assert!(!has_item(nato, &it.item_id).await);
    for n in &c.nodes {
        for r in n.node.sync_once().await {
            assert_eq!(r.error, None, "{} from {}", n.partner, r.partner);
        }
    }
    // The REST API is on the same TLS listener, with the node's certificate.
    let r = jpn
        .http()
        .get(format!("{}/api/v1/items/{}", jpn.url(), it.item_id))
        .bearer_auth(&jpn.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()
            .get("strict-transport-security")
            .is_some_and(|v| v.to_str().unwrap().contains("max-age=")),
        "HSTS on TLS"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_tls_key_differs_from_the_pin_is_refused() {
    let c = Cluster::with(&["EU", "JPN"], tls()).await.unwrap();
    let (eu, jpn) = (c.node("EU"), c.node("JPN"));
    let f = format(eu, "EU–JPN", &["EU", "JPN"]).await;
    c.sync_until_quiet().await;
    let it = item(
        jpn,
        &f.format_id,
        "JPN to EU",
        Some("AMBER"),
        Some(&["EU", "JPN"]),
    )
    .await;
    // An impostor claims JPN with a key of its own, where EU's link to JPN leads.
    let imp = Cluster::with(&["JPN"], tls()).await.unwrap();
    let real = *jpn.addr.read().unwrap();
    *jpn.addr.write().unwrap() = *imp.nodes[0].addr.read().unwrap();
    // A fresh client (no connection kept open to the real JPN): the next one reaches the
    // impostor.
    eu.node.reload_peers().await.unwrap();
    let r = eu.node.sync_peer(jpn.node.partner()).await;
    let e = r.error.expect("refused");
    assert!(e.contains("tls_pin_mismatch"), "{e}");
    assert_eq!(r.entries_applied, 0);
    assert!(!has_item(eu, &it.item_id).await);
    // Said in one line in the peer status (what /api/v1/peers and the admin page show).
    let le = last_error(eu, "JPN").await.unwrap();
    assert!(le.starts_with("peer JPN: tls_pin_mismatch:"), "{le}");
    // The real JPN again: pinned, accepted.
    *jpn.addr.write().unwrap() = real;
    eu.node.reload_peers().await.unwrap();
    assert_eq!(eu.node.sync_peer(jpn.node.partner()).await.error, None);
    assert!(has_item(eu, &it.item_id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_refuses_a_client_it_has_not_pinned() {
    let c = Cluster::with(&["EU", "JPN"], tls()).await.unwrap();
    let jpn = c.node("JPN");
    // KOR pins JPN, but JPN has not pinned KOR: the handshake fails at JPN.
    let kor = Cluster::with(&["KOR"], tls()).await.unwrap();
    let k = &kor.nodes[0];
    k.node
        .add_peer("JPN", Some(&jpn.url()), &jpn.node.public_key().to_hex())
        .await
        .unwrap();
    let r = k.node.sync_peer(jpn.node.partner()).await;
    let e = r.error.expect("refused");
    // In TLS 1.3 the client's certificate goes last: KOR sees either the alert or the
    // connection closed under its first request. The listener's count says which side refused.
    assert!(
        e.contains("tls_handshake") || e.contains("request_failed"),
        "{e}"
    );
    assert_eq!(r.entries_applied, 0);
    let (status, m) = entente_server::call_api(jpn.node.clone(), "admin", "GET", "/metrics", None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        m.contains("entente_http_connections_refused_total{reason=\"tls_handshake\"}"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_must_be_the_tls_clients_own() {
    let c = Cluster::with(&["EU", "NATO", "JPN"], tls()).await.unwrap();
    let (eu, nato, jpn) = (c.node("EU"), c.node("NATO"), c.node("JPN"));
    // A TLS connection as EU (its pinned client certificate), carrying a request NATO signed.
    let id = eu.node.config().transport.identity.clone().unwrap();
    let cfg = entente_tls::client_config(
        &id,
        "JPN",
        jpn.node.public_key(),
        None,
        entente_tls::provider(),
    )
    .unwrap();
    let http = reqwest::Client::builder()
        .no_proxy()
        .tls_backend_preconfigured(cfg)
        .build()
        .unwrap();
    let send = async |signer: &TestNode| {
        let key = entente_log::NodeKey::from_seed_hex(&signer.key_seed).unwrap();
        let hs = entente_node::fed::sign_request(
            &key,
            signer.node.partner(),
            jpn.node.partner(),
            "GET",
            "/fed/v1/logs",
            b"",
            time_now(),
            &entente_node::fed::new_nonce(),
        );
        let mut req = http.get(format!("{}/fed/v1/logs", jpn.url()));
        for (k, v) in hs {
            req = req.header(k, v);
        }
        req.send().await.unwrap()
    };
    let r = send(nato).await;
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "tls_identity_mismatch", "{body}");
    // Signed by EU over EU's connection: served.
    assert_eq!(send(eu).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_peers_are_refused_outside_development_mode() {
    let c = Cluster::with(&["EU"], tls()).await.unwrap();
    let eu = c.node("EU");
    let key = entente_log::NodeKey::generate().unwrap().public().to_hex();
    // Never pinned: http:// to another host.
    let e = eu
        .node
        .add_peer("KOR", Some("http://198.51.100.7:7401"), &key)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("https://"), "{e}");
    assert!(
        eu.node
            .peer(&entente_domain::partner::code("KOR"))
            .is_none()
    );
    // http:// on loopback may be pinned, but a node not in development mode never dials it.
    eu.node
        .add_peer("KOR", Some("http://127.0.0.1:9"), &key)
        .await
        .unwrap();
    let r = eu
        .node
        .sync_peer(&entente_domain::partner::code("KOR"))
        .await;
    assert!(
        r.error
            .as_deref()
            .unwrap_or_default()
            .contains("plain_http_refused"),
        "{:?}",
        r.error
    );
}

/// A peer answering with a redirect to an internal address: not followed, and nothing of the
/// answer's body is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed_and_peer_bodies_not_kept() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let c = Cluster::new(&["EU"]).await.unwrap();
    let eu = c.node("EU");
    let internal = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let internal_addr = internal.local_addr().unwrap();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = internal.accept().await {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let redirector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", redirector.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = redirector.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let body = "{\"secret\":\"internal-service-data-123\"}";
            let _ = s
                .write_all(
                    format!(
                        "HTTP/1.1 302 Found\r\nLocation: http://{internal_addr}/internal/admin\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    });
    let key = entente_log::NodeKey::generate().unwrap().public().to_hex();
    eu.node.add_peer("KOR", Some(&url), &key).await.unwrap();
    let r = eu
        .node
        .sync_peer(&entente_domain::partner::code("KOR"))
        .await;
    let e = r.error.unwrap();
    assert!(e.contains("http_status") && e.contains("302"), "{e}");
    assert!(!e.contains("secret"), "{e}");
    let le = last_error(eu, "KOR").await.unwrap();
    assert!(!le.contains("internal-service-data"), "{le}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_signed_request_is_refused_and_costs_the_peer_nothing() {
    let c = Cluster::with(
        &["EU", "JPN"],
        ClusterOptions {
            rate_limits: entente_node::config::RateLimits {
                user_per_minute: 0,
                peer_per_minute: 60,
                login_per_minute: 0,
                login_per_address_per_minute: 0,
            },
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (eu, jpn) = (c.node("EU"), c.node("JPN"));
    let f = format(eu, "EU–JPN", &["EU", "JPN"]).await;
    let key = entente_log::NodeKey::from_seed_hex(&jpn.key_seed).unwrap();
    let path = "/fed/v1/logs";
    let hs = entente_node::fed::sign_request(
        &key,
        jpn.node.partner(),
        eu.node.partner(),
        "GET",
        path,
        b"",
        time_now(),
        &entente_node::fed::new_nonce(),
    );
    let http = entente_testkit::http_client();
    let send = async || {
        let mut req = http.get(format!("{}{path}", eu.url()));
        for (k, v) in &hs {
            req = req.header(*k, v);
        }
        req.send().await.unwrap()
    };
    let first = send().await;
    assert_eq!(first.status(), 200);
    let logs: serde_json::Value = first.json().await.unwrap();
    assert!(!logs["logs"].as_array().unwrap().is_empty());
    // The same bytes again, and again: refused, whatever was published meanwhile.
    let _ = item(
        eu,
        &f.format_id,
        "after the capture",
        Some("RED"),
        Some(&["EU", "JPN"]),
    )
    .await;
    for _ in 0..20 {
        let r = send().await;
        assert_eq!(r.status(), 401);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "replayed", "{body}");
    }
    let (_, m) = entente_server::call_api(eu.node.clone(), "admin", "GET", "/metrics", None)
        .await
        .unwrap();
    assert!(
        m.contains("entente_fed_requests_refused_total{reason=\"replayed\"} 20\n"),
        "{m}"
    );
    // The replays spent none of JPN's budget (60 a minute, ten seconds' worth at once): its
    // real sync still gets through.
    let r = jpn.node.sync_peer(eu.node.partner()).await;
    assert_eq!(r.error, None);
    assert!(r.entries_applied > 0);
}

/// Onboarding checks at the node: an expired invitation, an answer to another invitation and
/// an invitation for another partner pin nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_expire_and_answers_must_match() {
    use entente_node::clock::ManualClock;
    let clock = ManualClock::new(
        time::OffsetDateTime::parse(
            "2026-12-01T09:00:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap(),
    );
    let opts = || ClusterOptions {
        tls: true,
        clock: Some(std::sync::Arc::new(clock.clone())),
        ..Default::default()
    };
    let c = Cluster::with(&["EU", "NATO"], opts()).await.unwrap();
    let k = Cluster::with(&["KOR", "AUS"], opts()).await.unwrap();
    let (eu, nato) = (c.node("EU"), c.node("NATO"));
    let (kor, aus) = (k.node("KOR"), k.node("AUS"));
    let kor_code = entente_domain::partner::code("KOR");
    let eu_code = entente_domain::partner::code("EU");
    let hour = std::time::Duration::from_secs(3600);

    // For KOR, not AUS.
    let inv = eu.node.invite("KOR", hour).unwrap();
    let e = aus.node.accept_invitation(&inv).await.unwrap_err();
    assert!(e.to_string().contains("is for KOR"), "{e}");
    assert!(aus.node.peer(&eu_code).is_none());

    // Expired on the way.
    clock.advance(time::Duration::hours(2));
    let e = kor.node.accept_invitation(&inv).await.unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    assert!(kor.node.peer(&eu_code).is_none());

    // A fresh one, answered; the answer does not fit NATO's invitation, nor an expired one.
    let inv = eu.node.invite("KOR", hour).unwrap();
    let other = nato.node.invite("KOR", hour).unwrap();
    let (ans, fp) = kor.node.accept_invitation(&inv).await.unwrap();
    assert!(kor.node.peer(&eu_code).is_some());
    let e = nato
        .node
        .accept_answer(&other, &ans, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("another invitation"), "{e}");
    clock.advance(time::Duration::hours(2));
    let e = eu
        .node
        .accept_answer(&inv, &ans, Some(&fp))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    assert!(eu.node.peer(&kor_code).is_none());
}
