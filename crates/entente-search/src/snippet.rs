//! Snippets: the part of a hit's text around the query's words, with where those words are, so
//! a result list shows why each hit matched. Plain text and byte ranges, never markup: the
//! caller escapes the text and marks the ranges the way its output needs.

use crate::{SearchError, SearchIndex};
use tantivy::snippet::SnippetGenerator;

/// A fragment of a hit's text and the byte ranges in it of the query's words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snippet {
    pub text: String,
    /// Sorted, not overlapping, on character boundaries of `text`.
    pub marks: Vec<(usize, usize)>,
}

impl SearchIndex {
    /// For each of `texts`, at most `max_chars` of it around the best match of `query` (parsed
    /// as [`SearchIndex::search`] parses it, the word being typed as a prefix too, Japanese as
    /// bigrams), with the matched words' ranges. A text that holds none of the words (the hit
    /// matched by its title) gives its beginning, unmarked.
    pub fn snippets(
        &self,
        query: &str,
        texts: &[&str],
        max_chars: usize,
    ) -> Result<Vec<Snippet>, SearchError> {
        let searcher = self.reader.searcher();
        let q = self.text_query(&searcher, query)?;
        let mut generator = SnippetGenerator::create(&searcher, &*q, self.f.text)?;
        generator.set_max_num_chars(max_chars);
        Ok(texts
            .iter()
            .map(|text| {
                let s = generator.snippet(text);
                if s.is_empty() {
                    return Snippet {
                        text: beginning(text, max_chars),
                        marks: vec![],
                    };
                }
                let mut marks: Vec<(usize, usize)> =
                    s.highlighted().iter().map(|r| (r.start, r.end)).collect();
                marks.sort_unstable();
                // Overlapping bigrams of Japanese text mark overlapping ranges: one mark each.
                let mut merged: Vec<(usize, usize)> = Vec::with_capacity(marks.len());
                for (a, b) in marks {
                    match merged.last_mut() {
                        Some(last) if a <= last.1 => last.1 = last.1.max(b),
                        _ => merged.push((a, b)),
                    }
                }
                Snippet {
                    text: s.fragment().to_owned(),
                    marks: merged,
                }
            })
            .collect())
    }
}

/// The first `max_chars` characters of `text`, cut at a space where there is one near the end.
fn beginning(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((cut, _)) => {
            let head = &text[..cut];
            let at = head.rfind(char::is_whitespace).filter(|&i| i > cut / 2);
            format!("{}…", head[..at.unwrap_or(cut)].trim_end())
        }
    }
}
