//! Limits on JSON shape that typed parsing alone does not give: skipping an unknown value or
//! holding one as raw text is iterative in serde_json, so any depth passes through it, while a
//! JSON tree (`Value`) stops at 128 levels. Content that may later become a tree is held to one
//! explicit limit here, so every path accepts and refuses the same texts.

/// Deepest nesting of a STIX object (the object itself is level 1).
pub const MAX_OBJECT_DEPTH: usize = 100;

/// Deepest nesting of an entry's payload: a STIX object sits two levels inside its payload.
pub const MAX_PAYLOAD_DEPTH: usize = 128;

/// How deeply arrays and objects nest in `text` (0 for a scalar). Strings are skipped, so
/// brackets inside them do not count. Does not check that the text is JSON.
///
/// Every STIX object is measured when it is validated, every payload when it is signed and
/// again when it is received, and most of their bytes are string contents: those are skipped
/// with `memchr` (vectorised) to the next quote or backslash instead of byte by byte.
pub fn depth(text: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                // Skip the string: to its closing quote, stepping over escaped characters.
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &text[i.min(text.len())..]) {
                        // Unterminated: nothing after it counts.
                        None => return max,
                        Some(k) if text[i + k] == b'\\' => i += k + 2,
                        Some(k) => {
                            i += k + 1;
                            break;
                        }
                    }
                }
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    max
}

/// The depth of a parsed JSON tree, by the same count as [`depth`].
pub fn value_depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(value_depth).max().unwrap_or(0),
        serde_json::Value::Object(o) => 1 + o.values().map(value_depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: usize) {
        assert_eq!(depth(text.as_bytes()), expected, "{text}");
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            assert_eq!(value_depth(&v), expected, "tree of {text}");
        }
    }

    #[test]
    fn depth_counts_brackets_outside_strings() {
        check("1", 0);
        check(r#""[[[""#, 0);
        check("[]", 1);
        check(r#"{"a":[1,{"b":"]]}\"[["}],"c":{}}"#, 3);
        check(r#"[[[]],[]]"#, 3);
        check(&format!("{}{}", "[".repeat(500), "]".repeat(500)), 500);
        // Escapes: an escaped quote does not end a string, an escaped backslash does not
        // escape the quote after it, and text that ends inside a string or an escape is read
        // up to there.
        check(r#"["\"[[["]"#, 1);
        check(r#"["\\\\",[[]]]"#, 3);
        check(r#"[["abc"#, 2);
        check(r#"[["abc\"#, 2);
        check(r#"[["abc\\"#, 2);
    }

    /// The byte-by-byte reading `depth` replaced: the same count on any input.
    fn depth_reference(text: &[u8]) -> usize {
        let (mut depth, mut max) = (0usize, 0usize);
        let (mut in_str, mut esc) = (false, false);
        for &b in text {
            if in_str {
                if esc {
                    esc = false;
                } else if b == b'\\' {
                    esc = true;
                } else if b == b'"' {
                    in_str = false;
                }
                continue;
            }
            match b {
                b'"' => in_str = true,
                b'[' | b'{' => {
                    depth += 1;
                    max = max.max(depth);
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        max
    }

    proptest::proptest! {
        /// Random texts over the characters that matter (and some that do not), arbitrary
        /// bytes too: the same depth as the reference.
        #[test]
        fn depth_is_the_reference_reading(
            text in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(b"[]{}\"\\\\a, :".to_vec()),
                    proptest::num::u8::ANY,
                ],
                0..200,
            )
        ) {
            proptest::prop_assert_eq!(depth(&text), depth_reference(&text));
        }
    }
}
