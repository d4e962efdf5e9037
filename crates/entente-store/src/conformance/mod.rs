//! The conformance suite: behaviour every `Store` backend must show. Each backend runs it with
//! [`conformance_tests!`](crate::conformance_tests), one test per check on a fresh, empty store
//! (a failing check no longer hides the others). A new check is a `pub async fn` here and a
//! name in the macro's list.

use crate::*;
use entente_domain::partner::code;
use entente_log::{LogHead, NodeKey, sign_entry};

pub(crate) fn aud(codes: &[&str]) -> Audience {
    Audience::new(codes.iter().map(|c| code(c))).expect("non-empty")
}

pub(crate) fn entries(
    key: &NodeKey,
    origin: &str,
    a: &Audience,
    from: LogHead,
    n: u64,
) -> Vec<ParsedEntry> {
    let mut head = from;
    (0..n)
        .map(|i| {
            let e = sign_entry(
                key,
                &code(origin),
                a,
                head,
                "2026-11-27T00:00:00Z",
                "test",
                &format!("{{\"n\":{i}}}"),
            )
            .expect("sign");
            head = LogHead {
                seq: e.header.seq,
                hash: e.hash,
            };
            e
        })
        .collect()
}

pub(crate) fn item(
    id: &str,
    format: &str,
    a: &Audience,
    kind: ItemKind,
    topics: &[&str],
    tlp: Tlp,
) -> ItemState {
    ItemState {
        released_from: None,
        item_id: id.into(),
        format_id: format.into(),
        origin: code("EU"),
        audience: a.clone(),
        log_id: entente_log::log_id(&code("EU"), a),
        kind,
        title: format!("title {id}"),
        body: "body".into(),
        topics: topics.iter().map(|t| t.to_string()).collect(),
        tlp,
        named_users: vec![],
        author: "alice@EU".into(),
        revision: 1,
        created_at: "2026-11-27T00:00:00Z".into(),
        updated_at: format!("2026-11-27T00:00:0{}Z", id.len() % 10),
        retracted: None,
        revised_by: None,
        attachments: vec![],
    }
}

mod audit;
mod blobs;
mod counts;
mod logs;
mod notify;
mod stix;

pub use audit::*;
pub use blobs::*;
pub use counts::*;
pub use logs::*;
pub use notify::*;
pub use stix::*;

/// One `#[tokio::test]` per conformance check. `$fresh` is an expression giving a future of an
/// `Option` of something that dereferences to a store (`None`: the backend is not available
/// here, e.g. no PostgreSQL URL, and the test says so and passes).
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:expr) => {
        $crate::conformance_tests!(@each $fresh; claim_partner, append_and_read, head_moved_changes_nothing, projections_and_queries, forks, witnesses, peers, users_and_tokens, stix, stix_spans, stix_ownership, notification_outbox, notify_cursors, blobs_in_chunks, referenced_blobs_are_missing_until_complete, held_blobs_flagged_later, abandoned_uploads_dropped, cut_off_uploads_dropped, audit_runs, network_counts_follow_items);
    };
    (@each $fresh:expr; $($check:ident),*) => {
        $(
            #[tokio::test]
            async fn $check() {
                let Some(store) = $fresh.await else { return };
                $crate::conformance::$check(&*store).await;
            }
        )*
    };
}
