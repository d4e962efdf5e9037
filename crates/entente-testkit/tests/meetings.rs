//! Meetings across nodes: planned for the participants only, minutes agreed by every
//! participant over the exact text (an edit voids the agreements given to the version before),
//! agreed minutes verifying offline, decisions recorded as joint actions once, and the next
//! meeting of a series drafted with the open actions on its agenda.

mod common;

use common::*;
use entente_domain::coord::{AgendaItem, MeetingDetails, MeetingLevel, ThreadSubject};
use entente_domain::statement::Stance;
use entente_node::NodeError;
use entente_node::meetings::NewMeeting;
use entente_node::statements::verify_statement_export;
use entente_testkit::Cluster;
use std::collections::BTreeSet;

fn details(title: &str) -> MeetingDetails {
    MeetingDetails {
        title: title.into(),
        level: MeetingLevel::WorkingLevel,
        starts_at: "2027-01-20T09:00:00Z".into(),
        time_zone: "Europe/Brussels".into(),
        place: "Brussels, Berlaymont".into(),
        series: "quarterly".into(),
        agenda: vec![AgendaItem {
            title: "Ferry capacity".into(),
            subject: None,
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minutes_are_agreed_by_every_participant_and_an_edit_voids_earlier_agreements() {
    let c = Cluster::new(&["EU", "NATO", "JPN", "KOR"]).await.unwrap();
    let (eu, nato, jpn, kor) = (c.node("EU"), c.node("NATO"), c.node("JPN"), c.node("KOR"));
    let f = format(
        eu,
        "Transatlantic+ — maritime",
        &["EU", "NATO", "JPN", "KOR"],
    )
    .await;
    c.sync_until_quiet().await;

    // An agenda point about something KOR may not see cannot go to a meeting with KOR.
    let secret = item(
        eu,
        &f.format_id,
        "EU-JPN note",
        Some("GREEN"),
        Some(&["EU", "JPN"]),
    )
    .await;
    let mut d = details("Working group on ports");
    d.agenda.push(AgendaItem {
        title: "The note".into(),
        subject: Some(ThreadSubject {
            kind: "item".into(),
            id: secret.item_id.clone(),
        }),
    });
    let e = eu
        .node
        .plan_meeting(
            &eu.admin(),
            NewMeeting {
                format_id: f.format_id.clone(),
                details: d,
                participants: vec!["NATO".into(), "JPN".into(), "KOR".into()],
                previous: None,
            },
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not every participant"), "{e}");

    // EU convenes NATO and JPN; KOR, a member, is not a participant and receives nothing.
    let m = eu
        .node
        .plan_meeting(
            &eu.admin(),
            NewMeeting {
                format_id: f.format_id.clone(),
                details: details("Working group on ports"),
                participants: vec!["NATO".into(), "JPN".into()],
                previous: None,
            },
        )
        .await
        .unwrap();
    let id = m.plan.meeting_id.clone();
    assert_eq!(
        m.plan.participants,
        vec![
            entente_domain::partner::code("EU"),
            entente_domain::partner::code("JPN"),
            entente_domain::partner::code("NATO")
        ]
    );
    let text1 = "# Minutes\n\nPorts reviewed.\n\n- DECISION: Map ro-ro capacity (lead: JPN; with: EU, NATO)\n";
    // Only the convener drafts the minutes.
    c.sync_until_quiet().await;
    assert!(matches!(
        nato.node.draft_minutes(&nato.admin(), &id, text1).await,
        Err(NodeError::Forbidden(_))
    ));
    let v = eu
        .node
        .draft_minutes(&eu.admin(), &id, text1)
        .await
        .unwrap();
    let st = v.minutes.unwrap().state.statement_id;
    c.sync_until_quiet().await;
    assert!(kor.node.meeting(&kor.admin(), &id).await.is_err());
    assert!(!contains(&db_bytes(kor), "Working group on ports"));
    assert!(!contains(&db_bytes(kor), "ro-ro capacity"));

    // NATO agrees to version 1; EU then edits the minutes: NATO's agreement no longer counts.
    nato.node
        .take_stance(&nato.admin(), &st, 1, Stance::Endorse, "")
        .await
        .unwrap();
    c.sync_until_quiet().await;
    let text2 = format!("{text1}- DECISION: Exchange port access rules (lead: EU)\n");
    eu.node
        .draft_minutes(&eu.admin(), &id, &text2)
        .await
        .unwrap();
    c.sync_until_quiet().await;
    for n in [eu, nato, jpn] {
        let v = n.node.meeting(&n.admin(), &id).await.unwrap();
        assert!(!v.agreed, "{}: agreed after an edit", n.partner);
        let mn = v.minutes.unwrap();
        assert_eq!(mn.state.versions.len(), 2);
        let nato_now = mn
            .current_stances
            .iter()
            .find(|(p, _)| p.as_str() == "NATO")
            .unwrap();
        assert_eq!(
            nato_now.1, None,
            "{}: NATO's agreement to v1 is void",
            n.partner
        );
        assert_eq!(v.decisions.len(), 2);
    }
    // Decisions are recorded only once the minutes are agreed.
    assert!(matches!(
        eu.node.record_decisions(&eu.admin(), &id).await,
        Err(NodeError::Conflict(_))
    ));
    for n in [eu, nato, jpn] {
        n.node
            .take_stance(&n.admin(), &st, 2, Stance::Endorse, "")
            .await
            .unwrap();
    }
    c.sync_until_quiet().await;
    for n in [eu, nato, jpn] {
        assert!(n.node.meeting(&n.admin(), &id).await.unwrap().agreed);
    }

    // The agreed minutes verify offline with the participants' pinned keys.
    let doc = jpn.node.export_statement(&jpn.admin(), &st).await.unwrap();
    let ok = verify_statement_export(&doc, |p| jpn.node.key_of(p)).unwrap();
    assert!(ok.contains("adopted"), "{ok}");
    assert!(doc.text.contains("Exchange port access rules"));

    // The convener records the decisions as joint actions, once; they reach the participants.
    assert!(matches!(
        nato.node.record_decisions(&nato.admin(), &id).await,
        Err(NodeError::Forbidden(_))
    ));
    let v = eu.node.record_decisions(&eu.admin(), &id).await.unwrap();
    assert_eq!(v.actions.len(), 2);
    let v = eu.node.record_decisions(&eu.admin(), &id).await.unwrap();
    assert_eq!(v.actions.len(), 2, "recorded once");
    c.sync_until_quiet().await;
    let at_jpn = jpn.node.meeting(&jpn.admin(), &id).await.unwrap();
    let map = at_jpn
        .actions
        .iter()
        .find(|a| a.title == "Map ro-ro capacity")
        .unwrap();
    assert_eq!(map.leads, vec![entente_domain::partner::code("JPN")]);
    assert_eq!(map.from_meeting.as_deref(), Some(id.as_str()));
    assert!(
        kor.node
            .actions(&kor.admin(), None)
            .await
            .unwrap()
            .is_empty()
    );

    // A decision naming a partner outside the meeting (KOR, a member) is not recorded: the
    // action would tell KOR of the meeting.
    let m2 = eu
        .node
        .plan_meeting(
            &eu.admin(),
            NewMeeting {
                format_id: f.format_id.clone(),
                details: details("Side meeting"),
                participants: vec!["JPN".into()],
                previous: None,
            },
        )
        .await
        .unwrap();
    let v = eu
        .node
        .draft_minutes(
            &eu.admin(),
            &m2.plan.meeting_id,
            "- DECISION: Ask KOR (lead: KOR)",
        )
        .await
        .unwrap();
    let st2 = v.minutes.unwrap().state.statement_id;
    c.sync_until_quiet().await;
    for n in [eu, jpn] {
        n.node
            .take_stance(&n.admin(), &st2, 1, Stance::Endorse, "")
            .await
            .unwrap();
    }
    c.sync_until_quiet().await;
    let e = eu
        .node
        .record_decisions(&eu.admin(), &m2.plan.meeting_id)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("KOR"), "{e}");
    assert!(
        kor.node
            .actions(&kor.admin(), None)
            .await
            .unwrap()
            .is_empty()
    );

    // The next meeting of the series: three months on, open actions on the agenda.
    let next = nato
        .node
        .next_meeting_draft(&nato.admin(), &id)
        .await
        .unwrap();
    assert_eq!(next.details.starts_at, "2027-04-20T09:00:00Z");
    assert_eq!(next.previous.as_deref(), Some(id.as_str()));
    assert!(
        next.details
            .agenda
            .iter()
            .any(|a| a.title.contains("Map ro-ro capacity")),
        "{:?}",
        next.details.agenda
    );
    let planned = nato.node.plan_meeting(&nato.admin(), next).await.unwrap();
    assert_eq!(planned.convener.as_str(), "NATO");
    assert_eq!(planned.plan.details.agenda.len(), 2);
}

/// Red-team findings: a participant's action naming the meeting is not one of its decisions,
/// and minutes linked to a statement only the convener must endorse never read as agreed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_decisions_and_minutes_are_not_shown_as_the_meetings() {
    use entente_domain::Payload;
    use entente_domain::coord::{ActionCreate, MeetingMinutes};
    let c = Cluster::new(&["EU", "NATO", "JPN"]).await.unwrap();
    let (eu, nato, jpn) = (c.node("EU"), c.node("NATO"), c.node("JPN"));
    let f = format(eu, "Transatlantic+", &["EU", "NATO", "JPN"]).await;
    c.sync_until_quiet().await;
    let m = eu
        .node
        .plan_meeting(
            &eu.admin(),
            NewMeeting {
                format_id: f.format_id.clone(),
                details: details("Working group on ports"),
                participants: vec!["NATO".into(), "JPN".into()],
                previous: None,
            },
        )
        .await
        .unwrap();
    let id = m.plan.meeting_id.clone();
    c.sync_until_quiet().await;

    // JPN signs an action of its own that names EU's meeting.
    jpn.node
        .publish(
            &m.audience,
            &[Payload::ActionCreate(ActionCreate {
                action_id: entente_node::new_id(),
                format_id: f.format_id.clone(),
                title: "Decided, JPN says".into(),
                description: String::new(),
                group: String::new(),
                topics: vec![],
                leads: vec![entente_domain::partner::code("JPN")],
                participants: vec![],
                milestones: vec![],
                author: "admin@JPN".into(),
                from_meeting: Some(id.clone()),
            })],
        )
        .await
        .unwrap();

    // EU links the minutes to a statement only EU must endorse, and endorses it.
    let own = eu
        .node
        .create_statement(
            &eu.admin(),
            entente_node::statements::NewStatement {
                format_id: f.format_id.clone(),
                title: "Minutes".into(),
                text: "- DECISION: Whatever EU wants (lead: NATO)".into(),
                releasable_to: Some(vec!["EU".into(), "NATO".into(), "JPN".into()]),
                required: Some(vec!["EU".into()]),
                rule: entente_domain::statement::AdoptionRule::Unanimity,
                deadline: None,
            },
        )
        .await
        .unwrap();
    let sid = own.state.statement_id.clone();
    eu.node
        .take_stance(&eu.admin(), &sid, 1, Stance::Endorse, "")
        .await
        .unwrap();
    eu.node
        .publish(
            &m.audience,
            &[Payload::MeetingMinutes(MeetingMinutes {
                meeting_id: id.clone(),
                statement_id: sid.clone(),
                author: "admin@EU".into(),
            })],
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;
    for n in [eu, nato, jpn] {
        let v = n.node.meeting(&n.admin(), &id).await.unwrap();
        assert!(
            v.actions.is_empty(),
            "{}: JPN's action shown as a decision",
            n.partner
        );
        assert!(!v.agreed, "{}: minutes agreed by EU alone", n.partner);
        assert!(v.minutes.is_none() && v.decisions.is_empty());
    }
    assert!(matches!(
        eu.node.record_decisions(&eu.admin(), &id).await,
        Err(NodeError::Conflict(_))
    ));
}

/// A meeting's convener attaches the slides and a paper's penholder an annex: each reaches
/// exactly the object's audience byte-identical, KOR (a member outside it) gets nothing — no
/// download, no bytes, no chunk from the holders —, and only the convener or penholder attaches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meetings_and_a_papers_files_reach_exactly_their_audience() {
    let opts = entente_testkit::ClusterOptions {
        search: true,
        ..Default::default()
    };
    let c = Cluster::with(&["EU", "NATO", "JPN", "KOR"], opts)
        .await
        .unwrap();
    let (eu, nato, jpn, kor) = (c.node("EU"), c.node("NATO"), c.node("JPN"), c.node("KOR"));
    let f = format(
        eu,
        "Transatlantic+ — maritime",
        &["EU", "NATO", "JPN", "KOR"],
    )
    .await;
    c.sync_until_quiet().await;
    let m = eu
        .node
        .plan_meeting(
            &eu.admin(),
            NewMeeting {
                format_id: f.format_id.clone(),
                details: details("Working group on ports"),
                participants: vec!["NATO".into(), "JPN".into()],
                previous: None,
            },
        )
        .await
        .unwrap();
    let p = eu
        .node
        .draft_paper(
            &eu.admin(),
            entente_domain::coord::NewPaper {
                format_id: f.format_id.clone(),
                title: "Concept for port resilience".into(),
                text: "Why.\n\n## Scope\nPorts.\n".into(),
                co_authors: vec![],
                releasable_to: Some(vec!["EU".into(), "JPN".into()]),
            },
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;
    let http = entente_testkit::http_client();
    let get = async |n: &entente_testkit::TestNode, path: &str| {
        http.get(format!("{}{path}", n.url()))
            .bearer_auth(&n.token)
            .send()
            .await
            .unwrap()
    };
    let attach = async |n: &entente_testkit::TestNode, path: &str, sha: &str, name: &str| {
        http.post(format!("{}{path}", n.url()))
            .bearer_auth(&n.token)
            .json(&serde_json::json!({"sha256": sha, "name": name}))
            .send()
            .await
            .unwrap()
    };
    let slides = b"%PDF-1.4 slides-marker-walrusport agenda slides".to_vec();
    let annex = b"annex-marker-otterquay: port capacities".to_vec();
    let s1 = upload(eu, &slides).await["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let s2 = upload(eu, &annex).await["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let mid = m.plan.meeting_id.clone();
    let pid = p.paper_id.clone();
    let r = attach(
        eu,
        &format!("/api/v1/meetings/{mid}/attachments"),
        &s1,
        "スライド.pdf",
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = attach(
        eu,
        &format!("/api/v1/papers/{pid}/attachments"),
        &s2,
        "annex.txt",
    )
    .await;
    assert_eq!(r.status(), 200);
    let agenda = "Agenda: berths at pelicanquay, 港湾の輸送能力"
        .as_bytes()
        .to_vec();
    let s5 = upload(eu, &agenda).await["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = attach(
        eu,
        &format!("/api/v1/meetings/{mid}/attachments"),
        &s5,
        "agenda.txt",
    )
    .await;
    assert_eq!(r.status(), 200);
    // JPN (a participant) may not attach to EU's meeting, even a file it uploaded.
    let s3 = upload(jpn, b"jpn file").await["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = attach(
        jpn,
        &format!("/api/v1/meetings/{mid}/attachments"),
        &s3,
        "x.txt",
    )
    .await;
    assert_eq!(r.status(), 403);
    c.sync_until_quiet().await;

    let meeting_file = format!("/api/v1/meetings/{mid}/attachments/{s1}");
    let paper_file = format!("/api/v1/papers/{pid}/attachments/{s2}");
    for (n, path, bytes) in [
        (nato, &meeting_file, &slides),
        (jpn, &meeting_file, &slides),
        (jpn, &paper_file, &annex),
    ] {
        eventually("the file at a partner of the audience", async || {
            get(n, path).await.status() == 200
        })
        .await;
        let r = get(n, path).await;
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment; ")
        );
        assert_eq!(
            &r.bytes().await.unwrap()[..],
            &bytes[..],
            "{} {path}",
            n.partner
        );
    }
    // The files' text is searched with the meeting and the paper, by their audiences only
    // (a Japanese word of the agenda file too).
    let found = async |n: &entente_testkit::TestNode, q: &str| -> Vec<String> {
        n.node.search_settled().await;
        let r = n
            .node
            .search(
                &n.admin(),
                entente_node::search::SearchRequest {
                    q: q.into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        r.hits
            .into_iter()
            .map(|h| format!("{}:{}", h.what, h.id))
            .collect()
    };
    let (in_meeting, in_paper) = (format!("meeting:{mid}"), format!("paper:{pid}"));
    for n in [eu, nato, jpn] {
        eventually("the agenda file's text searchable", async || {
            found(n, "pelicanquay").await == vec![in_meeting.clone()]
        })
        .await;
        assert_eq!(found(n, "輸送").await, vec![in_meeting.clone()]);
    }
    for n in [eu, jpn] {
        eventually("the annex's text searchable", async || {
            found(n, "otterquay").await == vec![in_paper.clone()]
        })
        .await;
    }
    assert!(found(nato, "otterquay").await.is_empty());
    assert!(found(kor, "otterquay").await.is_empty());
    assert!(found(kor, "pelicanquay").await.is_empty());
    // NATO is outside the paper's audience, KOR outside both.
    assert_eq!(get(nato, &paper_file).await.status(), 404);
    assert!(nato.node.store().blob(&s2).await.unwrap().is_none());
    for path in [&meeting_file, &paper_file] {
        assert_eq!(get(kor, path).await.status(), 404);
    }
    assert!(!contains(&db_bytes(kor), "walrusport"));
    assert!(!contains(&db_bytes(kor), "otterquay"));
    let kor_code = entente_domain::partner::code("KOR");
    for holder in [eu, nato, jpn] {
        let key = format!("meeting:{mid}");
        assert!(
            holder
                .node
                .fed_attachment_chunk(&kor_code, &key, &s1, 0)
                .await
                .is_err()
        );
    }
    assert!(
        eu.node
            .fed_attachment_chunk(
                &entente_domain::partner::code("NATO"),
                &format!("paper:{pid}"),
                &s2,
                0
            )
            .await
            .is_err()
    );
    // Circulated for sign-off, the paper's files are what is signed beside its text: frozen.
    eu.node
        .circulate_paper(&eu.admin(), &pid, Default::default())
        .await
        .unwrap();
    let s4 = upload(eu, b"late annex").await["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = attach(
        eu,
        &format!("/api/v1/papers/{pid}/attachments"),
        &s4,
        "late.txt",
    )
    .await;
    assert_eq!(r.status(), 409);

    // A file comes off again: JPN may not take EU's; EU removes the agenda (its hash named in
    // capitals, as a user may paste it), and from then on no node lists the file for the
    // meeting, serves it to its users or to a peer for it, or finds its words (NATO and JPN,
    // which downloaded it above, keep their copies: what was released stays released).
    let remove = async |n: &entente_testkit::TestNode, path: &str| {
        http.delete(format!("{}{path}", n.url()))
            .bearer_auth(&n.token)
            .send()
            .await
            .unwrap()
    };
    let agenda_file = format!("/api/v1/meetings/{mid}/attachments/{s5}");
    assert_eq!(remove(jpn, &agenda_file).await.status(), 403);
    let r = remove(
        eu,
        &format!("/api/v1/meetings/{mid}/attachments/{}", s5.to_uppercase()),
    )
    .await;
    assert_eq!(r.status(), 200);
    let left: Vec<serde_json::Value> = r.json().await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["sha256"], s1.as_str());
    assert_eq!(remove(eu, &agenda_file).await.status(), 404, "gone already");
    assert_eq!(
        remove(eu, &paper_file).await.status(),
        409,
        "a circulated paper's files no longer change"
    );
    assert_eq!(
        remove(jpn, &paper_file).await.status(),
        403,
        "not JPN's paper"
    );
    // Files attached at once are all kept: each change publishes the whole list, so two at
    // once used to undo one another.
    let mut shas = vec![];
    for i in 0..4 {
        let sha = upload(eu, format!("late file {i}").as_bytes()).await["sha256"]
            .as_str()
            .unwrap()
            .to_owned();
        shas.push(sha);
    }
    let on_meeting = format!("/api/v1/meetings/{mid}/attachments");
    let (r0, r1, r2, r3) = tokio::join!(
        attach(eu, &on_meeting, &shas[0], "late0.txt"),
        attach(eu, &on_meeting, &shas[1], "late1.txt"),
        attach(eu, &on_meeting, &shas[2], "late2.txt"),
        attach(eu, &on_meeting, &shas[3], "late3.txt"),
    );
    for r in [r0, r1, r2, r3] {
        assert_eq!(r.status(), 200);
    }
    c.sync_until_quiet().await;
    let jpn_code = entente_domain::partner::code("JPN");
    for n in [eu, nato, jpn] {
        let names: BTreeSet<String> = n
            .node
            .object_files_here("meeting", &mid)
            .await
            .unwrap()
            .into_iter()
            .map(|(f, _, _)| f.name)
            .collect();
        let want: BTreeSet<String> = [
            "スライド.pdf",
            "late0.txt",
            "late1.txt",
            "late2.txt",
            "late3.txt",
        ]
        .map(String::from)
        .into();
        assert_eq!(names, want, "{}", n.partner);
        assert_eq!(get(n, &agenda_file).await.status(), 404, "{}", n.partner);
        assert!(
            n.node
                .fed_attachment_chunk(&jpn_code, &format!("meeting:{mid}"), &s5, 0)
                .await
                .is_err(),
            "{} serves a removed file",
            n.partner
        );
        eventually("the removed file's words no longer found", async || {
            found(n, "pelicanquay").await.is_empty()
        })
        .await;
    }
    c.stop().await;
}
