//! The full-text search index (tantivy): documents with their reader tokens, queries filtered
//! to a viewer's tokens, facet counts. It knows nothing of policy, entries or storage: callers
//! hand it documents whose reader tokens they computed with the policy module, and the viewer's
//! tokens to filter by, so every hit and every count is already within the viewer's view.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use tantivy::collector::{Count, FacetCollector, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    FacetOptions, Field, IndexRecordOption, STORED, STRING, Schema, TEXT, TantivyDocument, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Term, doc};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    Dir(String),
}

/// The facet dimensions a result list is counted and filtered by.
pub const DIMENSIONS: [&str; 6] = ["format", "topic", "partner", "kind", "tlp", "period"];

/// One searchable thing (an item, a STIX object, an action, a statement).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchDoc {
    /// Unique across kinds: `item:<id>`, `stix:<collection>/<id>`, `action:<id>` …
    pub id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    /// Who may see it (`policy::reader_tokens`); a document without readers is never found.
    pub readers: Vec<String>,
    pub format: String,
    pub topics: Vec<String>,
    /// The originating partner.
    pub partner: String,
    pub tlp: String,
    /// `YYYY-MM`.
    pub period: String,
}

#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: String,
    /// The viewer's tokens (`policy::viewer_tokens`): only documents listing one are matched.
    pub viewer: Vec<String>,
    /// (dimension, value) pairs, all of which must hold.
    pub filters: Vec<(String, String)>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub score: f32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchResults {
    /// Matching documents the viewer may see.
    pub total: usize,
    pub hits: Vec<Hit>,
    /// Per dimension: (value, count) over the same matches, most frequent first.
    pub facets: BTreeMap<String, Vec<(String, u64)>>,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    kind: Field,
    title: Field,
    body: Field,
    readers: Field,
    facets: Field,
}

/// An open index. Writes are buffered until [`SearchIndex::commit`], which makes them visible
/// to searches and records the caller's watermark with them.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    f: Fields,
    dir: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SearchIndex({:?})", self.dir)
    }
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let f = Fields {
        id: b.add_text_field("id", STRING | STORED),
        kind: b.add_text_field("kind", STRING | STORED),
        title: b.add_text_field("title", TEXT | STORED),
        body: b.add_text_field("body", TEXT),
        readers: b.add_text_field("readers", STRING),
        facets: b.add_facet_field("facets", FacetOptions::default()),
    };
    (b.build(), f)
}

/// A facet path segment may not contain '/'; values that could are escaped.
fn facet(dim: &str, value: &str) -> tantivy::schema::Facet {
    tantivy::schema::Facet::from_path([dim, &value.replace('/', "\u{2215}")])
}

