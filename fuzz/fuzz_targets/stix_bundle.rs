//! The STIX import path: the streaming bundle scanner cuts objects out of arbitrary bytes,
//! then each object is validated and mapped (TLP, releasability marking). Nothing may panic;
//! what the scanner accepts must be JSON, with exactly the objects a JSON reader finds.
#![no_main]

use entente_domain::stix;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::value::RawValue;

/// What a JSON reader makes of a bundle (a second "objects" is an error here too).
#[derive(Deserialize)]
struct Bundle<'a> {
    #[serde(borrow, default)]
    objects: Vec<&'a RawValue>,
}

fuzz_target!(|data: &[u8]| {
    if let Ok(metas) = entente_node::taxii::parse_bundle(data) {
        let b: Bundle<'_> =
            serde_json::from_slice(data).expect("the scanner accepted what is not JSON");
        assert_eq!(
            b.objects.len(),
            metas.len(),
            "scanner and serde_json disagree on the objects"
        );
        for o in &b.objects {
            // Valid JSON need not fit a tree (1e400 is JSON, not an f64): compare where it does.
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(o.get()) {
                let meta = stix::validate(&v).expect("validate_str and validate agree");
                let _ = meta.tlp();
                let _ = stix::audience_of_marking(&v);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = stix::validate_str(text);
    }
});
