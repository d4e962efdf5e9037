//! Conformance: the network counts follow the items a backend stores (new items, revisions that
//! move topics or the marking, retractions, several in one run) and a read filters by topic and
//! day; the oracle is the counts recomputed from every stored item.

use super::{aud, entries, item};
use crate::counts::{NetworkCount, count_all};
use crate::*;
use entente_log::NodeKey;

/// The counts computed afresh from every stored item, as a read of `network_counts` returns them.
async fn oracle(
    store: &dyn Store,
    topic: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
) -> Vec<NetworkCount> {
    let all = store
        .items(&ItemQuery {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut out: Vec<NetworkCount> = count_all(&all)
        .into_iter()
        .filter(|(k, _)| k.topic == topic.unwrap_or(""))
        .filter(|(k, _)| since.is_none_or(|s| k.day.as_str() >= s))
        .filter(|(k, _)| until.is_none_or(|u| k.day.as_str() < u))
        .map(|(k, n)| crate::counts::decode_row(k.day.clone(), &k.audience, &k.readers, n).unwrap())
        .collect();
    out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    out
}

async fn read(
    store: &dyn Store,
    topic: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
) -> Vec<NetworkCount> {
    let mut got = store.network_counts(topic, since, until).await.unwrap();
    got.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    got
}

/// The counts a backend reads equal the counts recomputed from its items, for several topics
/// and day filters (also used by each backend's test of the migration that fills them).
pub async fn counts_match_items(store: &dyn Store, what: &str) {
    for topic in [
        None,
        Some("hybrid-threats"),
        Some("cybercrime"),
        Some("space"),
    ] {
        for (since, until) in [
            (None, None),
            (Some("2026-11-01"), None),
            (None, Some("2026-11")),
            (Some("2026"), Some("2026-11-02")),
        ] {
            assert_eq!(
                read(store, topic, since, until).await,
                oracle(store, topic, since, until).await,
                "{what}: topic {topic:?}, since {since:?}, until {until:?}"
            );
        }
    }
}

pub async fn network_counts_follow_items(store: &dyn Store) {
    let key = NodeKey::generate().expect("key");
    let (a3, a2) = (aud(&["EU", "JPN", "NATO"]), aud(&["EU", "JPN"]));
    let d = LogDescriptor::new(entente_domain::partner::code("EU"), a3.clone());
    let day = |it: &mut ItemState, d: &str| it.created_at = format!("{d}T10:00:00Z");
    let mut i1 = item(
        "n1",
        "f",
        &a3,
        ItemKind::Report,
        &["hybrid-threats"],
        Tlp::Green,
    );
    day(&mut i1, "2026-10-31");
    let mut i2 = item(
        "n2",
        "f",
        &a2,
        ItemKind::Note,
        &["hybrid-threats", "cybercrime"],
        Tlp::Amber,
    );
    day(&mut i2, "2026-11-01");
    let mut i3 = item("n3", "f", &a2, ItemKind::Note, &["cybercrime"], Tlp::Red);
    i3.named_users = vec!["kenji@JPN".into()];
    day(&mut i3, "2026-11-01");
    // What a hostile peer may sign: a RED item naming thousands of bytes of readers, a topic
    // outside the taxonomy of thousands of bytes, a creation time that is not ASCII. Every part
    // of a counted key stays bounded, so the item is stored (PostgreSQL refuses index entries
    // over ~2.7 kB), and the unknown topic counts only among all items.
    let mut i5 = item("n5", "f", &a2, ItemKind::Note, &["space"], Tlp::Red);
    // Hex of hashes: PostgreSQL compresses a repetitive value below its index limit.
    let noise = |i: usize| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(i.to_le_bytes()));
    i5.topics.push((0..80).map(noise).collect());
    i5.topics.push("gossip".into());
    i5.named_users = (0..300).map(|i| format!("{}@JPN", noise(i))).collect();
    i5.created_at = format!("２０２６-{}", "é".repeat(2000));
    let es = entries(&key, "EU", &a3, LogHead::EMPTY, 3);
    let run1: Vec<Projection> = [&i1, &i2, &i3, &i5]
        .into_iter()
        .map(|i| Projection::Item(i.clone()))
        .collect();
    store.append(&d, LogHead::EMPTY, &es, &run1).await.unwrap();
    counts_match_items(store, "after the first run").await;
    let all = read(store, None, None, None).await;
    assert_eq!(all.iter().map(|c| c.n).sum::<u64>(), 4);
    assert!(all.iter().all(|c| c.day.len() <= 10));
    assert_eq!(
        read(store, Some("space"), None, None).await.len(),
        1,
        "the hostile item under its taxonomy topic"
    );
    assert!(read(store, Some("gossip"), None, None).await.is_empty());
    assert!(
        all.iter()
            .any(|c| c.readers == Some(vec!["alice@EU".into(), "kenji@JPN".into()]))
    );

    // One run: a revision moving i1's topic, i2 marked RED by a revision and retracted (one
    // state, as a fold projects an item's last state of a run), and a new item.
    let mut r1 = i1.clone();
    r1.revision = 2;
    r1.topics = vec!["cybercrime".into()];
    let mut r2 = i2.clone();
    r2.revision = 2;
    r2.tlp = Tlp::Red;
    r2.retracted = Some(entente_domain::item::Retraction {
        reason: "wrong".into(),
        at: "2026-11-02T00:00:00Z".into(),
        by: "alice@EU".into(),
    });
    let mut i4 = item(
        "n4",
        "f",
        &a3,
        ItemKind::Report,
        &["hybrid-threats"],
        Tlp::Clear,
    );
    day(&mut i4, "2026-11-02");
    let head = LogHead {
        seq: 3,
        hash: es[2].hash,
    };
    let es2 = entries(&key, "EU", &a3, head, 1);
    store
        .append(&d, head, &es2, &[r1, r2, i4].map(Projection::Item))
        .await
        .unwrap();
    counts_match_items(store, "after revisions and a retraction").await;
    assert!(
        read(store, Some("hybrid-threats"), None, Some("2026-11-01"))
            .await
            .is_empty(),
        "i1 left the topic: its count is gone, not left at zero"
    );
    assert_eq!(
        read(store, None, None, None)
            .await
            .iter()
            .map(|c| c.n)
            .sum::<u64>(),
        5
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{aud, item};
    use crate::counts::{count_all, count_changes};
    use entente_domain::ItemKind;
    use std::collections::{BTreeMap, HashMap};

    /// Two states of one item in a run (a revision over a stored state, then another): only the
    /// last counts, and what the stored state counted is taken away once.
    #[test]
    fn only_the_last_state_of_an_item_in_a_run_counts() {
        let a = aud(&["EU", "JPN"]);
        let old = item(
            "x",
            "f",
            &a,
            ItemKind::Note,
            &["hybrid-threats"],
            Tlp::Green,
        );
        let mut r2 = old.clone();
        r2.revision = 2;
        r2.topics = vec!["energy".into()];
        let mut r3 = r2.clone();
        r3.revision = 3;
        r3.topics = vec!["cybercrime".into(), "cybercrime".into()];
        let stored = HashMap::from([("x".to_owned(), old.clone())]);
        let change = count_changes(&stored, [&r2, &r3]);
        let by_topic: BTreeMap<&str, i64> =
            change.iter().map(|(k, n)| (k.topic.as_str(), *n)).collect();
        assert_eq!(
            by_topic,
            BTreeMap::from([("cybercrime", 1), ("hybrid-threats", -1)])
        );
        // Every item once, and a topic named twice once.
        let mut other = r3.clone();
        other.item_id = "y".into();
        assert_eq!(count_all([&old, &other]).values().sum::<i64>(), 4);
    }
}
