//! The word being typed: the last plain word of a query also matches as a prefix, bounded.

use crate::{SearchError, cjk};
use tantivy::Searcher;
use tantivy::Term;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};

/// The most words of the index a typed prefix stands for.
const PREFIX_TERMS: usize = 50;

/// The words tantivy's query grammar reads as operators.
const OPERATORS: [&str; 5] = ["AND", "OR", "NOT", "IN", "TO"];

/// `parsed` (the user's words) with the last word also matching as a prefix, so "Veld"
/// finds "Veldra" while it is being typed. Only for plain words (letters, digits and
/// spaces: query syntax is left as written) of an alphabetic script, 3 characters or more.
/// The prefix stands for at most [`PREFIX_TERMS`] words of the index (the first in order,
/// over every segment), as a bounded OR: a common prefix cannot make one query read the
/// postings of every word it begins.
pub(crate) fn with_prefix(
    field: Field,
    searcher: &Searcher,
    parser: &QueryParser,
    text: &str,
    parsed: Box<dyn Query>,
) -> Result<Box<dyn Query>, SearchError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    // The grammar's operators are words of letters too: a query using them is syntax, left as
    // written (the completions are required beside the other words, which would turn
    // "cyber OR maritime" into "cyber AND maritime*").
    let plain = text
        .chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace())
        && !words.iter().any(|w| OPERATORS.contains(w));
    let Some(last) = words
        .last()
        .filter(|w| plain && w.chars().count() >= 3 && !w.chars().any(cjk::is_cjk))
    else {
        return Ok(parsed);
    };
    let prefix = last.to_lowercase();
    let mut terms = std::collections::BTreeSet::new();
    'segments: for reader in searcher.segment_readers() {
        let dict = reader.inverted_index(field)?;
        let mut stream = dict
            .terms()
            .range()
            .ge(prefix.as_bytes())
            .into_stream()
            .map_err(|e| SearchError::Index(e.into()))?;
        while stream.advance() {
            let key = stream.key();
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            if let Ok(t) = std::str::from_utf8(key) {
                terms.insert(t.to_owned());
                if terms.len() >= PREFIX_TERMS {
                    break 'segments;
                }
            }
        }
    }
    if terms.is_empty() {
        return Ok(parsed);
    }
    // The word as typed (boosted, so that of two otherwise alike documents the one with the
    // word itself ranks first) or any other completion; with the other words required beside
    // it. (The union of "the words as typed" and "the words
    // with a completion" matched the same documents, since the word is its own completion,
    // but read every posting twice.)
    let typed: Box<dyn Query> = Box::new(BoostQuery::new(parser.parse_query_lenient(last).0, 2.0));
    let mut any_completion: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Should, typed)];
    any_completion.extend(terms.iter().filter(|t| **t != prefix).map(|t| {
        let q: Box<dyn Query> = Box::new(TermQuery::new(
            Term::from_field_text(field, t),
            IndexRecordOption::WithFreqs,
        ));
        (Occur::Should, q)
    }));
    let rest = words[..words.len() - 1].join(" ");
    let mut clauses: Vec<(Occur, Box<dyn Query>)> =
        vec![(Occur::Must, Box::new(BooleanQuery::new(any_completion)))];
    if !rest.is_empty() {
        clauses.push((Occur::Must, parser.parse_query_lenient(&rest).0));
    }
    Ok(Box::new(BooleanQuery::new(clauses)))
}
