//! Near spellings: when the words as typed match nothing, each word of an alphabetic script
//! also matches the index's words one or two edits away ("jaming" finds "jamming"). It owns
//! only building that query; when to use it is the searcher's call.

use crate::cjk;
use tantivy::Term;
use tantivy::query::{BooleanQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};

/// Words shorter than this must match as typed: one edit away from a 3-letter word is most
/// of the dictionary.
const MIN_FUZZY: usize = 4;
/// From this length two edits are allowed ("maritme secuirty"), below it one.
const TWO_EDITS: usize = 8;

/// Every word of `text` (lower-cased) within one or two edits (a transposition counts as
/// one) of a word of the index, all required; None when the text is not plain words of an
/// alphabetic script (query syntax, CJK: bigrams make edits meaningless) or no word is long
/// enough to be misspelt.
pub(crate) fn near_spellings(field: Field, text: &str) -> Option<Box<dyn Query>> {
    let plain = text
        .chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace());
    if !plain || text.chars().any(cjk::is_cjk) {
        return None;
    }
    let words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
    if words.is_empty() || words.iter().all(|w| w.chars().count() < MIN_FUZZY) {
        return None;
    }
    let clauses: Vec<(Occur, Box<dyn Query>)> = words
        .iter()
        .map(|w| {
            let term = Term::from_field_text(field, w);
            let n = w.chars().count();
            let q: Box<dyn Query> = if n < MIN_FUZZY {
                Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
            } else {
                let edits = if n >= TWO_EDITS { 2 } else { 1 };
                Box::new(FuzzyTermQuery::new(term, edits, true))
            };
            (Occur::Must, q)
        })
        .collect();
    Some(Box::new(BooleanQuery::new(clauses)))
}
