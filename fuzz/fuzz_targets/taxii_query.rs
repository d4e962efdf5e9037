//! TAXII query parsing: any query string parses into a filter or a clear error, and checking
//! the filter (limits, timestamps, versions, types) never panics.
#![no_main]

use entente_node::taxii::{MAX_PAGE, TaxiiFilter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = TaxiiFilter::parse_query(q)
        && let Ok(c) = f.check()
    {
        assert!(c.limit >= 1 && c.limit <= MAX_PAGE);
        assert!(c.types.iter().all(|t| !t.is_empty()));
    }
});
