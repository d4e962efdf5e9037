//! Writes the seed pages of the `sync_page` target: every (kind, payload) pair of
//! `seed-payloads.json` (payloads taken from a run of `entente demo`), signed with the
//! target's fixed key into pages of one to four entries.
//! Run: `cargo run --manifest-path fuzz/Cargo.toml --example seeds`.

use entente_domain::Audience;
use entente_domain::partner::code;
use entente_log::{LogHead, NodeKey, sign_entry};
use entente_node::fed::EntriesResponse;

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let pairs: Vec<(String, String)> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("seed-payloads.json")).unwrap())
            .unwrap();
    let key =
        NodeKey::from_seed_hex("0101010101010101010101010101010101010101010101010101010101010101")
            .unwrap();
    let eu = code("EU");
    let aud = Audience::new([code("EU"), code("JPN")]).unwrap();
    let out = dir.join("seeds/sync_page");
    std::fs::create_dir_all(&out).unwrap();
    let mut head = LogHead::EMPTY;
    let mut entries = Vec::new();
    let mut written = 0;
    for (i, (kind, payload)) in pairs.iter().enumerate() {
        let e = sign_entry(
            &key,
            &eu,
            &aud,
            head,
            "2026-11-27T00:00:00.000Z",
            kind,
            payload,
        )
        .unwrap();
        head = LogHead {
            seq: e.header.seq,
            hash: e.hash,
        };
        entries.push(e.signed());
        if entries.len() == 1 + written % 4 || i + 1 == pairs.len() {
            let page = EntriesResponse {
                log_id: entente_log::log_id(&eu, &aud),
                entries: std::mem::take(&mut entries),
            };
            std::fs::write(
                out.join(format!("page-{written:03}.json")),
                serde_json::to_vec(&page).unwrap(),
            )
            .unwrap();
            written += 1;
        }
    }
    println!("{written} pages written to {}", out.display());
}
