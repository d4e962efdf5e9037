//! Concept papers across nodes: a draft, amendments proposed by other partners and decided by
//! the penholder (an accepted one is a new version everywhere), sign-off on the exact text by
//! every partner of the audience, an amendment accepted after circulation restarting it, and
//! the adopted paper verifying offline; nothing reaches a partner outside the audience.

mod common;

use common::*;
use entente_domain::coord::{AmendmentStatus, NewAmendment, NewPaper, NewSignoff};
use entente_domain::statement::Stance;
use entente_node::NodeError;
use entente_node::statements::verify_statement_export;
use entente_testkit::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paper_is_amended_signed_off_by_every_partner_and_verifies_offline() {
    let c = Cluster::new(&["EU", "NATO", "JPN", "KOR"]).await.unwrap();
    let (eu, nato, jpn, kor) = (c.node("EU"), c.node("NATO"), c.node("JPN"), c.node("KOR"));
    let f = format(
        eu,
        "Transatlantic+ — concepts",
        &["EU", "NATO", "JPN", "KOR"],
    )
    .await;
    c.sync_until_quiet().await;
    let p = eu
        .node
        .draft_paper(
            &eu.admin(),
            NewPaper {
                format_id: f.format_id.clone(),
                title: "Concept for maritime resilience".into(),
                text: "Why this paper.\n\n## Scope\nPorts and ferries.\n\n## Means\nShared ferry tables.\n"
                    .into(),
                co_authors: vec!["JPN".into()],
                releasable_to: Some(vec!["EU".into(), "NATO".into(), "JPN".into()]),
            },
        )
        .await
        .unwrap();
    let id = p.paper_id.clone();
    assert_eq!(p.versions[0].sections.len(), 3);
    c.sync_until_quiet().await;

    // NATO proposes two amendments; only EU, the penholder, decides.
    let amend = |section, text: &str| NewAmendment {
        section,
        text: text.into(),
        reason: "air assets matter".into(),
    };
    let v = nato
        .node
        .propose_amendment(
            &nato.admin(),
            &id,
            amend(2, "Shared ferry tables and air bridges."),
        )
        .await
        .unwrap();
    let a1 = v.paper.amendments[0].amendment_id.clone();
    let v = nato
        .node
        .propose_amendment(&nato.admin(), &id, amend(1, "Everything."))
        .await
        .unwrap();
    let a2 = v
        .paper
        .amendments
        .iter()
        .find(|a| a.text == "Everything.")
        .unwrap()
        .amendment_id
        .clone();
    assert!(
        nato.node
            .propose_amendment(&nato.admin(), &id, amend(9, "x"))
            .await
            .is_err(),
        "no such section"
    );
    c.sync_until_quiet().await;
    assert!(matches!(
        jpn.node
            .decide_amendment(&jpn.admin(), &id, &a1, true, "")
            .await,
        Err(NodeError::Forbidden(_))
    ));
    eu.node
        .decide_amendment(&eu.admin(), &id, &a1, true, "agreed")
        .await
        .unwrap();
    eu.node
        .decide_amendment(&eu.admin(), &id, &a2, false, "too broad")
        .await
        .unwrap();
    c.sync_until_quiet().await;
    for n in [eu, nato, jpn] {
        let v = n.node.paper(&n.admin(), &id).await.unwrap();
        assert_eq!(v.paper.versions.len(), 2, "{}", n.partner);
        assert_eq!(
            v.paper.current().sections[2].text,
            "Shared ferry tables and air bridges."
        );
        let rejected = v
            .paper
            .amendments
            .iter()
            .find(|a| a.amendment_id == a2)
            .unwrap();
        assert_eq!(rejected.status, AmendmentStatus::Rejected);
        assert_eq!(rejected.decision_reason, "too broad");
        assert!(
            v.diff
                .iter()
                .any(|l| l == "+ Shared ferry tables and air bridges."),
            "{:?}",
            v.diff
        );
    }
    assert!(kor.node.paper(&kor.admin(), &id).await.is_err());
    assert!(!contains(&db_bytes(kor), "maritime resilience"));
    assert!(!contains(&db_bytes(kor), "air bridges"));

    // Sign-off: circulated by the penholder, endorsed by all three.
    assert!(matches!(
        nato.node
            .circulate_paper(&nato.admin(), &id, NewSignoff::default())
            .await,
        Err(NodeError::Forbidden(_))
    ));
    let v = eu
        .node
        .circulate_paper(&eu.admin(), &id, NewSignoff::default())
        .await
        .unwrap();
    let st = v.signoff.unwrap().state.statement_id;
    c.sync_until_quiet().await;
    eu.node
        .take_stance(&eu.admin(), &st, 1, Stance::Endorse, "")
        .await
        .unwrap();
    // JPN proposes a late amendment; EU accepts it: the sign-off starts again on version 3.
    let v = jpn
        .node
        .propose_amendment(&jpn.admin(), &id, amend(1, "Ports, ferries and airports."))
        .await
        .unwrap();
    let a3 = v
        .paper
        .amendments
        .iter()
        .find(|a| a.partner.as_str() == "JPN")
        .unwrap()
        .amendment_id
        .clone();
    c.sync_until_quiet().await;
    eu.node
        .decide_amendment(&eu.admin(), &id, &a3, true, "")
        .await
        .unwrap();
    c.sync_until_quiet().await;
    let v = nato.node.paper(&nato.admin(), &id).await.unwrap();
    assert!(!v.adopted);
    let s = v.signoff.unwrap();
    assert_eq!(
        s.state.versions.len(),
        2,
        "the sign-off statement has the new text"
    );
    assert!(
        s.current_stances.iter().all(|(_, st)| st.is_none()),
        "EU's sign-off of the old text no longer counts"
    );
    for n in [eu, nato, jpn] {
        n.node
            .take_stance(&n.admin(), &st, 2, Stance::Endorse, "")
            .await
            .unwrap();
    }
    c.sync_until_quiet().await;
    for n in [eu, nato, jpn] {
        assert!(
            n.node.paper(&n.admin(), &id).await.unwrap().adopted,
            "{}",
            n.partner
        );
    }
    // The adopted paper: its exact text, every signature, verified offline.
    let doc = nato
        .node
        .export_statement(&nato.admin(), &st)
        .await
        .unwrap();
    assert!(doc.text.contains("Ports, ferries and airports.") && doc.text.contains("air bridges"));
    let ok = verify_statement_export(&doc, |p| nato.node.key_of(p)).unwrap();
    assert!(ok.contains("adopted"), "{ok}");
    let mut forged = doc.clone();
    forged.text = forged.text.replace("airports", "seaports");
    assert!(verify_statement_export(&forged, |p| nato.node.key_of(p)).is_err());
}
