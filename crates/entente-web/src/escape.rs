//! The templates' HTML escaper: what askama's does, and it also drops the characters that can
//! make partner text display as something else (bidirectional overrides, invisible and control
//! characters; L4), so no page shows "TLP:RED" inside a TLP:GREEN item's title.

use std::fmt::{self, Write};

#[derive(Debug, Clone, Copy, Default)]
pub struct SafeHtml;

impl askama::filters::Escaper for SafeHtml {
    fn write_escaped_str<W: Write>(&self, mut dest: W, string: &str) -> fmt::Result {
        for c in string.chars() {
            self.write_escaped_char(&mut dest, c)?;
        }
        Ok(())
    }

    fn write_escaped_char<W: Write>(&self, mut dest: W, c: char) -> fmt::Result {
        match c {
            // The same entities askama's own escaper writes.
            '&' => dest.write_str("&#38;"),
            '<' => dest.write_str("&#60;"),
            '>' => dest.write_str("&#62;"),
            '"' => dest.write_str("&#34;"),
            '\'' => dest.write_str("&#39;"),
            c if entente_domain::text::is_display_hazard(c) => Ok(()),
            c => dest.write_char(c),
        }
    }
}

/// `s` escaped for a page built outside the templates (an attribute or text).
pub(crate) fn attr(s: &str) -> String {
    use askama::filters::Escaper;
    let mut out = String::with_capacity(s.len());
    // Writing to a String cannot fail.
    let _ = SafeHtml.write_escaped_str(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use askama::filters::Escaper;

    #[test]
    fn escapes_html_and_drops_display_hazards() {
        let mut s = String::new();
        super::SafeHtml
            .write_escaped_str(&mut s, "<b>\"x\" & 'y'</b> \u{202e}DER:PLT\u{202c}\u{200b}")
            .unwrap();
        assert_eq!(
            s,
            "&#60;b&#62;&#34;x&#34; &#38; &#39;y&#39;&#60;/b&#62; DER:PLT"
        );
    }
}
