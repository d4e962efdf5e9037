//! The demo's dialogue: a discussion in the maritime format with replies from all three
//! partners (one quoting, one mentioning), and a thread on NATO's after-action lesson.

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
            body: "MARCOM tracks four ro-ro operators; figures are a month old. \
                   @admin@JPN, do your coast guard numbers cover the northern route?"
                .into(),
            quote: None,
        },
    )
    .await?;
    settle(nodes).await;
    jpn.reply(
        &admin(jpn),
        &t.thread_id,
        NewPost {
            body: "Yes: twelve sailings a day on the northern route, 9,000 passengers in total. \
                   We can share the table as a TLP:GREEN item."
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
    Ok(())
}
