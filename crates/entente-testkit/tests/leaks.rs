//! End-to-end leak check: random formats, audiences, TLP levels and retractions across live
//! nodes; after the exchange, every egress path of every node — REST list and get, TAXII
//! collections, objects and manifest, STIX and MISP exports, network analytics counts, search,
//! the HTML pages, error answers (a hidden item's equals a missing one's), paging cursors,
//! metrics labels, and the federation answers (logs offered, checkpoint disclosures) to each
//! peer — shows exactly what the policy module says, no more.
//! `ENTENTE_LEAK_SCENARIOS` sets how many scenarios run (default 3), `ENTENTE_LEAK_FIRST` the
//! number of the first (default 0), so a long run can be split into shards.

mod common;

use common::*;
use entente_domain::policy::{self, Viewer};
use entente_domain::{ItemState, PartnerCode};
use entente_testkit::Cluster;
use std::collections::BTreeSet;

const PARTNERS: [&str; 4] = ["EU", "NATO", "JPN", "KOR"];

/// GET a path of a node's API as its admin.
async fn api_get(
    http: &reqwest::Client,
    n: &entente_testkit::TestNode,
    path: &str,
) -> reqwest::Response {
    http.get(format!("{}{path}", n.url()))
        .bearer_auth(&n.token)
        .send()
        .await
        .unwrap()
}

/// A well-formed item id that no node holds.
const ABSENT_ID: &str = "01900000-0000-7000-8000-000000000000";

struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_egress_path_shows_exactly_the_policy_view() {
    let scenarios: u64 = std::env::var("ENTENTE_LEAK_SCENARIOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    // The first scenario's number, so a long run can be split into shards run side by side.
    let first: u64 = std::env::var("ENTENTE_LEAK_FIRST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut checked = 0u64;
    for seed in first..first + scenarios {
        checked +=
            scenario(0x9E37_79B9_7F4A_7C15 ^ (seed + 1).wrapping_mul(0x2545_F491_4F6C_DD1D)).await;
        // A running tally, so a long run that is stopped still says how far it got.
        if (seed + 1) % 100 == 0 {
            eprintln!(
                "leak check: {} scenarios, {checked} path checks, 0 leaks so far",
                seed + 1
            );
        }
    }
    println!("leak check: {scenarios} scenarios, {checked} path checks, 0 leaks");
}

async fn scenario(seed: u64) -> u64 {
    let mut rng = Rng(seed);
    let c = Cluster::with(
        &PARTNERS,
        entente_testkit::ClusterOptions {
            search: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut formats = vec![];
    for i in 0..3 {
        let convener = PARTNERS[rng.next(4) as usize];
        let mut members: Vec<&str> = PARTNERS
            .iter()
            .copied()
            .filter(|_| rng.next(2) == 0)
            .collect();
        if !members.contains(&convener) {
            members.push(convener);
        }
        formats.push((
            format(c.node(convener), &format!("leak format {i}"), &members).await,
            members,
        ));
    }
    c.sync_until_quiet().await;
    let tlps = ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"];
    let mut published: Vec<String> = vec![];
    let mut titles = std::collections::BTreeMap::new();
    for i in 0..14 {
        let (f, members) = &formats[rng.next(formats.len() as u64) as usize];
        let publisher = members[rng.next(members.len() as u64) as usize];
        let to: Vec<&str> = members
            .iter()
            .copied()
            .filter(|_| rng.next(2) == 0)
            .collect();
        let tlp = tlps[rng.next(5) as usize];
        let marked = rng.next(6) != 0;
        let title = format!("leak-item-{i}-end");
        let it = item(
            c.node(publisher),
            &f.format_id,
            &title,
            marked.then_some(tlp),
            marked.then_some(&to[..]),
        )
        .await;
        titles.insert(it.item_id.clone(), title);
        if rng.next(5) == 0 {
            c.node(publisher)
                .node
                .retract_item(&c.node(publisher).admin(), &it.item_id, "test")
                .await
                .unwrap();
        }
        published.push(it.item_id);
    }
    c.sync_until_quiet().await;
    for n in &c.nodes {
        n.node.search_settled().await;
    }

    // The truth: every item as its origin holds it.
    let mut all: Vec<ItemState> = vec![];
    for n in &c.nodes {
        for id in &published {
            if let Some(it) = n.node.store().item(id).await.unwrap()
                && &it.origin == n.node.partner()
            {
                all.push(it);
            }
        }
    }
    assert_eq!(all.len(), published.len());

    let mut checks = 0;
    let http = reqwest::Client::new();
    for n in &c.nodes {
        let me: PartnerCode = n.node.partner().clone();
        let viewer = Viewer {
            partner: me.clone(),
            user: format!("admin@{me}"),
        };
        let expected: BTreeSet<String> = all
            .iter()
            .filter(|i| policy::user_may_see_item(&viewer, i))
            .map(|i| i.item_id.clone())
            .collect();
        let hidden: Vec<&ItemState> = all
            .iter()
            .filter(|i| !policy::user_may_see_item(&viewer, i))
            .collect();
        let not_held: Vec<&ItemState> = all
            .iter()
            .filter(|i| !policy::may_receive(&me, &i.audience))
            .collect();

        // REST list and get.
        let list: serde_json::Value = api_get(&http, n, "/api/v1/items?limit=500")
            .await
            .json()
            .await
            .unwrap();
        let got: BTreeSet<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got, expected, "{me}: REST list");
        // The answer for a hidden item is the answer for an id that does not exist.
        let absent = api_get(&http, n, &format!("/api/v1/items/{}", ABSENT_ID)).await;
        assert_eq!(absent.status(), 404);
        let absent = absent.text().await.unwrap();
        for h in &hidden {
            let r = api_get(&http, n, &format!("/api/v1/items/{}", h.item_id)).await;
            assert_eq!(r.status(), 404, "{me}: REST get of a hidden item");
            assert_eq!(
                r.text().await.unwrap(),
                absent,
                "{me}: the error for a hidden item differs from a missing one"
            );
        }
        checks += 1 + hidden.len() as u64;
        // Paging two at a time: the same items, and every cursor is the id of an item shown.
        let (mut paged, mut cursor) = (BTreeSet::new(), None::<String>);
        loop {
            let q = cursor
                .as_ref()
                .map(|c| format!("&cursor={c}"))
                .unwrap_or_default();
            let page: serde_json::Value = api_get(&http, n, &format!("/api/v1/items?limit=2{q}"))
                .await
                .json()
                .await
                .unwrap();
            for i in page["items"].as_array().unwrap() {
                paged.insert(i["id"].as_str().unwrap().to_owned());
            }
            match page["next"].as_str() {
                Some(next) => {
                    assert!(
                        expected.contains(next),
                        "{me}: a paging cursor names {next}"
                    );
                    cursor = Some(next.to_owned());
                }
                None => break,
            }
            checks += 1;
        }
        assert_eq!(paged, expected, "{me}: REST list paged two at a time");
        // Metrics: labels are routes and reasons; no item, log or audience of anyone's.
        let metrics = api_get(&http, n, "/metrics").await.text().await.unwrap();
        for h in &hidden {
            assert!(
                !metrics.contains(&h.item_id) && !metrics.contains(&titles[&h.item_id]),
                "{me}: metrics name hidden item {}",
                h.item_id
            );
        }
        checks += 1;

        // TAXII objects, manifest and exports of every collection it may see; analytics counts.
        let mut served = String::new();
        for (f, members) in &formats {
            if !members.contains(&me.as_str()) {
                continue;
            }
            let page = n
                .node
                .taxii_objects(
                    &n.admin(),
                    &f.format_id,
                    None,
                    entente_node::taxii::TaxiiFilter {
                        limit: Some(10_000),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            for r in &page.rows {
                served.push_str(&r.raw);
            }
            served.push_str(
                &n.node
                    .export_stix_bundle(&n.admin(), &f.format_id)
                    .await
                    .unwrap(),
            );
            served.push_str(
                &n.node
                    .export_misp_event(&n.admin(), &f.format_id)
                    .await
                    .unwrap()
                    .to_string(),
            );
            checks += 3;
        }
        for h in &hidden {
            assert!(
                !served.contains(&titles[&h.item_id]),
                "{me}: TAXII/export shows {}",
                titles[&h.item_id]
            );
            assert!(
                !served.contains(&entente_domain::stix::item_stix_id(h)),
                "{me}: TAXII/export shows hidden item {}",
                h.item_id
            );
        }
        let net = n
            .node
            .network(&n.admin(), Default::default())
            .await
            .unwrap()
            .network;
        assert_eq!(
            net.entries as usize,
            expected.len(),
            "{me}: analytics count"
        );
        checks += 1;

        // Search (REST): exactly the visible, unretracted items are found and counted, and the
        // facet counts add up to the same total.
        let searchable: BTreeSet<String> = all
            .iter()
            .filter(|i| expected.contains(&i.item_id) && i.retracted.is_none())
            .map(|i| i.item_id.clone())
            .collect();
        let found: serde_json::Value = api_get(&http, n, "/api/v1/search?q=leak&limit=200")
            .await
            .json()
            .await
            .unwrap();
        let got: BTreeSet<String> = found["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got, searchable, "{me}: search hits");
        assert_eq!(found["total"], searchable.len(), "{me}: search total");
        for dim in ["partner", "kind", "tlp", "format"] {
            let counted: u64 = found["facets"][dim]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v[1].as_u64().unwrap())
                .sum();
            assert_eq!(
                counted as usize,
                searchable.len(),
                "{me}: search facet {dim}"
            );
        }
        checks += 2;

        // The web UI: lists, search, network and released pages show no hidden title; a hidden
        // item's page is a 404 like a missing one.
        let (secret, _) = n.node.login("admin", "admin-password-1").await.unwrap();
        let cookie = format!("entente_session={secret}");
        let mut html = String::new();
        for page in [
            "/ui/".to_owned(),
            "/ui/items".into(),
            "/ui/search?q=leak".into(),
            "/ui/network".into(),
            "/ui/released".into(),
        ] {
            let r = http
                .get(format!("{}{page}", n.url()))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{me}: {page}");
            html.push_str(&r.text().await.unwrap());
            checks += 1;
        }
        for h in &hidden {
            assert!(
                !html.contains(&titles[&h.item_id]) && !html.contains(&h.item_id),
                "{me}: a UI page shows hidden {}",
                titles[&h.item_id]
            );
            let r = http
                .get(format!("{}/ui/items/{}", n.url(), h.item_id))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 404, "{me}: UI page of a hidden item");
            checks += 1;
        }
        for id in &expected {
            let shown = html.contains(id.as_str());
            assert!(shown, "{me}: the UI item list misses visible item {id}");
        }

        // Federation: what each peer is offered by this node is within that peer's audiences.
        for peer in &c.nodes {
            if peer.node.partner() == &me {
                continue;
            }
            let r = fed_get(peer, Some(&peer.key_seed), n, "/fed/v1/logs").await;
            let body: serde_json::Value = r.json().await.unwrap();
            for l in body["logs"].as_array().unwrap() {
                let aud: Vec<&str> = l["audience"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap())
                    .collect();
                assert!(
                    aud.contains(&peer.partner.as_str()),
                    "{me} offers {} a log for {aud:?}",
                    peer.partner
                );
            }
            checks += 1;
            // The checkpoint discloses the heads of logs the peer may receive, and no others.
            let r = fed_get(peer, Some(&peer.key_seed), n, "/fed/v1/checkpoint").await;
            assert_eq!(r.status(), 200, "{me}: checkpoint for {}", peer.partner);
            let body: serde_json::Value = r.json().await.unwrap();
            let held = n.node.store().logs().await.unwrap();
            for d in body["disclosed"].as_array().unwrap() {
                let log = held
                    .iter()
                    .find(|l| l.log_id == d["log_id"].as_str().unwrap())
                    .expect("a disclosed log is held");
                assert!(
                    log.origin == me && log.audience.contains(&peer.node.partner().clone()),
                    "{me}'s checkpoint discloses to {} the head of a log for {:?}",
                    peer.partner,
                    log.audience
                );
            }
            checks += 1;
        }

        // Storage: nothing of an item outside this partner's audience is held at all.
        let bytes = db_bytes(n);
        for h in &not_held {
            assert!(
                !contains(&bytes, &h.item_id),
                "{me}: database holds {}",
                h.item_id
            );
        }
        checks += not_held.len() as u64;
    }
    c.stop().await;
    checks
}
