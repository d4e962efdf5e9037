//! Joint statements across three nodes: identical state on every node in the audience,
//! nothing outside it, versions void stances, objections block and break silence, silence
//! adopts at the deadline (injected clock), and exports verify offline — or fail when altered.

mod common;

use common::*;
use entente_domain::partner::code;
use entente_domain::statement::{AdoptionRule, Stance, StatementStatus};
use entente_node::clock::ManualClock;
use entente_node::statements::{NewStatement, verify_statement_export};
use entente_testkit::{Cluster, ClusterOptions};
use std::sync::Arc;

async fn cluster(clock: &ManualClock) -> Cluster {
    let opts = ClusterOptions {
        clock: Some(Arc::new(clock.clone())),
        ..Default::default()
    };
    Cluster::with(&["EU", "NATO", "JPN", "KOR"], opts)
        .await
        .unwrap()
}

fn t(s: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanimity_versions_objections_and_offline_verification() {
    let clock = ManualClock::new(t("2026-11-27T09:00:00Z"));
    let c = cluster(&clock).await;
    let (eu, nato, jpn, kor) = (c.node("EU"), c.node("NATO"), c.node("JPN"), c.node("KOR"));
    let f = format(
        eu,
        "Transatlantic+ Japan — non-proliferation",
        &["EU", "NATO", "JPN", "KOR"],
    )
    .await;
    c.sync_until_quiet().await;
    let new = NewStatement {
        format_id: f.format_id.clone(),
        title: "EXERCISE: Joint statement on nuclear non-proliferation".into(),
        text: "We reaffirm our commitment to the NPT.\nWe call on all states to comply.".into(),
        releasable_to: Some(vec!["NATO".into(), "JPN".into()]),
        required: None,
        rule: AdoptionRule::Unanimity,
        deadline: None,
    };
    let v = eu.node.create_statement(&eu.admin(), new).await.unwrap();
    let id = v.state.statement_id.clone();
    c.sync_until_quiet().await;

    // Stances on version 1 from NATO, then a new version voids them.
    nato.node
        .take_stance(&nato.admin(), &id, 1, Stance::Endorse, "")
        .await
        .unwrap();
    eu.node
        .take_stance(&eu.admin(), &id, 1, Stance::Endorse, "")
        .await
        .unwrap();
    c.sync_until_quiet().await;
    let v2 = eu
        .node
        .revise_statement(
            &eu.admin(),
            &id,
            "EXERCISE: Joint statement on nuclear non-proliferation",
            "We reaffirm our commitment to the NPT.\nWe call on all states to comply fully.",
        )
        .await
        .unwrap();
    assert_eq!(
        v2.diff,
        vec![
            "  We reaffirm our commitment to the NPT.",
            "- We call on all states to comply.",
            "+ We call on all states to comply fully."
        ]
    );
    c.sync_until_quiet().await;
    // A stance on the old (or an unknown) version is refused and stores nothing.
    assert!(matches!(
        jpn.node
            .take_stance(&jpn.admin(), &id, 1, Stance::Endorse, "")
            .await,
        Err(entente_node::NodeError::UnknownVersion(1))
    ));
    assert!(matches!(
        jpn.node
            .take_stance(&jpn.admin(), &id, 7, Stance::Endorse, "")
            .await,
        Err(entente_node::NodeError::UnknownVersion(7))
    ));
    assert!(
        jpn.node
            .take_stance(&jpn.admin(), &id, 2, Stance::Object, " ")
            .await
            .is_err(),
        "an objection needs a reason"
    );
    jpn.node
        .take_stance(&jpn.admin(), &id, 2, Stance::Endorse, "")
        .await
        .unwrap();
    eu.node
        .take_stance(&eu.admin(), &id, 2, Stance::Endorse, "")
        .await
        .unwrap();
    c.sync_until_quiet().await;
    assert_eq!(
        eu.node.statement(&eu.admin(), &id).await.unwrap().status,
        StatementStatus::Pending,
        "NATO's v1 endorsement does not count for v2"
    );

    // NATO objects: blocked everywhere; then endorses: adopted everywhere, identically.
    nato.node
        .take_stance(
            &nato.admin(),
            &id,
            2,
            Stance::Object,
            "wording on compliance",
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;
    for n in [eu, nato, jpn] {
        assert_eq!(
            n.node.statement(&n.admin(), &id).await.unwrap().status,
            StatementStatus::Blocked {
                by: vec![code("NATO")]
            }
        );
    }
    nato.node
        .take_stance(&nato.admin(), &id, 2, Stance::Endorse, "")
        .await
        .unwrap();
    c.sync_until_quiet().await;
    let states: Vec<_> = [eu, nato, jpn]
        .iter()
        .map(|n| n.node.store().clone())
        .collect();
    let mut seen = vec![];
    for s in states {
        seen.push(s.statement(&id).await.unwrap().unwrap());
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "every node in the audience computes the same state"
    );
    assert!(matches!(
        eu.node.statement(&eu.admin(), &id).await.unwrap().status,
        StatementStatus::Adopted { .. }
    ));
    // KOR, a member of the format but not of the statement's audience, holds nothing of it.
    assert!(kor.node.store().statement(&id).await.unwrap().is_none());
    assert!(kor.node.statements(&kor.admin()).await.unwrap().is_empty());
    assert!(!contains(&db_bytes(kor), &id));
    // A non-required partner cannot take a stance.
    assert!(
        kor.node
            .take_stance(&kor.admin(), &id, 2, Stance::Endorse, "")
            .await
            .is_err()
    );

    // Export verifies offline against pinned keys (JPN's pins); altered, it fails clearly.
    let doc = eu.node.export_statement(&eu.admin(), &id).await.unwrap();
    assert_eq!(doc.stances.len(), 3);
    let ok = verify_statement_export(&doc, |p| jpn.node.key_of(p)).unwrap();
    assert!(ok.contains("4 signatures verified"), "{ok}");
    let mut tampered = doc.clone();
    tampered.text = tampered.text.replace("fully", "partly");
    let err = verify_statement_export(&tampered, |p| jpn.node.key_of(p)).unwrap_err();
    assert!(err.contains("altered"), "{err}");
    let mut forged = doc.clone();
    forged.stances[0].sig = forged.stances[1].sig.clone();
    assert!(verify_statement_export(&forged, |p| jpn.node.key_of(p)).is_err());
    let mut short = doc.clone();
    short.stances.pop();
    assert!(
        verify_statement_export(&short, |p| jpn.node.key_of(p))
            .unwrap_err()
            .contains("do not adopt")
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_adopts_at_the_deadline_unless_someone_objects() {
    let clock = ManualClock::new(t("2026-11-27T09:00:00Z"));
    let c = cluster(&clock).await;
    let (eu, nato, jpn) = (c.node("EU"), c.node("NATO"), c.node("JPN"));
    let f = format(eu, "F", &["EU", "NATO", "JPN"]).await;
    c.sync_until_quiet().await;
    let mk = |title: &str| NewStatement {
        format_id: f.format_id.clone(),
        title: title.into(),
        text: "Text under silence procedure.".into(),
        releasable_to: None,
        required: None,
        rule: AdoptionRule::Silence,
        deadline: Some("2026-11-28T12:00:00.000Z".into()),
    };
    let quiet = eu
        .node
        .create_statement(&eu.admin(), mk("quiet"))
        .await
        .unwrap()
        .state
        .statement_id;
    let broken = eu
        .node
        .create_statement(&eu.admin(), mk("broken"))
        .await
        .unwrap()
        .state
        .statement_id;
    c.sync_until_quiet().await;
    nato.node
        .take_stance(&nato.admin(), &quiet, 1, Stance::StandAside, "")
        .await
        .unwrap();
    jpn.node
        .take_stance(
            &jpn.admin(),
            &broken,
            1,
            Stance::Object,
            "not agreed at capital level",
        )
        .await
        .unwrap();
    c.sync_until_quiet().await;
    for n in [eu, nato, jpn] {
        assert_eq!(
            n.node.statement(&n.admin(), &quiet).await.unwrap().status,
            StatementStatus::Pending
        );
    }
    clock.set(t("2026-11-28T12:00:01Z"));
    for n in [eu, nato, jpn] {
        assert_eq!(
            n.node.statement(&n.admin(), &quiet).await.unwrap().status,
            StatementStatus::Adopted {
                at: "2026-11-28T12:00:00.000Z".into()
            }
        );
        assert_eq!(
            n.node.statement(&n.admin(), &broken).await.unwrap().status,
            StatementStatus::Blocked {
                by: vec![code("JPN")]
            }
        );
    }
    let doc = eu.node.export_statement(&eu.admin(), &quiet).await.unwrap();
    assert!(
        verify_statement_export(&doc, |p| nato.node.key_of(p))
            .unwrap()
            .contains("silence procedure")
    );
    assert!(
        eu.node
            .export_statement(&eu.admin(), &broken)
            .await
            .is_err()
    );
    c.stop().await;
}
