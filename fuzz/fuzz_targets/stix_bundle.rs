//! The STIX import path: the streaming bundle scanner cuts objects out of arbitrary bytes,
//! then each object is validated and mapped (TLP, releasability marking). Nothing may panic;
//! what the scanner accepts must be exactly the elements of a JSON bundle's `objects`.
#![no_main]

use entente_domain::stix;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(metas) = entente_node::taxii::parse_bundle(data) {
        // The scanner cut out valid objects, so the whole input must be a bundle serde_json
        // agrees has that many objects.
        let v: serde_json::Value =
            serde_json::from_slice(data).expect("the scanner accepted what is not JSON");
        let n = v["objects"].as_array().map_or(0, Vec::len);
        assert_eq!(
            n,
            metas.len(),
            "scanner and serde_json disagree on the objects"
        );
        for o in v["objects"].as_array().into_iter().flatten() {
            let meta = stix::validate(o).expect("validate_str and validate agree");
            let _ = meta.tlp();
            let _ = stix::audience_of_marking(o);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = stix::validate_str(text);
    }
});
