//! Messages the node and the form handlers produce in English (validation reasons, "not
//! found", "… is required.") shown in the reader's language. The English catalogue's `msg-*`
//! entries are the patterns: a message that matches one, with its `{ $variables }` capturing
//! the runtime parts, is shown as the same key of the reader's catalogue. It owns only this
//! matching; what a message says stays with the code that raises it, so the API keeps its
//! English text and stable codes.
//!
//! Matching text, rather than giving every error a key where it is raised, keeps the domain
//! and node crates free of UI wording; the test `every_error_the_forms_raise_is_translated`
//! catches a new message that no pattern matches.

use crate::i18n::{Lang, catalogue};
use fluent_syntax::ast::{Expression, InlineExpression, PatternElement};
use std::collections::HashMap;
use std::sync::LazyLock;

/// One piece of an English pattern.
#[derive(Debug)]
enum Piece {
    Text(String),
    Var(String),
}

struct Patterns {
    /// (key, pieces) of every `msg-*` entry.
    messages: Vec<(String, Vec<Piece>)>,
    /// English text → key, for every entry without variables (field labels, short words), so
    /// a captured part such as a field's label is translated too.
    plain: HashMap<String, String>,
}

static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    let mut messages = vec![];
    let mut plain = HashMap::new();
    for (key, elements) in catalogue().reference_patterns() {
        let mut pieces = vec![];
        for el in elements {
            match el {
                PatternElement::TextElement { value } => match pieces.last_mut() {
                    Some(Piece::Text(t)) => t.push_str(value),
                    _ => pieces.push(Piece::Text((*value).to_owned())),
                },
                PatternElement::Placeable {
                    expression: Expression::Inline(InlineExpression::VariableReference { id }),
                } => pieces.push(Piece::Var(id.name.to_owned())),
                // Selectors and term references are not patterns a message can match.
                PatternElement::Placeable { .. } => {
                    pieces.clear();
                    break;
                }
            }
        }
        match pieces.as_slice() {
            [] => {}
            [Piece::Text(t)] => {
                plain.entry(t.clone()).or_insert_with(|| key.clone());
                if key.starts_with("msg-") {
                    messages.push((key, pieces));
                }
            }
            _ if key.starts_with("msg-") => messages.push((key, pieces)),
            _ => {}
        }
    }
    Patterns { messages, plain }
});

/// Matches `text` against `pieces`, returning the variables' values. A variable takes the
/// shortest text that lets the rest match (backtracking), and never the empty string.
fn capture<'a>(pieces: &[Piece], text: &'a str, out: &mut Vec<(String, &'a str)>) -> bool {
    match pieces.split_first() {
        None => text.is_empty(),
        Some((Piece::Text(t), rest)) => text
            .strip_prefix(t.as_str())
            .is_some_and(|tail| capture(rest, tail, out)),
        Some((Piece::Var(name), rest)) => {
            for (i, _) in text.char_indices().skip(1).chain([(text.len(), ' ')]) {
                let mark = out.len();
                out.push((name.clone(), &text[..i]));
                if capture(rest, &text[i..], out) {
                    return true;
                }
                out.truncate(mark);
            }
            false
        }
    }
}

impl Lang {
    /// `english` in this language: the catalogue's wording when a `msg-*` pattern (or a plain
    /// entry) matches it, "field: reason" with both parts translated, else `english` as it is
    /// (a message no pattern knows still reads, in English).
    pub fn message(self, english: &str) -> String {
        if self == Lang::default() {
            return english.to_owned();
        }
        self.message_at(english, 2)
    }

    fn message_at(self, english: &str, depth: u8) -> String {
        let p = &*PATTERNS;
        if let Some(key) = p.plain.get(english) {
            return self.t(key);
        }
        for (key, pieces) in &p.messages {
            let mut vars = vec![];
            if pieces.len() > 1 && capture(pieces, english, &mut vars) {
                let args: Vec<(&str, String)> = vars
                    .iter()
                    .map(|(n, v)| {
                        let v = if depth > 0 {
                            self.message_at(v, depth - 1)
                        } else {
                            (*v).to_owned()
                        };
                        (n.as_str(), v)
                    })
                    .collect();
                return self.t_args(key, &args);
            }
        }
        // A domain error reads "field: reason"; the field names a form field.
        if let Some((field, reason)) = english.split_once(": ")
            && !field.is_empty()
            && field
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            let label = self.t_or(&format!("field-{}", field.replace('_', "-")), field);
            let reason = if depth > 0 {
                self.message_at(reason, depth - 1)
            } else {
                reason.to_owned()
            };
            return format!("{label}: {reason}");
        }
        english.to_owned()
    }

    /// Whether some pattern knows `english` (for the tests).
    #[cfg(test)]
    pub fn knows(english: &str) -> bool {
        let ja = Lang::choose(Some("ja"), None);
        ja.message(english) != english
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ja() -> Lang {
        Lang::choose(Some("ja"), None)
    }

    #[test]
    fn variables_capture_the_runtime_parts() {
        let pieces = vec![
            Piece::Var("p".into()),
            Piece::Text(" is not a member of the format".into()),
        ];
        let mut out = vec![];
        assert!(capture(
            &pieces,
            "NATO is not a member of the format",
            &mut out
        ));
        assert_eq!(out, vec![("p".to_owned(), "NATO")]);
        let mut out = vec![];
        assert!(!capture(
            &pieces,
            " is not a member of the format",
            &mut out
        ));
        assert!(!capture(&pieces, "NATO is a member", &mut out));
    }

    #[test]
    fn english_stays_and_japanese_is_matched() {
        assert_eq!(
            Lang::default().message("Title is required."),
            "Title is required."
        );
        let m = ja().message("Title is required.");
        assert!(!m.contains("required"), "{m}");
        let m = ja().message("title: a title of 1 to 300 characters is required");
        assert!(!m.contains("characters"), "{m}");
        // An unknown message reads as it is.
        assert_eq!(ja().message("zz unknown zz"), "zz unknown zz");
    }

    /// Every message the web forms raise themselves, and the node's validation reasons the
    /// forms show most, has a Japanese wording. A new message without one fails here.
    #[test]
    fn every_error_the_forms_raise_is_translated() {
        let samples = [
            "Choose at least one topic.",
            "Name at least one lead partner.",
            "Choose one of the listed statuses.",
            "Choose a severity.",
            "Give the hours allowed for acknowledgement (1 to 720).",
            "The silence procedure needs a deadline.",
            "Deadline: choose a known time zone.",
            "Choose endorse, stand aside or object.",
            "Say why you object.",
            "The version is missing; reload the page.",
            "Give the number of sightings (1 or more).",
            "Tick the box to confirm: a retraction cannot be undone.",
            "The audience or the marking changed after you reviewed it. Check the audience below again, then publish.",
            "Invite at least one partner.",
            "Name at least one participating partner.",
            "Choose one of the listed roles.",
            "Title is required.",
            "A reason is required.",
            "title: a title of 1 to 300 characters is required",
            "unknown partner KOR: not this node's partner and not a configured peer",
            "item not found",
            "Not found",
            "Cannot do that",
        ];
        let missing: Vec<&str> = samples
            .iter()
            .copied()
            .filter(|m| !Lang::knows(m))
            .collect();
        assert!(missing.is_empty(), "no Japanese wording for {missing:#?}");
    }
}
