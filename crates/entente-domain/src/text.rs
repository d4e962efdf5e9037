//! Partner-controlled text made safe to show: characters that reorder or hide what a reader
//! sees (bidirectional overrides, invisible characters, control characters) and escaping for
//! Markdown exports. Pure string functions; HTML escaping itself is the templates' job.

use std::borrow::Cow;

/// A character that can make text display differently from what it says (L4): bidirectional
/// embeddings, overrides, isolates and marks (an RLO shows "DER:PLT" as "TLP:RED"), invisible
/// characters, and control characters other than tab and line breaks. Zero-width (non-)joiners
/// are kept: Persian and Indic scripts need them.
pub fn is_display_hazard(c: char) -> bool {
    matches!(c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
        | '\u{200B}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{180E}' | '\u{00AD}')
        || (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// `s` without [`is_display_hazard`] characters (borrowed when there are none).
pub fn display_safe(s: &str) -> Cow<'_, str> {
    if s.chars().any(is_display_hazard) {
        s.chars()
            .filter(|c| !is_display_hazard(*c))
            .collect::<String>()
            .into()
    } else {
        s.into()
    }
}

/// `s` trimmed and cut to at most `max_chars` characters, with "…" when cut: for text from
/// outside (a provider's message, a claimed name) shown on a page or written to a log.
pub fn cut(s: &str, max_chars: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Partner text for a Markdown document (L5): display hazards removed, HTML and the Markdown
/// characters that make links, images, emphasis, code and tables escaped, and line-leading
/// markers (headings, lists, quotes) escaped, so the text reads as what it says.
pub fn markdown_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut line_start = true;
    for c in display_safe(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '!' | '|' | '~' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '#' | '-' | '+' | '=' if line_start => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
        if c == '\n' {
            line_start = true;
        } else if c != ' ' && c != '\t' {
            line_start = false;
        }
    }
    // A numbered-list marker "12." at a line start: escape its dot.
    out.lines()
        .map(|l| {
            let t = l.trim_start();
            let digits = t.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 && t[digits..].starts_with('.') {
                let at = l.len() - t.len() + digits;
                format!("{}\\{}", &l[..at], &l[at..])
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_and_invisibles_are_removed() {
        let t = "Weekly digest \u{202e}DER:PLT\u{202c} \u{200b}\u{200b}\u{2066}x\x07\x1b[31m";
        assert_eq!(display_safe(t), "Weekly digest DER:PLT x[31m");
        assert!(matches!(display_safe("plain"), Cow::Borrowed(_)));
        assert_eq!(display_safe("a\tb\nc"), "a\tb\nc");
        // Joiners stay (Persian: "می‌خواهم" has a ZWNJ).
        assert_eq!(display_safe("می\u{200c}خواهم"), "می\u{200c}خواهم");
    }

    #[test]
    fn markdown_controls_are_escaped() {
        assert_eq!(
            markdown_escape("[x](javascript:alert(1)) <img src=x> **b**"),
            "\\[x\\]\\(javascript:alert\\(1\\)\\) &lt;img src=x&gt; \\*\\*b\\*\\*"
        );
        assert_eq!(
            markdown_escape("# h\n- item\n1. one\nok-go"),
            "\\# h\n\\- item\n1\\. one\nok-go"
        );
        assert_eq!(markdown_escape("a | b"), "a \\| b");
    }
}
