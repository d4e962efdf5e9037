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
pub fn depth(text: &[u8]) -> usize {
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
    }
}
