//! The sync frame decoder: a page of entries as a peer sends it is decoded, each entry's
//! structure parsed, the page checked as a continuation of a log under the pinned key, and
//! each payload parsed. Nothing may panic, and a page that verifies must verify entry by
//! entry too. Seeds are real pages signed with the fixed key below (`examples/seeds.rs`).
#![no_main]

use entente_domain::Payload;
use entente_log::{LogDescriptor, LogHead, NodeKey, parse_owned, verify_entry, verify_parsed_page};
use entente_wire::EntriesResponse;
use libfuzzer_sys::fuzz_target;

/// The key the seed pages are signed with (a fixed test key; nothing real is signed with it).
pub const SEED_KEY: &str = "0101010101010101010101010101010101010101010101010101010101010101";

fuzz_target!(|data: &[u8]| {
    let Ok(page) = serde_json::from_slice::<EntriesResponse>(data) else {
        return;
    };
    let key = NodeKey::from_seed_hex(SEED_KEY)
        .expect("fixed key")
        .public();
    let mut parsed = Vec::with_capacity(page.entries.len());
    for e in page.entries {
        match parse_owned(e) {
            Ok(p) => parsed.push(p),
            Err(err) => {
                let _ = err.reason();
                return;
            }
        }
    }
    for p in &parsed {
        // The node folds payloads only after verification; the parser must hold either way.
        let _ = Payload::parse(&p.header.kind, p.payload());
        let _ = p.payload_offset();
    }
    let Some(first) = parsed.first() else {
        return;
    };
    let desc = LogDescriptor::new(first.header.origin.clone(), first.header.audience.clone());
    let Some(hash) = first.prev_hash() else {
        return;
    };
    let head = LogHead {
        seq: first.header.seq.saturating_sub(1),
        hash,
    };
    if verify_parsed_page(&desc, head, &parsed, &key).is_ok() {
        let last = parsed.last().expect("non-empty");
        assert!(
            verify_entry(&last.signed(), &key).is_ok(),
            "a page verified whose last entry does not"
        );
    }
});
