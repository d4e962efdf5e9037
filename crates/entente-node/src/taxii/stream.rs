//! Streaming bundle splitting: the text of each element of the bundle's `objects` array is cut
//! out of the reader by a byte scanner (brackets and strings only; each object is fully parsed
//! when it is validated), so a bundle of any size is imported in bounded memory at close to
//! the speed of reading it.

use std::io::Read;
use tokio::sync::mpsc::Sender;

type Batches = Sender<Result<Vec<String>, String>>;

/// Split `{"type": "bundle", "objects": [...]}` read from `reader`, sending batches of
/// `batch` object texts; an error is sent as the last message.
pub(super) fn split_bundle<R: Read>(reader: R, batch: usize, tx: &Batches) {
    let mut sink = |objects: Vec<String>| {
        tx.blocking_send(Ok(objects))
            .map_err(|_| "the import stopped".to_owned())
    };
    if let Err(e) = split_into(reader, batch, &mut sink) {
        let _ = tx.blocking_send(Err(e));
    }
}

/// Split a bundle read from `reader`, handing batches of `batch` object texts to `sink`
/// on the calling thread.
pub(super) fn split_into<R: Read>(
    reader: R,
    batch: usize,
    sink: &mut dyn FnMut(Vec<String>) -> Result<(), String>,
) -> Result<(), String> {
    let mut s = Scanner {
        reader,
        buf: Vec::new(),
        pos: 0,
        offset: 0,
        eof: false,
    };
    s.bundle(batch, sink)
        .map_err(|e| format!("not a STIX bundle: {e}"))
}

struct Scanner<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    /// Bytes dropped from the front of `buf` so far (for error positions).
    offset: usize,
    eof: bool,
}

impl<R: Read> Scanner<R> {
    fn fail(&self, what: &str) -> String {
        format!("{what} at byte {}", self.offset + self.pos)
    }