impl SearchIndex {
    /// Open the index in `dir`, creating it (empty, watermark 0) if there is none.
    pub fn open(dir: &Path, threads: usize) -> Result<SearchIndex, SearchError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| SearchError::Dir(format!("{}: {e}", dir.display())))?;
        let (schema, f) = schema();
        let mmap = tantivy::directory::MmapDirectory::open(dir)
            .map_err(|e| SearchError::Dir(format!("{}: {e}", dir.display())))?;
        let index = Index::open_or_create(mmap, schema)?;
        Self::with(index, f, threads, Some(dir.to_owned()))
    }

    /// An index in memory (tests).
    pub fn in_ram() -> Result<SearchIndex, SearchError> {
        let (schema, f) = schema();
        Self::with(Index::create_in_ram(schema), f, 1, None)
    }

    fn with(
        index: Index,
        f: Fields,
        threads: usize,
        dir: Option<std::path::PathBuf>,
    ) -> Result<SearchIndex, SearchError> {
        let threads = threads.max(1);
        let writer = index.writer_with_num_threads(threads, threads * 40_000_000)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            writer: Mutex::new(writer),
            f,
            dir,
        })
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        // A panic while holding the writer leaves nothing half-written that a later commit
        // would publish (tantivy's operations are queued whole), so a poisoned lock is usable.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add or replace documents (by id). Not visible until the next commit.
    pub fn upsert(&self, docs: &[SearchDoc]) -> Result<(), SearchError> {
        let w = self.writer();
        for d in docs {
            w.delete_term(Term::from_field_text(self.f.id, &d.id));
            if d.readers.is_empty() {
                continue;
            }
            let mut td = doc!(
                self.f.id => d.id.as_str(),
                self.f.kind => d.kind.as_str(),
                self.f.title => d.title.as_str(),
                self.f.body => d.body.as_str(),
            );
            for r in &d.readers {
                td.add_text(self.f.readers, r);
            }
            td.add_facet(self.f.facets, facet("format", &d.format));
            for t in &d.topics {
                td.add_facet(self.f.facets, facet("topic", t));
            }
            td.add_facet(self.f.facets, facet("partner", &d.partner));
            td.add_facet(self.f.facets, facet("kind", &d.kind));
            td.add_facet(self.f.facets, facet("tlp", &d.tlp));
            td.add_facet(self.f.facets, facet("period", &d.period));
            w.add_document(td)?;
        }
        Ok(())
    }

    /// Remove documents by id. Not visible until the next commit.
    pub fn delete(&self, ids: &[String]) {
        let w = self.writer();
        for id in ids {
            w.delete_term(Term::from_field_text(self.f.id, id));
        }
    }

    /// Remove everything (a rebuild starts with this). Not visible until the next commit.
    pub fn clear(&self) -> Result<(), SearchError> {
        self.writer().delete_all_documents()?;
        Ok(())
    }

    /// Make every write so far durable and visible, recording `watermark` with them.
    pub fn commit(&self, watermark: u64) -> Result<(), SearchError> {
        {
            let mut w = self.writer();
            let mut prepared = w.prepare_commit()?;
            prepared.set_payload(&watermark.to_string());
            prepared.commit()?;
        }
        self.reader.reload()?;
        Ok(())
    }

    /// The watermark of the last commit (0 for a new index).
    pub fn watermark(&self) -> Result<u64, SearchError> {
        let metas = self.index.load_metas()?;
        Ok(metas.payload.and_then(|p| p.parse().ok()).unwrap_or(0))
    }

    /// Documents visible to searches (every reader).
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Bytes the index occupies on disk (0 in memory).
    pub fn size_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        }
        self.dir.as_deref().map(walk).unwrap_or(0)
    }

    /// Matches for the query among documents the viewer may see, with facet counts over them.
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResults, SearchError> {
        let searcher = self.reader.searcher();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        // The viewer filter comes first and is never optional: no tokens, no matches.
        let readers: Vec<(Occur, Box<dyn Query>)> = q
            .viewer
            .iter()
            .map(|t| {
                let tq: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(self.f.readers, t),
                    IndexRecordOption::Basic,
                ));
                (Occur::Should, tq)
            })
            .collect();
        if readers.is_empty() {
            return Ok(SearchResults {
                facets: DIMENSIONS.map(|d| (d.to_owned(), vec![])).into(),
                ..Default::default()
            });
        }
        clauses.push((Occur::Must, Box::new(BooleanQuery::new(readers))));
        if !q.text.trim().is_empty() {
            let mut parser = QueryParser::for_index(&self.index, vec![self.f.title, self.f.body]);
            parser.set_conjunction_by_default();
            parser.set_field_boost(self.f.title, 2.0);
            // Lenient: user input with stray syntax is searched as words, never an error.
            let (text_q, _errors) = parser.parse_query_lenient(&q.text);
            clauses.push((Occur::Must, text_q));
        }
        for (dim, value) in &q.filters {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_facet(self.f.facets, &facet(dim, value)),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        let query = BooleanQuery::new(clauses);
        let mut fc = FacetCollector::for_field("facets");
        for d in DIMENSIONS {
            fc.add_facet(tantivy::schema::Facet::from_path([d]));
        }
        let limit = q.limit.clamp(1, 200);
        let (total, top, counts) =
            searcher.search(&query, &(Count, TopDocs::with_limit(limit), fc))?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr)?;
            let text = |f: Field| {
                d.get_first(f)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            hits.push(Hit {
                id: text(self.f.id),
                kind: text(self.f.kind),
                title: text(self.f.title),
                score,
            });
        }
        let mut facets = BTreeMap::new();
        for d in DIMENSIONS {
            let mut v: Vec<(String, u64)> = counts
                .get(&format!("/{d}"))
                .map(|(f, n)| {
                    let path = f.to_path();
                    let value = path.last().copied().unwrap_or_default();
                    (value.replace('\u{2215}', "/"), n)
                })
                .collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            facets.insert(d.to_owned(), v);
        }
        Ok(SearchResults {
            total,
            hits,
            facets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, title: &str, readers: &[&str], topic: &str) -> SearchDoc {
        SearchDoc {
            id: id.into(),
            kind: "note".into(),
            title: title.into(),
            body: format!("{title} body text"),
            readers: readers.iter().map(|s| s.to_string()).collect(),
            format: "f1".into(),
            topics: vec![topic.into()],
            partner: "EU".into(),
            tlp: "GREEN".into(),
            period: "2026-11".into(),
        }
    }

    /// One check helper: (query text, viewer tokens, filters) → expected ids and total.
    fn check(
        ix: &SearchIndex,
        text: &str,
        viewer: &[&str],
        filters: &[(&str, &str)],
        ids: &[&str],
    ) {
        let r = ix
            .search(&SearchQuery {
                text: text.into(),
                viewer: viewer.iter().map(|s| s.to_string()).collect(),
                filters: filters
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
                limit: 10,
            })
            .unwrap();
        let mut got: Vec<&str> = r.hits.iter().map(|h| h.id.as_str()).collect();
        got.sort();
        assert_eq!(got, ids, "query {text:?} as {viewer:?}");
        assert_eq!(r.total, ids.len());
        let counted: u64 = r.facets["format"].iter().map(|(_, n)| n).sum();
        assert_eq!(
            counted as usize,
            ids.len(),
            "facet counts cover only visible matches"
        );
    }

    #[test]
    fn viewer_tokens_filter_hits_and_counts() {
        let ix = SearchIndex::in_ram().unwrap();
        ix.upsert(&[
            doc(
                "item:1",
                "Disinformation campaign ahead of elections",
                &["p:EU", "p:JPN"],
                "fimi",
            ),
            doc(
                "item:2",
                "Disinformation seen in the Baltics",
                &["p:EU", "p:NATO"],
                "fimi",
            ),
            doc("item:3", "Red disinformation note", &["u:ana@EU"], "cyber"),
            doc("item:4", "No readers disinformation", &[], "cyber"),
        ])
        .unwrap();
        ix.commit(4).unwrap();
        assert_eq!(ix.watermark().unwrap(), 4);
        check(
            &ix,
            "disinformation",
            &["p:JPN", "u:kim@JPN"],
            &[],
            &["item:1"],
        );
        check(
            &ix,
            "disinformation",
            &["p:NATO", "u:kim@NATO"],
            &[],
            &["item:2"],
        );
        check(
            &ix,
            "disinformation",
            &["p:EU", "u:ben@EU"],
            &[],
            &["item:1", "item:2"],
        );
        check(
            &ix,
            "disinformation",
            &["p:EU", "u:ana@EU"],
            &[],
            &["item:1", "item:2", "item:3"],
        );
        check(
            &ix,
            "disinformation",
            &["p:EU", "u:ana@EU"],
            &[("topic", "cyber")],
            &["item:3"],
        );
        check(&ix, "", &[], &[], &[]);
        check(&ix, "elections AND (", &["p:JPN"], &[], &["item:1"]);
        // Replacing a document by id, then deleting it.
        ix.upsert(&[doc("item:1", "Renamed", &["p:JPN"], "fimi")])
            .unwrap();
        ix.commit(5).unwrap();
        check(&ix, "disinformation", &["p:JPN"], &[], &[]);
        check(&ix, "renamed", &["p:JPN"], &[], &["item:1"]);
        ix.delete(&["item:1".into()]);
        ix.commit(6).unwrap();
        check(&ix, "renamed", &["p:JPN"], &[], &[]);
    }

    #[test]
    fn watermark_and_documents_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let ix = SearchIndex::open(dir.path(), 1).unwrap();
            assert_eq!(ix.watermark().unwrap(), 0);
            ix.upsert(&[doc("item:1", "Maritime security", &["p:EU"], "maritime")])
                .unwrap();
            ix.commit(7).unwrap();
        }
        let ix = SearchIndex::open(dir.path(), 1).unwrap();
        assert_eq!(ix.watermark().unwrap(), 7);
        check(&ix, "maritime", &["p:EU"], &[], &["item:1"]);
        assert!(ix.size_bytes() > 0);
    }
}
