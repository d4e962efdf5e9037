//! Joint actions and progress reports, exercises, industrial projects, endorsements and
//! sightings across nodes: identical state on every node in the audience, nothing outside it,
//! and bad input refused.

mod common;

use common::*;
use entente_domain::coord::{ActionStatus, ExerciseResponse, MilestoneUpdate};
use entente_domain::partner::code;
use entente_node::coord::{NewAction, NewExercise, NewMilestone, NewProgress, NewProject};
use entente_testkit::{Cluster, TestNode};

async fn same_object(nodes: &[&TestNode], kind: &str, id: &str) -> String {
    let mut states = vec![];
    for n in nodes {
        states.push(
            n.node
                .store()
                .object(kind, id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{} lacks {kind} {id}", n.partner)),
        );
    }
    assert!(
        states.windows(2).all(|w| w[0] == w[1]),
        "{kind} {id} differs between nodes"
    );
    states.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instrument_converges_within_its_audience_only() {
    let c = Cluster::new(&["EU", "NATO", "JPN", "KOR"]).await.unwrap();
    let (eu, nato, jpn, kor) = (c.node("EU"), c.node("NATO"), c.node("JPN"), c.node("KOR"));
    let f = format(
        eu,
        "Transatlantic+ Japan — resilience",
        &["EU", "NATO", "JPN", "KOR"],
    )
    .await;
    c.sync_until_quiet().await;

    // Joint action: EU leads, NATO and JPN participate; KOR is outside.
    let mk = |dues: &[&str]| NewAction {
        format_id: f.format_id.clone(),
        title: "EXERCISE: Joint resilience baseline for ports".into(),
        description: "Common action under countering hybrid threats.".into(),
        group: "countering hybrid threats".into(),
        topics: vec!["hybrid-threats".into(), "resilience".into()],
        leads: vec!["EU".into()],
        participants: vec!["NATO".into(), "JPN".into()],
        milestones: dues
            .iter()
            .enumerate()
            .map(|(i, d)| NewMilestone {
                title: format!("Milestone {}", i + 1),
                due: d.to_string(),
            })
            .collect(),
    };
    assert!(
        eu.node
            .create_action(&eu.admin(), mk(&["2026-12-31", "2026-01-31"]))
            .await
            .is_err(),
        "milestone dates out of order"
    );
    let a = eu
        .node
        .create_action(&eu.admin(), mk(&["2026-01-31", "2027-06-30"]))
        .await
        .unwrap();
    c.sync_until_quiet().await;
    let progress = |status, narrative: &str, done: bool| NewProgress {
        period: "2026-H2".into(),
        status,
        narrative: narrative.into(),
        milestones: vec![MilestoneUpdate {
            milestone_id: "m1".into(),
            done,
            note: String::new(),
        }],
    };
    nato.node
        .report_progress(
            &nato.admin(),
            &a.action_id,
            progress(ActionStatus::Stalled, "NATO input delivered", false),
        )
        .await
        .unwrap();
    eu.node
        .report_progress(
            &eu.admin(),
            &a.action_id,
            progress(ActionStatus::InProgress, "Baseline drafted", false),
        )
        .await
        .unwrap();
    assert!(
        kor.node
            .report_progress(
                &kor.admin(),
                &a.action_id,
                progress(ActionStatus::Implemented, "x", true)
            )
            .await
            .is_err(),
        "KOR holds nothing"
    );
    c.sync_until_quiet().await;
    let state = same_object(&[eu, nato, jpn], "action", &a.action_id).await;
    assert!(
        state.contains("\"status\":\"in_progress\""),
        "the lead's report sets the status: {state}"
    );
    assert!(
        kor.node
            .store()
            .object("action", &a.action_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        kor.node
            .actions(&kor.admin(), None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!contains(&db_bytes(kor), &a.action_id));
    // The periodic report's numbers match the entries, on every node in the audience.
    for n in [eu, nato, jpn] {
        let r = n
            .node
            .progress_report(&n.admin(), &f.format_id, "2026-H2")
            .await
            .unwrap();
        assert_eq!(r.actions, 1);
        assert_eq!(r.by_status.get("in progress"), Some(&1));
        assert_eq!(r.reports_in_period, 2);
        assert_eq!(
            (
                r.contributions.get("EU"),
                r.contributions.get("NATO"),
                r.contributions.get("JPN")
            ),
            (Some(&1), Some(&1), None)
        );
        assert_eq!(r.overdue.len(), 1, "milestone 1 was due 2026-01-31");
        assert_eq!(r.built_from.len(), 3, "one create and two progress entries");
        assert!(r.markdown().contains("| in progress | 1 |"));
        assert!(r.html().contains("<h1>Progress report"));
    }
    assert_eq!(
        kor.node
            .progress_report(&kor.admin(), &f.format_id, "2026-H2")
            .await
            .unwrap()
            .actions,
        0,
        "no counts for KOR"
    );

    // Exercise: NATO organises, EU and JPN invited, KOR observes.
    let x = nato
        .node
        .plan_exercise(
            &nato.admin(),
            NewExercise {
                format_id: f.format_id.clone(),
                details: entente_domain::coord::ExerciseDetails {
                    name: "EXERCISE STEADFAST VELDRA (fictional)".into(),
                    start: "2027-03-01".into(),
                    end: "2027-03-05".into(),
                    topics: vec!["exercises".into(), "maritime-security".into()],
                    location: "Souda Bay, Crete — or https://meet.example/steadfast".into(),
                },
                invited: vec!["EU".into(), "JPN".into()],
                observers: vec!["KOR".into()],
            },
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;
    // The location travels in the signed plan and is what each invited partner sees.
    let at_eu = eu
        .node
        .exercise(&eu.admin(), &x.plan.exercise_id)
        .await
        .unwrap();
    assert_eq!(
        at_eu.plan.details.location,
        "Souda Bay, Crete — or https://meet.example/steadfast"
    );
    // One rule at creation: longer than 200 characters is refused, beside the field.
    let too_long = nato
        .node
        .plan_exercise(
            &nato.admin(),
            NewExercise {
                format_id: f.format_id.clone(),
                details: entente_domain::coord::ExerciseDetails {
                    name: "Too far".into(),
                    start: "2027-04-01".into(),
                    end: "2027-04-02".into(),
                    topics: vec!["exercises".into()],
                    location: "x".repeat(201),
                },
                invited: vec!["EU".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(too_long.to_string().contains("location"), "{too_long}");
    eu.node
        .respond_exercise(
            &eu.admin(),
            &x.plan.exercise_id,
            ExerciseResponse::Participate,
        )
        .await
        .unwrap();
    kor.node
        .respond_exercise(&kor.admin(), &x.plan.exercise_id, ExerciseResponse::Observe)
        .await
        .unwrap();
    jpn.node
        .respond_exercise(&jpn.admin(), &x.plan.exercise_id, ExerciseResponse::Decline)
        .await
        .unwrap();
    let lesson = entente_node::NewItem {
        format_id: f.format_id.clone(),
        kind: "lesson-learned".into(),
        title: "After action: liaison officers on day one".into(),
        body: String::new(),
        topics: vec!["exercises".into()],
        tlp: Some("GREEN".into()),
        releasable_to: Some(vec!["EU".into(), "JPN".into(), "KOR".into()]),
        named_users: vec![],
        attachments: vec![],
    };
    let lesson = nato.node.create_item(&nato.admin(), lesson).await.unwrap();
    nato.node
        .add_exercise_lesson(&nato.admin(), &x.plan.exercise_id, &lesson.item_id)
        .await
        .unwrap();
    c.sync_until_quiet().await;
    let xs = same_object(&[eu, nato, jpn, kor], "exercise", &x.plan.exercise_id).await;
    assert!(
        xs.contains(&lesson.item_id)
            && xs.contains("\"KOR\":\"observe\"")
            && xs.contains("\"JPN\":\"decline\""),
        "{xs}"
    );

    // Project: JPN registers; EU expresses interest; KOR is outside the project's audience.
    let p = jpn
        .node
        .register_project(
            &jpn.admin(),
            NewProject {
                format_id: f.format_id.clone(),
                title: "Unmanned maritime domain awareness demonstrator".into(),
                capability_area: "maritime domain awareness".into(),
                description: String::new(),
                stage: "concept".into(),
                participants: vec!["JPN".into(), "NATO".into()],
                releasable_to: Some(vec!["EU".into(), "NATO".into()]),
            },
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;
    eu.node
        .express_interest(&eu.admin(), &p.project.project_id, "sensor integration")
        .await
        .unwrap();
    c.sync_until_quiet().await;
    same_object(&[eu, nato, jpn], "project", &p.project.project_id).await;
    let m = eu
        .node
        .match_projects(&eu.admin(), "Maritime domain awareness")
        .await
        .unwrap();
    assert_eq!(
        m.keys().cloned().collect::<Vec<_>>(),
        vec![code("EU"), code("JPN"), code("NATO")]
    );
    // A word of the area finds it too, in any case (review defect 7); another does not.
    let m = eu
        .node
        .match_projects(&eu.admin(), "MARITIME")
        .await
        .unwrap();
    assert_eq!(m.len(), 3);
    assert!(
        eu.node
            .match_projects(&eu.admin(), "airlift")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        kor.node
            .match_projects(&kor.admin(), "maritime domain awareness")
            .await
            .unwrap()
            .is_empty()
    );

    // Endorsement and sighting of a best practice released to EU, NATO and KOR.
    let bp = entente_node::NewItem {
        format_id: f.format_id.clone(),
        kind: "best-practice".into(),
        title: "Pre-agreed contact lists".into(),
        body: String::new(),
        topics: vec!["resilience".into()],
        tlp: Some("GREEN".into()),
        releasable_to: Some(vec!["NATO".into(), "KOR".into()]),
        named_users: vec![],
        attachments: vec![],
    };
    let bp = eu.node.create_item(&eu.admin(), bp).await.unwrap();
    c.sync_until_quiet().await;
    nato.node.endorse(&nato.admin(), &bp.item_id).await.unwrap();
    kor.node
        .sighting(
            &kor.admin(),
            &bp.item_id,
            "2026-11-20T10:00:00.000Z",
            3,
            "we saw this too",
        )
        .await
        .unwrap();
    assert!(
        kor.node
            .sighting(&kor.admin(), &bp.item_id, "yesterday", 1, "")
            .await
            .is_err()
    );
    assert!(
        jpn.node.endorse(&jpn.admin(), &bp.item_id).await.is_err(),
        "JPN may not see it"
    );
    c.sync_until_quiet().await;
    let r = same_object(&[eu, nato, kor], "reactions", &bp.item_id).await;
    assert!(
        r.contains("\"NATO\"") && r.contains("we saw this too"),
        "{r}"
    );
    assert!(
        jpn.node
            .store()
            .object("reactions", &bp.item_id)
            .await
            .unwrap()
            .is_none()
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_view_counts_only_what_the_viewer_may_see() {
    let c = Cluster::new(&["EU", "NATO", "JPN"]).await.unwrap();
    let (eu, nato, jpn) = (c.node("EU"), c.node("NATO"), c.node("JPN"));
    let f = format(eu, "Trio", &["EU", "NATO", "JPN"]).await;
    c.sync_until_quiet().await;
    item(
        eu,
        &f.format_id,
        "to all",
        Some("GREEN"),
        Some(&["EU", "NATO", "JPN"]),
    )
    .await;
    item(
        eu,
        &f.format_id,
        "EU-JPN 1",
        Some("GREEN"),
        Some(&["EU", "JPN"]),
    )
    .await;
    item(
        jpn,
        &f.format_id,
        "EU-JPN 2",
        Some("AMBER"),
        Some(&["EU", "JPN"]),
    )
    .await;
    item(
        nato,
        &f.format_id,
        "NATO-JPN",
        Some("GREEN"),
        Some(&["NATO", "JPN"]),
    )
    .await;
    c.sync_until_quiet().await;
    let at = |n: &entente_testkit::TestNode| {
        let (node, who) = (n.node.clone(), n.admin());
        async move {
            node.network(&who, Default::default())
                .await
                .unwrap()
                .network
        }
    };
    let j = at(jpn).await;
    assert_eq!(j.entries, 4);
    assert_eq!(j.triangles, 1);
    assert_eq!(j.triangular_entries, 1);
    let w = |s: &entente_domain::analytics::NetworkStats, a: &str, b: &str| {
        s.edges
            .iter()
            .find(|e| e.a == code(a) && e.b == code(b))
            .map(|e| e.weight)
    };
    assert_eq!(
        (
            w(&j, "EU", "JPN"),
            w(&j, "JPN", "NATO"),
            w(&j, "EU", "NATO")
        ),
        (Some(3), Some(2), Some(1))
    );
    // NATO sees neither EU-JPN item: no edge weight or count comes from them.
    let n = at(nato).await;
    assert_eq!(n.entries, 2);
    assert_eq!(w(&n, "EU", "JPN"), Some(1), "only the item to all three");
    assert!(
        nato.node
            .network(
                &nato.admin(),
                entente_node::analytics::NetworkFilter {
                    topic: Some("gossip".into()),
                    ..Default::default()
                }
            )
            .await
            .is_err()
    );
    c.stop().await;
}

/// Issue 18 item 4: the network view reads the counts the store keeps with the items (or, for a
/// filter finer than a day, the items); after every step (items published at each partner with varied audiences,
/// topics and markings, TLP:RED to named users, revisions that move topics, retractions, sync)
/// it equals the network computed afresh from every stored item the viewer may see — the
/// computation it replaced, kept here as the oracle — for every node, two users and several
/// filters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_view_reads_kept_counts_and_equals_a_full_count() {
    use entente_domain::analytics::network;
    use entente_node::analytics::NetworkFilter;
    let c = Cluster::new(&["EU", "NATO", "JPN"]).await.unwrap();
    let f = format(c.node("EU"), "Trio", &["EU", "NATO", "JPN"]).await;
    c.sync_until_quiet().await;
    for n in &c.nodes {
        n.node
            .add_user("ana", entente_domain::Role::Analyst, "analyst-password-1")
            .await
            .unwrap();
    }
    let filters = [
        NetworkFilter::default(),
        NetworkFilter {
            topic: Some("cybercrime".into()),
            ..Default::default()
        },
        NetworkFilter {
            since: Some("2000-01-01".into()),
            until: Some("2999-01-01".into()),
            ..Default::default()
        },
        // A month and a year: still whole days, read from the counts.
        NetworkFilter {
            topic: Some("cybercrime".into()),
            since: Some("2000-01".into()),
            until: Some("2999".into()),
        },
        // Finer than a day: read from the items.
        NetworkFilter {
            since: Some("2000-01-01T00:00:00Z".into()),
            ..Default::default()
        },
    ];
    let audiences: [&[&str]; 4] = [
        &["EU", "NATO", "JPN"],
        &["EU", "JPN"],
        &["NATO", "JPN"],
        &["EU", "NATO"],
    ];
    let mut published: Vec<(usize, String)> = vec![];
    let check = async |c: &Cluster, step: usize| {
        for n in &c.nodes {
            let ana = n.node.principal_for("ana").await.unwrap();
            for who in [n.admin(), ana] {
                let viewer = who.viewer();
                for fl in &filters {
                    // Three at once: views made side by side agree (and, from items, the
                    // ones that waited reuse the one that read).
                    let (a, b, got) = tokio::join!(
                        n.node.network(&who, fl.clone()),
                        n.node.network(&who, fl.clone()),
                        n.node.network(&who, fl.clone()),
                    );
                    let got = got.unwrap();
                    assert_eq!(a.unwrap().network, got.network);
                    assert_eq!(b.unwrap().network, got.network);
                    // The oracle: every stored item, filtered as the view filters.
                    let all = n
                        .node
                        .store()
                        .items(&entente_store::ItemQuery {
                            limit: 100_000,
                            ..Default::default()
                        })
                        .await
                        .unwrap();
                    let seen: Vec<&entente_domain::ItemState> = all
                        .iter()
                        .filter(|it| entente_domain::policy::user_may_see_item(&viewer, it))
                        .filter(|it| fl.topic.as_ref().is_none_or(|t| it.topics.contains(t)))
                        .filter(|it| {
                            fl.since
                                .as_deref()
                                .is_none_or(|s| it.created_at.as_str() >= s)
                        })
                        .filter(|it| {
                            fl.until
                                .as_deref()
                                .is_none_or(|u| it.created_at.as_str() < u)
                        })
                        .collect();
                    let want = network(seen.iter().map(|it| &it.audience));
                    assert_eq!(
                        got.network, want,
                        "step {step} at {} as {} with {fl:?}",
                        n.partner, viewer.user
                    );
                    let months: std::collections::BTreeSet<&str> =
                        seen.iter().map(|it| &it.created_at[..7]).collect();
                    assert_eq!(got.trend.len(), months.len(), "step {step}");
                }
            }
        }
    };
    for step in 0..24usize {
        let at = c.node(["EU", "NATO", "JPN"][step % 3]);
        let me = at.partner.as_str();
        match step % 6 {
            // Revise an earlier item of this partner: its topics move.
            4 => {
                if let Some((_, id)) = published.iter().rev().find(|(p, _)| *p == step % 3) {
                    at.node
                        .revise_item(
                            &at.admin(),
                            id,
                            entente_node::ItemRevision {
                                title: format!("revised at {step}"),
                                body: String::new(),
                                topics: vec![
                                    if step % 4 == 0 {
                                        "cybercrime"
                                    } else {
                                        "maritime-security"
                                    }
                                    .into(),
                                ],
                            },
                        )
                        .await
                        .unwrap();
                }
            }
            // Retract one.
            5 => {
                if let Some((_, id)) = published.iter().find(|(p, _)| *p == step % 3) {
                    at.node
                        .retract_item(&at.admin(), id, "superseded")
                        .await
                        .unwrap();
                }
            }
            k => {
                let aud: Vec<String> = audiences[(step + k) % 4]
                    .iter()
                    .map(|p| p.to_string())
                    .collect();
                let aud = if aud.iter().any(|p| p == me) {
                    aud
                } else {
                    vec![me.to_owned()].into_iter().chain(aud).collect()
                };
                let red = step % 5 == 0;
                let it = at
                    .node
                    .create_item(
                        &at.admin(),
                        entente_node::NewItem {
                            format_id: f.format_id.clone(),
                            kind: "report".into(),
                            title: format!("step {step}"),
                            body: String::new(),
                            topics: vec![
                                if step % 2 == 0 {
                                    "cybercrime"
                                } else {
                                    "maritime-security"
                                }
                                .into(),
                            ],
                            tlp: Some(if red { "RED" } else { "GREEN" }.into()),
                            releasable_to: Some(aud.clone()),
                            named_users: if red {
                                aud.iter()
                                    .filter(|p| *p != me)
                                    .map(|p| format!("ana@{p}"))
                                    .collect()
                            } else {
                                vec![]
                            },
                            attachments: vec![],
                        },
                    )
                    .await
                    .unwrap();
                published.push((step % 3, it.item_id));
            }
        }
        check(&c, step).await;
        if step % 2 == 1 {
            c.sync_until_quiet().await;
            check(&c, step).await;
        }
    }
    c.stop().await;
}