    /// The next byte without consuming it, reading more when needed.
    fn peek(&mut self) -> Result<Option<u8>, String> {
        if self.pos == self.buf.len() && !self.eof {
            // Drop what has been consumed, then read on.
            self.offset += self.pos;
            self.buf.drain(..self.pos);
            self.pos = 0;
            let mut chunk = [0u8; 1 << 16];
            let n = self.reader.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                self.eof = true;
            } else {
                self.buf.extend_from_slice(&chunk[..n]);
            }
        }
        Ok(self.buf.get(self.pos).copied())
    }

    fn next(&mut self) -> Result<u8, String> {
        let b = self
            .peek()?
            .ok_or_else(|| self.fail("unexpected end of file"))?;
        self.pos += 1;
        Ok(b)
    }

    fn skip_ws(&mut self) -> Result<Option<u8>, String> {
        while let Some(b) = self.peek()? {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Ok(Some(b));
            }
            self.pos += 1;
        }
        Ok(None)
    }

    fn expect(&mut self, want: u8) -> Result<(), String> {
        self.skip_ws()?;
        if self.next()? == want {
            Ok(())
        } else {
            Err(self.fail(&format!("expected '{}'", want as char)))
        }
    }

    /// Consume one JSON value and return its text. Containers are matched bracket for
    /// bracket (skipping strings); scalars run to the next delimiter.
    fn value(&mut self) -> Result<Vec<u8>, String> {
        self.skip_ws()?;
        let start = self.pos;
        // Keep the value's bytes in `buf` until it ends: refills must not drop them.
        let mut out = Vec::new();
        let mut depth = 0usize;
        let mut in_str = false;
        let mut esc = false;
        loop {
            if self.pos == self.buf.len() {
                out.extend_from_slice(&self.buf[start.min(self.buf.len())..]);
                // Everything so far is copied out; the refill may drop it.
                self.pos = self.buf.len();
                if self.peek()?.is_none() {
                    if depth == 0 && !in_str && !out.is_empty() {
                        return Ok(out);
                    }
                    return Err(self.fail("unexpected end of file"));
                }
                return self.value_rest(out, depth, in_str, esc);
            }
            if in_str && !esc {
                // Jump over string contents to the next quote or backslash.
                match memchr::memchr2(b'"', b'\\', &self.buf[self.pos..]) {
                    Some(off) => self.pos += off,
                    None => {
                        self.pos = self.buf.len();
                        continue;
                    }
                }
            }
            let b = self.buf[self.pos];
            if let Some(done) = step(b, &mut depth, &mut in_str, &mut esc, start == self.pos) {
                if done {
                    self.pos += 1;
                }
                out.extend_from_slice(&self.buf[start..self.pos]);
                return Ok(out);
            }
            self.pos += 1;
        }
    }

    /// The rest of a value that crossed a refill; `out` holds its start.
    fn value_rest(
        &mut self,
        mut out: Vec<u8>,
        mut depth: usize,
        mut in_str: bool,
        mut esc: bool,
    ) -> Result<Vec<u8>, String> {
        loop {
            let Some(b) = self.peek()? else {
                if depth == 0 && !in_str {
                    return Ok(out);
                }
                return Err(self.fail("unexpected end of file"));
            };
            if let Some(done) = step(b, &mut depth, &mut in_str, &mut esc, out.is_empty()) {
                if done {
                    out.push(b);
                    self.pos += 1;
                }
                return Ok(out);
            }
            out.push(b);
            self.pos += 1;
        }
    }

    /// The envelope around the objects is small: each of its keys and values is checked
    /// as JSON here, so a bundle is accepted only if the whole text is JSON.
    fn bundle(
        &mut self,
        batch: usize,
        sink: &mut dyn FnMut(Vec<String>) -> Result<(), String>,
    ) -> Result<(), String> {
        self.expect(b'{')?;
        let mut is_bundle = false;
        let mut has_objects = false;
        let mut first = true;
        loop {
            match self.skip_ws()? {
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                Some(b',') if !first => self.pos += 1,
                _ if first => {}
                _ => return Err(self.fail("expected ',' or '}'")),
            }
            first = false;
            let key = self.value()?;
            let key: String = serde_json::from_slice(&key)
                .map_err(|e| self.fail(&format!("a key that is not a JSON string ({e})")))?;
            self.expect(b':')?;
            match key.as_str() {
                "objects" if has_objects => return Err(self.fail("a second \"objects\"")),
                "objects" => {
                    has_objects = true;
                    self.objects(batch, sink)?
                }
                "type" if is_bundle => return Err(self.fail("a second \"type\"")),
                "type" => {
                    let t = self.value()?;
                    if t != b"\"bundle\"" {
                        return Err(format!(
                            "type is {}, not \"bundle\"",
                            String::from_utf8_lossy(&t)
                        ));
                    }
                    is_bundle = true;
                }
                _ => {
                    let v = self.value()?;
                    // From a str: skipping a string from bytes does not check its UTF-8.
                    std::str::from_utf8(&v)
                        .map_err(|e| e.to_string())
                        .and_then(|v| {
                            serde_json::from_str::<serde::de::IgnoredAny>(v)
                                .map_err(|e| e.to_string())
                        })
                        .map_err(|e| {
                            self.fail(&format!("the value of {key:?} is not JSON ({e})"))
                        })?;
                }
            }
        }
        if self.skip_ws()?.is_some() {
            return Err(self.fail("trailing characters"));
        }
        if !is_bundle {
            return Err("no \"type\": \"bundle\"".into());
        }
        Ok(())
    }

    fn objects(
        &mut self,
        batch: usize,
        sink: &mut dyn FnMut(Vec<String>) -> Result<(), String>,
    ) -> Result<(), String> {
        self.expect(b'[')?;
        let mut buf = Vec::with_capacity(batch);
        if self.skip_ws()? == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let text = self.value()?;
            let text = String::from_utf8(text).map_err(|_| self.fail("invalid UTF-8"))?;
            buf.push(text);
            if buf.len() == batch {
                let full = std::mem::replace(&mut buf, Vec::with_capacity(batch));
                sink(full)?;
            }
            self.skip_ws()?;
            match self.next()? {
                b',' => continue,
                b']' => break,
                _ => return Err(self.fail("expected ',' or ']'")),
            }
        }
        if !buf.is_empty() {
            sink(buf)?;
        }
        Ok(())
    }
}

