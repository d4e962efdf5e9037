//! Template filters: how values read on screen (times without the machine's milliseconds).
//! Askama finds them by the module name `filters` in the deriving module's scope.

/// An RFC 3339 UTC timestamp as people read it: `2026-12-04 08:32 UTC` (minutes; the signed
/// record keeps milliseconds). Anything else is shown unchanged.
pub fn when<T: std::fmt::Display>(v: T, _: &dyn askama::Values) -> askama::Result<String> {
    Ok(shown_time(&v.to_string()))
}

/// [`when`] for Rust code that builds text for a page.
pub(crate) fn shown_time(raw: &str) -> String {
    let raw = raw.to_owned();
    let shown = time::OffsetDateTime::parse(&raw, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| {
            t.to_offset(time::UtcOffset::UTC)
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute] UTC"
                ))
                .ok()
        });
    shown.unwrap_or(raw)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_timestamp_reads_to_the_minute_in_utc() {
        let v = &();
        assert_eq!(
            super::when("2026-12-04T07:34:37.832Z", v).unwrap(),
            "2026-12-04 07:34 UTC"
        );
        assert_eq!(super::when("2026-12-09", v).unwrap(), "2026-12-09");
    }
}
