//! The demo's dialogue: a discussion in the maritime format with replies from all three
//! partners (one quoting, one mentioning, one with a file), a thread on NATO's after-action lesson, and a
//! working-level meeting (with the convener's agenda paper attached) whose minutes all three agreed and whose decisions became joint
//! actions, with the next meeting of its series planned, and a concept paper with one accepted
//! and one rejected amendment, signed off by all three.

use super::{NOTICE, admin, settle};
use anyhow::Result;
use entente_domain::coord::{NewPost, NewThread, ThreadSubject};
use entente_node::Node;
use std::sync::Arc;

pub(super) async fn seed_dialogue(nodes: &[Arc<Node>], maritime: &str, lesson: &str) -> Result<()> {
    let (eu, nato, jpn) = (&nodes[0], &nodes[1], &nodes[2]);
    let t = eu
        .start_thread(
            &admin(eu),
            NewThread {
                attachments: vec![],
                format_id: maritime.to_owned(),
                title: "EXERCISE: Ferry capacity for a civilian evacuation".into(),
                body: format!(
                    "{NOTICE}For the evacuation scenario of STEADFAST VELDRA: who holds current \
                     ro-ro ferry capacity figures for the (fictional) Strait of Veldra?"
                ),
                subject: None,
                releasable_to: None,
            },
        )
        .await?;
    let opening = t.posts[0].post_id.clone();
    settle(nodes).await;
    nato.reply(
        &admin(nato),
        &t.thread_id,
        NewPost {
            attachments: vec![],
            body: "MARCOM tracks four ro-ro operators; figures are a month old. \
                   @admin@JPN, do your coast guard numbers cover the northern route?"
                .into(),
            quote: None,
        },
    )
    .await?;
    settle(nodes).await;
    // The table goes with the reply, to the thread's audience only.
    let table = upload(
        jpn,
        "northern-route-sailings.csv",
        "EXERCISE,fictional data\nroute,operator,sailings_per_day,passengers\n\
         Veldra North,Operator A,7,5200\nVeldra North,Operator B,5,3800\n",
    )
    .await?;
    jpn.reply(
        &admin(jpn),
        &t.thread_id,
        NewPost {
            attachments: vec![table],
            body: "Yes: twelve sailings a day on the northern route, 9,000 passengers in total \
                   (table attached). We can also share it as a TLP:GREEN item."
                .into(),
            quote: Some(opening),
        },
    )
    .await?;
    settle(nodes).await;
    eu.reply(
        &admin(eu),
        &t.thread_id,
        NewPost {
            attachments: vec![],
            body: "Thank you both — proposing this as an agenda point for the next \
                   working-level meeting."
                .into(),
            quote: None,
        },
    )
    .await?;
    // A thread on an object: JPN asks about NATO's lesson (it goes to the lesson's audience).
    jpn.start_thread(
        &admin(jpn),
        NewThread {
            attachments: vec![],
            format_id: String::new(),
            title: "Liaison officers from day one — staffing?".into(),
            body: "How many liaison officers did this take per partner?".into(),
            subject: Some(ThreadSubject {
                kind: "item".into(),
                id: lesson.to_owned(),
            }),
            releasable_to: None,
        },
    )
    .await?;
    settle(nodes).await;
    seed_meeting(nodes, maritime).await?;
    seed_paper(nodes, maritime).await?;
    seed_release(nodes, maritime).await
}

/// Two EU–Japan lessons, later released to NATO (the three-node demo has no partner admitted
/// later, so NATO, left out at first, stands for one): each release a new item naming the
/// original entry, the originals unchanged.
async fn seed_release(nodes: &[Arc<Node>], maritime: &str) -> Result<()> {
    let eu = &nodes[0];
    let mut ids = vec![];
    for (title, body) in [
        (
            "EXERCISE: Lesson — pre-agreed ferry charters save the first day",
            "Charters agreed in peacetime were activated within hours.",
        ),
        (
            "EXERCISE: Lesson — one liaison list per port",
            "A single contact list per port avoided duplicated calls.",
        ),
    ] {
        let it = eu
            .create_item(
                &admin(eu),
                entente_node::NewItem {
                    format_id: maritime.to_owned(),
                    kind: "lesson-learned".into(),
                    title: title.into(),
                    body: format!("{NOTICE}{body}"),
                    topics: vec!["maritime-security".into()],
                    tlp: Some("GREEN".into()),
                    releasable_to: Some(vec!["EU".into(), "JPN".into()]),
                    named_users: vec![],
                    attachments: vec![],
                },
            )
            .await?;
        ids.push(it.item_id);
    }
    settle(nodes).await;
    eu.release_items(&admin(eu), maritime, "NATO", &ids).await?;
    settle(nodes).await;
    Ok(())
}

