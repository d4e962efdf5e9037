//! Template filters: how values read on screen (times without the machine's milliseconds).
//! Askama finds them by the module name `filters` in the deriving module's scope.

/// An RFC 3339 UTC timestamp as the reader reads it: in their zone to the minute with UTC
/// beside (`2026-12-05 00:34 JST (2026-12-04 15:34 UTC)`; the signed record keeps
/// milliseconds). Anything else is shown unchanged. Use it as `{{ t|when(ctx) }}`.
pub fn when<T: std::fmt::Display>(
    v: T,
    _: &dyn askama::Values,
    ctx: &crate::Ctx,
) -> askama::Result<String> {
    Ok(ctx.zone.show(&v.to_string()))
}

/// Markdown (an item's body, an alert's text) as HTML that is safe to put in a page: raw HTML
/// in the text is shown as text, never run, and the HTML made from the Markdown is cleaned
/// by ammonia (no scripts, styles, event handlers or `javascript:` links; links get
/// `rel="noopener noreferrer"`). Use it as `{{ text|markdown|safe }}`.
pub fn markdown<T: std::fmt::Display>(v: T, _: &dyn askama::Values) -> askama::Result<String> {
    Ok(markdown_html(&v.to_string()))
}

pub(crate) fn markdown_html(text: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser};
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    // Raw HTML is turned into text before rendering: partners' text is never markup. A line
    // break typed in the text stays a line break (as in the comment boxes people know), not
    // a space: a statement's lines are part of what was signed.
    let events = Parser::new_ext(text, opts).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        Event::SoftBreak => Event::HardBreak,
        e => e,
    });
    let mut html = String::with_capacity(text.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into())
        .link_rel(Some("noopener noreferrer"))
        .clean(&html)
        .to_string()
}

/// How far `deadline` (RFC 3339) is from `now`, in words, and whether it has passed:
/// ("due in 40 min", false), ("overdue by 9 min", true). None if `deadline` is not a time.
pub(crate) fn relative(
    now: time::OffsetDateTime,
    deadline: &str,
    lang: crate::i18n::Lang,
) -> Option<(String, bool)> {
    let at = time::OffsetDateTime::parse(deadline, &time::format_description::well_known::Rfc3339)
        .ok()?;
    let secs = (at - now).whole_seconds();
    let span = span(secs.unsigned_abs(), lang);
    Some(if secs >= 0 {
        (lang.t_args("due-in", &[("span", span)]), false)
    } else {
        (lang.t_args("overdue-by", &[("span", span)]), true)
    })
}

/// A span of seconds as people say it, to the minute below a day: "less than a minute",
/// "40 min", "3 h 5 min", "2 days".
fn span(secs: u64, lang: crate::i18n::Lang) -> String {
    let mins = secs / 60;
    let n = |k: &str, v: u64| lang.t_n(k, v as usize);
    match mins {
        0 => lang.t("span-less-than-a-minute"),
        1..60 => n("span-minutes", mins),
        60..1440 if mins.is_multiple_of(60) => n("span-hours", mins / 60),
        60..1440 => format!(
            "{} {}",
            n("span-hours", mins / 60),
            n("span-minutes", mins % 60)
        ),
        _ => n("span-days", mins / 1440),
    }
}

/// A file size as people read it (`20.0 MB`, `512 KB`, `17 bytes`; decimal units).
pub fn filesize<T: std::fmt::Display>(v: T, _: &dyn askama::Values) -> askama::Result<String> {
    let n: u64 = v.to_string().parse().unwrap_or(0);
    Ok(match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.0} KB", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.2} GB", n as f64 / 1e9),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn markdown_is_rendered_and_nothing_in_it_runs() {
        let h = super::markdown_html(
            "# Brief\n\n**Bold** and a [link](https://example.org).\n\n- one\n- two\n\n\
             <script>alert(1)</script> <img src=x onerror=alert(2)>\n\n[x](javascript:alert(3))",
        );
        assert!(h.contains("<h1>Brief</h1>"), "{h}");
        assert!(h.contains("<strong>Bold</strong>"), "{h}");
        assert!(h.contains("<li>one</li>"), "{h}");
        let h2 = super::markdown_html("first line\nsecond line");
        assert!(h2.contains("first line<br>\nsecond line"), "{h2}");
        assert!(
            h.contains("<a href=\"https://example.org\" rel=\"noopener noreferrer\">link</a>"),
            "{h}"
        );
        // The raw HTML is shown as text, escaped; nothing executable survives.
        assert!(h.contains("&lt;script&gt;"), "{h}");
        assert!(!h.contains("<script"), "{h}");
        assert!(!h.contains("<img"), "{h}");
        assert!(!h.contains("javascript:"), "{h}");
    }

    #[test]
    fn deadlines_read_as_how_far_away_they_are() {
        let now = time::macros::datetime!(2026-12-04 10:00 UTC);
        let r = |d: &str| super::relative(now, d, Default::default()).unwrap();
        assert_eq!(r("2026-12-04T10:40:00Z"), ("due in 40 min".into(), false));
        assert_eq!(
            r("2026-12-04T09:51:00.000Z"),
            ("overdue by 9 min".into(), true)
        );
        assert_eq!(
            r("2026-12-04T13:05:00Z"),
            ("due in 3 h 5 min".into(), false)
        );
        assert_eq!(r("2026-12-04T12:00:00Z"), ("due in 2 h".into(), false));
        assert_eq!(r("2026-12-06T10:00:00Z"), ("due in 2 days".into(), false));
        assert_eq!(r("2026-12-03T09:00:00Z"), ("overdue by 1 day".into(), true));
        assert_eq!(
            r("2026-12-04T10:00:30Z"),
            ("due in less than a minute".into(), false)
        );
        assert_eq!(super::relative(now, "soon", Default::default()), None);
        let ja = crate::i18n::Lang::choose(Some("ja"), None);
        assert_eq!(
            super::relative(now, "2026-12-04T13:05:00Z", ja).unwrap().0,
            "あと 3 時間 5 分"
        );
        assert_eq!(
            super::relative(now, "2026-12-03T09:00:00Z", ja).unwrap().0,
            "期限を 1 日 超過"
        );
    }

    #[test]
    fn a_timestamp_reads_to_the_minute_in_the_readers_zone() {
        let v = &();
        let ctx = crate::Ctx::default();
        assert_eq!(
            super::when("2026-12-04T07:34:37.832Z", v, &ctx).unwrap(),
            "2026-12-04 07:34 UTC"
        );
        assert_eq!(super::when("2026-12-09", v, &ctx).unwrap(), "2026-12-09");
        let ctx = crate::Ctx {
            zone: crate::zone::Zone::named("Asia/Tokyo").unwrap(),
            ..Default::default()
        };
        assert_eq!(
            super::when("2026-12-04T07:34:37.832Z", v, &ctx).unwrap(),
            "2026-12-04 16:34 JST (07:34 UTC)"
        );
    }
}
