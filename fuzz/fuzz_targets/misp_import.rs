//! MISP import: an event or a galaxy of any shape converts to STIX or fails with a message;
//! every object a conversion produces must pass the same validation as objects from TAXII.
#![no_main]

use entente_domain::{misp, stix};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(conv) = misp::event_to_stix(&doc, &misp::MispOptions::default()) {
        for o in &conv.objects {
            if let Err(e) = stix::validate(o) {
                panic!("MISP conversion produced invalid STIX: {e}: {o}");
            }
        }
    }
    if let Ok(objects) = misp::galaxy_to_stix(&doc) {
        for o in &objects {
            if let Err(e) = stix::validate(o) {
                panic!("galaxy conversion produced invalid STIX: {e}: {o}");
            }
        }
    }
});