/// Advance the value scanner over byte `b`. `Some(true)`: the value ends with `b`;
/// `Some(false)`: it ended just before `b` (a scalar's delimiter); `None`: go on.
fn step(b: u8, depth: &mut usize, in_str: &mut bool, esc: &mut bool, first: bool) -> Option<bool> {
    if *in_str {
        if *esc {
            *esc = false;
        } else if b == b'\\' {
            *esc = true;
        } else if b == b'"' {
            *in_str = false;
            if *depth == 0 {
                return Some(true);
            }
        }
        return None;
    }
    match b {
        b'"' => *in_str = true,
        b'{' | b'[' => *depth += 1,
        b'}' | b']' if *depth > 0 => {
            *depth -= 1;
            if *depth == 0 {
                return Some(true);
            }
        }
        b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r' if *depth == 0 && !first => {
            return Some(false);
        }
        _ => {}
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per call, so every refill path is taken.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), out.first_mut()) {
                (Some((b, rest)), Some(o)) => {
                    *o = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    /// Split `input` (whole and one byte at a time) into batches of 2; both must agree.
    fn check(input: &str, expected: Result<Vec<Vec<&str>>, &str>) {
        for trickle in [false, true] {
            let (tx, mut rx) = tokio::sync::mpsc::channel(100);
            let owned = input.as_bytes().to_vec();
            std::thread::spawn(move || {
                if trickle {
                    split_bundle(Trickle(&owned), 2, &tx)
                } else {
                    split_bundle(owned.as_slice(), 2, &tx)
                }
            })
            .join()
            .expect("splitter");
            let mut got = Vec::new();
            let mut err = None;
            while let Some(m) = rx.blocking_recv() {
                match m {
                    Ok(b) => got.push(b),
                    Err(e) => err = Some(e),
                }
            }
            match (&expected, err) {
                (Ok(want), None) => assert_eq!(&got, want, "{input} (trickle: {trickle})"),
                (Err(want), Some(e)) => assert!(e.contains(want), "{input}: {e}"),
                (want, got_err) => panic!("{input}: wanted {want:?}, error {got_err:?}"),
            }
        }
    }

    #[test]
    fn bundles_split_into_their_objects() {
        check(
            r#"{"type":"bundle","id":"bundle--1","objects":[{"a":1},{"b":"x]}"},{"c":"q\"}{"}]}"#,
            Ok(vec![
                vec![r#"{"a":1}"#, r#"{"b":"x]}"}"#],
                vec![r#"{"c":"q\"}{"}"#],
            ]),
        );
        check(
            " { \"objects\" : [ {\"n\": [1, {\"d\": []}]} ] , \"type\" : \"bundle\" } \n",
            Ok(vec![vec![r#"{"n": [1, {"d": []}]}"#]]),
        );
        check(r#"{"type":"bundle","objects":[]}"#, Ok(vec![]));
        check(r#"{"type":"bundle"}"#, Ok(vec![]));
        // Not objects: passed on as text, refused when validated.
        check(
            r#"{"type":"bundle","objects":[1,"s"]}"#,
            Ok(vec![vec!["1", r#""s""#]]),
        );
    }

    #[test]
    fn broken_bundles_are_refused() {
        check(r#"{"type":"indicator","id":"x"}"#, Err("not \"bundle\""));
        check(r#"{"objects":[{"a":1}]}"#, Err("no \"type\""));
        check(r#"{"type":"bundle","objects":[{"a":1}"#, Err("end of file"));
        check(
            r#"{"type":"bundle","objects":[{"a":1} {"b":2}]}"#,
            Err("expected ','"),
        );
        check(r#"{"type":"bundle","objects":[]} x"#, Err("trailing"));
        check(r#"[{"type":"bundle"}]"#, Err("expected '{'"));
        check("", Err("end of file"));
        // Found by the stix_bundle fuzz target: the envelope's own values were skipped
        // unchecked, so text that is not JSON was accepted as a bundle.
        check(
            "{\"type\":\"bundle\",\"id\":\"bundle--\u{0}\",\"objects\":[]}",
            Err("value of \"id\" is not JSON"),
        );
        check(
            r#"{"type":"bundle","id":tru,"objects":[]}"#,
            Err("value of \"id\" is not JSON"),
        );
        check(r#"{type:"bundle","objects":[]}"#, Err("not a JSON string"));
        // Found by the fuzzer too: invalid UTF-8 inside an envelope string.
        let e = split_into(
            &b"{\"type\":\"bundle\",\"id\":\"b\xcb\",\"objects\":[]}"[..],
            2,
            &mut |_| Ok(()),
        );
        assert!(e.is_err_and(|e| e.contains("value of \"id\" is not JSON")));
        // Two "objects" arrays: a JSON reader would keep only the last; refuse instead.
        check(
            r#"{"type":"bundle","objects":[{"a":1}],"objects":[]}"#,
            Err("a second \"objects\""),
        );
    }
}