async fn seed_paper(nodes: &[Arc<Node>], maritime: &str) -> Result<()> {
    use entente_domain::coord::{NewAmendment, NewPaper};
    use entente_domain::statement::Stance;
    let (eu, nato, jpn) = (&nodes[0], &nodes[1], &nodes[2]);
    let p = eu
        .draft_paper(
            &admin(eu),
            NewPaper {
                format_id: maritime.to_owned(),
                title: "EXERCISE: Concept for civilian evacuation by sea (fictional)".into(),
                text: format!(
                    "{NOTICE}## Purpose\nA common approach to evacuating civilians by sea from a \
                     (fictional) crisis area.\n\n## Means\nShared ferry capacity tables, kept \
                     current by each partner.\n\n## Coordination\nA joint cell meets daily \
                     during a crisis.\n"
                ),
                co_authors: vec!["JPN".into()],
                releasable_to: None,
            },
        )
        .await?;
    settle(nodes).await;
    let id = p.paper_id;
    let v = nato
        .propose_amendment(
            &admin(nato),
            &id,
            NewAmendment {
                section: 2,
                text: "Shared ferry capacity tables and air bridges, kept current by each partner."
                    .into(),
                reason: "Air assets shorten an evacuation where ferries cannot call.".into(),
            },
        )
        .await?;
    let accepted = v.paper.amendments[0].amendment_id.clone();
    let v = jpn
        .propose_amendment(
            &admin(jpn),
            &id,
            NewAmendment {
                section: 3,
                text: "A joint cell meets twice a day during a crisis.".into(),
                reason: "Daily is too slow in the first 48 hours.".into(),
            },
        )
        .await?;
    let rejected = v
        .paper
        .amendments
        .iter()
        .find(|a| a.partner.as_str() == "JPN")
        .map(|a| a.amendment_id.clone())
        .unwrap_or_default();
    settle(nodes).await;
    eu.decide_amendment(&admin(eu), &id, &accepted, true, "agreed")
        .await?;
    eu.decide_amendment(
        &admin(eu),
        &id,
        &rejected,
        false,
        "the cell sets its own rhythm; left to the cell's terms of reference",
    )
    .await?;
    let v = eu
        .circulate_paper(&admin(eu), &id, Default::default())
        .await?;
    let st = v
        .signoff
        .map(|s| s.state.statement_id)
        .ok_or_else(|| anyhow::anyhow!("paper not circulated"))?;
    settle(nodes).await;
    for n in [eu, nato, jpn] {
        n.take_stance(&admin(n), &st, 1, Stance::Endorse, "")
            .await?;
    }
    settle(nodes).await;
    Ok(())
}

async fn seed_meeting(nodes: &[Arc<Node>], maritime: &str) -> Result<()> {
    use entente_domain::coord::{AgendaItem, MeetingDetails, MeetingLevel, NewMeeting};
    use entente_domain::statement::Stance;
    let (eu, nato, jpn) = (&nodes[0], &nodes[1], &nodes[2]);
    let m = eu
        .plan_meeting(
            &admin(eu),
            NewMeeting {
                format_id: maritime.to_owned(),
                details: MeetingDetails {
                    title: "EXERCISE: Maritime working group (fictional)".into(),
                    level: MeetingLevel::WorkingLevel,
                    starts_at: "2026-11-18T09:00:00Z".into(),
                    time_zone: "Europe/Brussels".into(),
                    place: "Brussels and video link".into(),
                    series: "quarterly".into(),
                    agenda: vec![
                        AgendaItem {
                            title: "Ferry capacity for a civilian evacuation".into(),
                            subject: None,
                        },
                        AgendaItem {
                            title: "AIS gaps in the Strait of Veldra".into(),
                            subject: None,
                        },
                    ],
                },
                participants: vec!["NATO".into(), "JPN".into()],
                previous: None,
            },
        )
        .await?;
    let id = m.plan.meeting_id;
    // The convener's agenda paper goes to the participants with the meeting.
    let agenda = upload(
        eu,
        "agenda-working-group.md",
        "EXERCISE — fictional\n\n1. Ferry capacity (JPN)\n2. AIS gaps in the Strait of Veldra (NATO)\n",
    )
    .await?;
    eu.attach_object_file(&admin(eu), "meeting", &id, agenda)
        .await?;
    settle(nodes).await;
    let minutes = format!(
        "{NOTICE}## Ferry capacity\n\nJPN presented northern-route figures; NATO's operator list \
         complements them.\n\n- DECISION: Joint ferry capacity table for evacuation planning \
         (lead: JPN; with: EU, NATO)\n\n## AIS gaps\n\n- DECISION: Shared watch list of vessels \
         with repeated AIS gaps (lead: NATO)\n"
    );
    let v = eu.draft_minutes(&admin(eu), &id, &minutes).await?;
    let st = v
        .minutes
        .map(|m| m.state.statement_id)
        .ok_or_else(|| anyhow::anyhow!("minutes not drafted"))?;
    settle(nodes).await;
    for n in [eu, nato, jpn] {
        n.take_stance(&admin(n), &st, 1, Stance::Endorse, "")
            .await?;
    }
    settle(nodes).await;
    eu.record_decisions(&admin(eu), &id).await?;
    settle(nodes).await;
    let next = eu.next_meeting_draft(&admin(eu), &id).await?;
    eu.plan_meeting(&admin(eu), next).await?;
    settle(nodes).await;
    Ok(())
}

/// A text file uploaded at `node` by its admin, to attach to a post.
async fn upload(node: &Node, name: &str, text: &str) -> Result<entente_node::NewAttachment> {
    let mut up = node.begin_upload(&admin(node)).await?;
    up.write(text.as_bytes()).await?;
    let u = up.finish(node).await?;
    Ok(entente_node::NewAttachment {
        sha256: u.sha256,
        name: name.into(),
    })
}
