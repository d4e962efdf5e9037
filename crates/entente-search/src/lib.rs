//! The full-text search index (tantivy): documents with their reader tokens, queries filtered
//! to a viewer's tokens, facet counts. It knows nothing of policy, entries or storage: callers
//! hand it documents whose reader tokens they computed with the policy module, and the viewer's
//! tokens to filter by, so every hit and every count is already within the viewer's view.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use tantivy::Searcher;
use tantivy::collector::TopDocs;
use tantivy::index::SegmentId;
use tantivy::query::{
    BooleanQuery, ConstScoreQuery, ConstScorer, EmptyScorer, EnableScoring, Explanation, Occur,
    Query, QueryParser, RangeQuery, Scorer, TermQuery, Weight,
};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STORED, STRING, Schema, TantivyDocument, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::{
    DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentReader, Term, doc,
};
use tantivy::{DocSet, TERMINATED};
use tantivy_common::{BitSet, TinySet};

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
    /// Only documents of this class (the part of the id before `:`: `item`, `stix`, `action`,
    /// `statement`); all when empty.
    pub what: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub score: f32,
    /// The document's marking (`AMBER`; `none` for unmarked objects), originator and month,
    /// read from its facet columns.
    pub tlp: String,
    pub partner: String,
    pub period: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchResults {
    /// Matching documents the viewer may see.
    pub total: usize,
    pub hits: Vec<Hit>,
    /// Per dimension: (value, count) over the same matches, most frequent first.
    pub facets: BTreeMap<String, Vec<(String, u64)>>,
    /// The words as typed matched nothing, and these are matches for near spellings of them
    /// ("jaming" → "jamming").
    pub near: bool,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    kind: Field,
    title: Field,
    /// Title and text in one indexed field (the title twice, so a word in the title weighs
    /// more): one posting list per word instead of a union of two on every query.
    text: Field,
    readers: Field,
    /// One raw, fast (columnar) field per facet dimension, in `DIMENSIONS` order: filtered with
    /// term queries and counted from the columns.
    dims: [Field; 6],
}

/// An open index. Writes are buffered until [`SearchIndex::commit`], which makes them visible
/// to searches and records the caller's watermark with them.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    /// The one writer. It is only ever absent inside [`SearchIndex::quiesce`], under this lock.
    writer: Mutex<Option<IndexWriter>>,
    /// Indexing threads of the writer (each with a 40 MB budget).
    threads: usize,
    f: Fields,
    dir: Option<std::path::PathBuf>,
    /// Per viewer (its tokens), the documents it may see, as one bitset per segment, for the
    /// searcher generation they were computed on. Checking a candidate against a bitset is far
    /// cheaper than intersecting with the reader-token posting lists on every query.
    filters: Mutex<(u64, HashMap<Vec<String>, ViewerFilter>)>,
    /// What each segment's documents carry for the facets (a warmer of `reader`).
    facets: Arc<facets::FacetCache>,
}

/// How many viewers' filters are kept per searcher generation.
const FILTER_CACHE: usize = 512;

/// A query matching exactly the documents of precomputed per-segment bitsets.
#[derive(Clone)]
struct ViewerFilter(Arc<HashMap<SegmentId, Arc<BitSet>>>);

impl std::fmt::Debug for ViewerFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ViewerFilter({} segments)", self.0.len())
    }
}

impl Query for ViewerFilter {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for ViewerFilter {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(match self.0.get(&reader.segment_id()) {
            Some(bits) => Box::new(ConstScorer::new(SharedBits::new(bits.clone()), 0.0)),
            None => Box::new(EmptyScorer),
        })
    }

    fn explain(&self, _: &SegmentReader, _: DocId) -> tantivy::Result<Explanation> {
        Ok(Explanation::new("viewer filter", 0.0))
    }
}

/// A docset over a shared bitset (tantivy's own takes the bitset by value, which would copy it
/// on every query).
struct SharedBits {
    bits: Arc<BitSet>,
    doc: DocId,
}

impl SharedBits {
    fn new(bits: Arc<BitSet>) -> SharedBits {
        let mut s = SharedBits { bits, doc: 0 };
        s.doc = s.first_from(0);
        s
    }

    /// The first document in the set at or after `from`.
    fn first_from(&self, from: DocId) -> DocId {
        if from >= self.bits.max_value() {
            return TERMINATED;
        }
        let buckets = self.bits.max_value().div_ceil(64);
        let mut bucket = from / 64;
        let mut t = self
            .bits
            .tinyset(bucket)
            .intersect(TinySet::range_greater_or_equal(from % 64));
        loop {
            if let Some(low) = t.pop_lowest() {
                return bucket * 64 + low;
            }
            if bucket + 1 >= buckets {
                return TERMINATED;
            }
            match self.bits.first_non_empty_bucket(bucket + 1) {
                Some(b) => {
                    bucket = b;
                    t = self.bits.tinyset(b);
                }
                None => return TERMINATED,
            }
        }
    }
}

impl DocSet for SharedBits {
    fn advance(&mut self) -> DocId {
        if self.doc != TERMINATED {
            self.doc = self.first_from(self.doc + 1);
        }
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc != TERMINATED && target > self.doc {
            self.doc = self.first_from(target);
        }
        self.doc
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.bits.len() as u32
    }
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
        title: b.add_text_field("title", STORED),
        text: b.add_text_field(
            "text",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(cjk::ANALYZER)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            ),
        ),
        readers: b.add_text_field("readers", STRING),
        dims: DIMENSIONS.map(|d| b.add_text_field(&format!("dim_{d}"), STRING | FAST)),
    };
    (b.build(), f)
}

/// A writer with `threads` indexing threads of 40 MB each and the default merge policy.
fn new_writer(index: &Index, threads: usize) -> tantivy::Result<IndexWriter> {
    index.writer_with_num_threads(threads, threads * 40_000_000)
}

impl SearchIndex {
    /// Open the index in `dir`, creating it (empty, watermark 0) if there is none.
    ///
    /// An index written with another schema (an older version) is derived state: it is removed
    /// and recreated empty, and the node rebuilds it from the store.
    pub fn open(dir: &Path, threads: usize) -> Result<SearchIndex, SearchError> {
        let dir_err =
            |e: &dyn std::fmt::Display| SearchError::Dir(format!("{}: {e}", dir.display()));
        let (schema, f) = schema();
        if let Ok(old) = Index::open_in_dir(dir)
            && old.schema() != schema
        {
            drop(old);
            std::fs::remove_dir_all(dir).map_err(|e| dir_err(&e))?;
        }
        std::fs::create_dir_all(dir).map_err(|e| dir_err(&e))?;
        let mmap = tantivy::directory::MmapDirectory::open(dir).map_err(|e| dir_err(&e))?;
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
        let mut index = index;
        index.tokenizers().register(cjk::ANALYZER, cjk::analyzer());
        // Large result sets are counted segment by segment on every core.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        index.set_multithread_executor(cores.min(4))?;
        let writer = new_writer(&index, threads)?;
        let facets = Arc::new(facets::FacetCache::default());
        let warmer: std::sync::Weak<dyn tantivy::Warmer> = Arc::downgrade(&facets) as _;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .warmers(vec![warmer])
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            writer: Mutex::new(Some(writer)),
            threads,
            f,
            dir,
            filters: Mutex::new((u64::MAX, HashMap::new())),
            facets,
        })
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, Option<IndexWriter>> {
        // A panic while holding the writer leaves nothing half-written that a later commit
        // would publish (tantivy's operations are queued whole), so a poisoned lock is usable.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` with the writer.
    fn with_writer<R>(
        &self,
        f: impl FnOnce(&mut IndexWriter) -> tantivy::Result<R>,
    ) -> Result<R, SearchError> {
        let mut g = self.lock_writer();
        let w = g
            .as_mut()
            .ok_or_else(|| SearchError::Dir("the index writer was lost".into()))?;
        Ok(f(w)?)
    }

    /// Wait until no merge runs, and leave the writer with `policy`. The writer merges segments
    /// in the background on its own (the log merge policy); an explicit merge of a segment a
    /// background merge also takes, or clearing the index under a running merge, fails when
    /// the second of the two finishes ("the segments that were merged could not be found"),
    /// which made the start-up rebuild after a large import fail. Tantivy waits for merges only
    /// by consuming its writer, so the writer is replaced by a fresh one (uncommitted writes
    /// would be lost: callers quiesce right after a commit or before writing anything).
    fn quiesce(
        &self,
        g: &mut Option<IndexWriter>,
        policy: Box<dyn tantivy::indexer::MergePolicy>,
    ) -> Result<(), SearchError> {
        if let Some(old) = g.take() {
            old.wait_merging_threads()?;
        }
        let w = new_writer(&self.index, self.threads)?;
        w.set_merge_policy(policy);
        *g = Some(w);
        Ok(())
    }

    /// Add or replace documents (by id). Not visible until the next commit.
    pub fn upsert(&self, docs: &[SearchDoc]) -> Result<(), SearchError> {
        self.with_writer(|w| self.write_docs(w, docs, true))
    }

    /// Add documents to an index just [`cleared`](SearchIndex::clear), whose ids are not in it
    /// yet. Unlike [`SearchIndex::upsert`] it queues no delete per document: tantivy holds
    /// every queued delete (about 1 KB each) until the next commit, which made a start-up
    /// rebuild of 1,000,000 entries hold over a gigabyte. Not visible until the next commit.
    pub fn add_fresh(&self, docs: &[SearchDoc]) -> Result<(), SearchError> {
        self.with_writer(|w| self.write_docs(w, docs, false))
    }

    fn write_docs(
        &self,
        w: &mut IndexWriter,
        docs: &[SearchDoc],
        replace: bool,
    ) -> tantivy::Result<()> {
        for d in docs {
            if replace {
                w.delete_term(Term::from_field_text(self.f.id, &d.id));
            }
            if d.readers.is_empty() {
                continue;
            }
            let mut td = doc!(
                self.f.id => d.id.as_str(),
                self.f.kind => d.kind.as_str(),
                                self.f.title => d.title.as_str(),
                self.f.text => format!("{}\n{}\n{}", d.title, d.title, d.body),
            );
            for r in &d.readers {
                td.add_text(self.f.readers, r);
            }
            let [format, topic, partner, kind, tlp, period] = self.f.dims;
            td.add_text(format, &d.format);
            for t in &d.topics {
                td.add_text(topic, t);
            }
            td.add_text(partner, &d.partner);
            td.add_text(kind, &d.kind);
            td.add_text(tlp, &d.tlp);
            // A thing without a date (a project) has no month: no empty facet value, whose
            // link would have no text.
            if !d.period.is_empty() {
                td.add_text(period, &d.period);
            }
            w.add_document(td)?;
        }
        Ok(())
    }

    /// Remove documents by id. Not visible until the next commit.
    pub fn delete(&self, ids: &[String]) {
        let _ = self.with_writer(|w| {
            for id in ids {
                w.delete_term(Term::from_field_text(self.f.id, id));
            }
            Ok(())
        });
    }

    /// Remove everything (a rebuild starts with this). Not visible until the next commit.
    /// Merges stop until the rebuild's [`SearchIndex::compact`]: none runs under the clearing,
    /// and the refill is not merged piecemeal only to be merged again.
    pub fn clear(&self) -> Result<(), SearchError> {
        let mut g = self.lock_writer();
        self.quiesce(&mut g, Box::new(tantivy::indexer::NoMergePolicy))?;
        let w = g
            .as_mut()
            .ok_or_else(|| SearchError::Dir("the index writer was lost".into()))?;
        w.delete_all_documents()?;
        Ok(())
    }

    /// Make every write so far durable and visible, recording `watermark` with them.
    pub fn commit(&self, watermark: u64) -> Result<(), SearchError> {
        self.with_writer(|w| {
            let mut prepared = w.prepare_commit()?;
            prepared.set_payload(&watermark.to_string());
            prepared.commit()
        })?;
        self.reader.reload()?;
        Ok(())
    }

    /// Operations (adds, deletes) committed since the index was created: the opstamp of the
    /// writer's last commit. A rebuild should cost one per document.
    pub fn committed_operations(&self) -> Result<u64, SearchError> {
        Ok(self.index.load_metas()?.opstamp)
    }

    /// Merge the committed segments into at most `parts` of similar size (after a rebuild):
    /// a query then costs a few segment tasks instead of dozens, and still runs on every core.
    pub fn compact(&self, parts: usize) -> Result<(), SearchError> {
        // No merge of the writer's own may run beside these (see `quiesce`); afterwards the
        // writer merges on its own again.
        let mut g = self.lock_writer();
        self.quiesce(&mut g, Box::new(tantivy::indexer::NoMergePolicy))?;
        let result = self.merge_into(&mut g, parts);
        let restored = self.quiesce(
            &mut g,
            Box::new(tantivy::indexer::LogMergePolicy::default()),
        );
        drop(g);
        result.and(restored)?;
        self.reader.reload()?;
        Ok(())
    }

    fn merge_into(&self, g: &mut Option<IndexWriter>, parts: usize) -> Result<(), SearchError> {
        let mut metas = self.index.searchable_segment_metas()?;
        if metas.len() <= parts.max(1) {
            return Ok(());
        }
        metas.sort_by_key(|m| std::cmp::Reverse(m.num_docs()));
        let mut groups: Vec<(u64, Vec<SegmentId>)> = vec![(0, vec![]); parts.max(1)];
        for m in metas {
            // Largest first into the lightest group: groups end up within one segment of equal.
            if let Some(gr) = groups.iter_mut().min_by_key(|gr| gr.0) {
                gr.0 += u64::from(m.num_docs());
                gr.1.push(m.id());
            }
        }
        let w = g
            .as_mut()
            .ok_or_else(|| SearchError::Dir("the index writer was lost".into()))?;
        // One merge at a time, and the reader moved to its result right after: a merge reads
        // its source segments through memory maps, and every page it touched counts in the
        // node's resident set for as long as a reader still maps those segments. After a
        // rebuild of 1,000,000 documents, two merges at once (and the reader holding every
        // source until the end) took the node from 190 MB to a peak of 340 MB, 227 MB of it
        // mapped index files. This costs a longer start-up after a rebuild where cores are idle.
        for gr in groups.into_iter().filter(|gr| gr.1.len() > 1) {
            w.merge(&gr.1).wait()?;
            self.reader.reload()?;
        }
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

    /// The documents a viewer may see (any of its tokens among their reader tokens), from the
    /// cache when this searcher generation has it.
    fn viewer_filter(
        &self,
        searcher: &Searcher,
        viewer: &[String],
    ) -> Result<ViewerFilter, SearchError> {
        let generation = searcher.generation().generation_id();
        {
            let cache = self.filters.lock().unwrap_or_else(|p| p.into_inner());
            if cache.0 == generation
                && let Some(f) = cache.1.get(viewer)
            {
                return Ok(f.clone());
            }
        }
        let tokens: Vec<(Occur, Box<dyn Query>)> = viewer
            .iter()
            .map(|t| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(self.f.readers, t),
                    IndexRecordOption::Basic,
                ));
                (Occur::Should, q)
            })
            .collect();
        let weight =
            BooleanQuery::new(tokens).weight(EnableScoring::disabled_from_searcher(searcher))?;
        let mut sets = HashMap::new();
        for reader in searcher.segment_readers() {
            let mut bits = BitSet::with_max_value(reader.max_doc());
            weight.for_each_no_score(reader, &mut |docs| {
                for d in docs {
                    bits.insert(*d);
                }
            })?;
            sets.insert(reader.segment_id(), Arc::new(bits));
        }
        let f = ViewerFilter(Arc::new(sets));
        let mut cache = self.filters.lock().unwrap_or_else(|p| p.into_inner());
        if cache.0 != generation || cache.1.len() >= FILTER_CACHE {
            *cache = (generation, HashMap::new());
        }
        cache.1.insert(viewer.to_vec(), f.clone());
        Ok(f)
    }

    /// Matches for the query among documents the viewer may see, with facet counts over them.
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResults, SearchError> {
        let searcher = self.reader.searcher();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        // The viewer filter comes first and is never optional: no tokens, no matches.
        if q.viewer.is_empty() {
            return Ok(SearchResults {
                facets: DIMENSIONS.map(|d| (d.to_owned(), vec![])).into(),
                ..Default::default()
            });
        }
        clauses.push((
            Occur::Must,
            Box::new(self.viewer_filter(&searcher, &q.viewer)?),
        ));
        for (dim, value) in &q.filters {
            // An unknown dimension matches nothing rather than being ignored.
            let Some(i) = DIMENSIONS.iter().position(|d| d == dim) else {
                return self.search(&SearchQuery {
                    viewer: vec![],
                    ..q.clone()
                });
            };
            let filter = TermQuery::new(
                Term::from_field_text(self.f.dims[i], value),
                IndexRecordOption::Basic,
            );
            clauses.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(filter), 0.0)),
            ));
        }
        if let Some(what) = q.what.as_deref().filter(|w| !w.is_empty()) {
            // Ids are `{what}:{id}`: the class is the range of ids from `{what}:` up to the
            // next character after ':' (';').
            let class = RangeQuery::new(
                std::ops::Bound::Included(Term::from_field_text(self.f.id, &format!("{what}:"))),
                std::ops::Bound::Excluded(Term::from_field_text(self.f.id, &format!("{what};"))),
            );
            clauses.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(class), 0.0)),
            ));
        }
        if q.text.trim().is_empty() {
            return self.run(&searcher, q, clauses, false);
        }
        let text_q = self.text_query(&searcher, &q.text)?;
        let mut exact: Vec<(Occur, Box<dyn Query>)> =
            clauses.iter().map(|(o, c)| (*o, c.box_clone())).collect();
        must_flat(text_q, &mut exact);
        let found = self.run(&searcher, q, exact, false)?;
        // Nothing for the words as typed: try near spellings (only then, so a query that
        // finds something costs no more).
        if found.total > 0 {
            return Ok(found);
        }
        match fuzzy::near_spellings(self.f.text, &q.text) {
            Some(near) => {
                clauses.push((Occur::Must, near));
                let r = self.run(&searcher, q, clauses, true)?;
                // "Near spellings" is said only of matches; none at all is the plain answer.
                Ok(if r.total > 0 { r } else { found })
            }
            None => Ok(found),
        }
    }

    /// The user's words as a query: every word required, stray syntax searched as words
    /// (lenient: never an error), the word being typed also as a prefix.
    fn text_query(
        &self,
        searcher: &tantivy::Searcher,
        text: &str,
    ) -> Result<Box<dyn Query>, SearchError> {
        let mut parser = QueryParser::for_index(&self.index, vec![self.f.text]);
        parser.set_conjunction_by_default();
        let (parsed, _errors) = parser.parse_query_lenient(text);
        prefix::with_prefix(self.f.text, searcher, &parser, text, parsed)
    }

    /// One search with `clauses` (the viewer filter first), its hits and facet counts.
    fn run(
        &self,
        searcher: &tantivy::Searcher,
        q: &SearchQuery,
        clauses: Vec<(Occur, Box<dyn Query>)>,
        near: bool,
    ) -> Result<SearchResults, SearchError> {
        let query = BooleanQuery::new(clauses);
        let limit = q.limit.clamp(1, 200);
        // One pass for the top hits, the total and the facet counts. (Counting first without
        // scores and then asking for the top hits alone was slower: conjunctions gain little from
        // block-max pruning and every match is visited twice.)
        let (top, (total, counts)) = searcher.search(
            &query,
            &(
                TopDocs::with_limit(limit),
                facets::DimCounts(self.facets.clone()),
            ),
        )?;
        let mut hits = Vec::with_capacity(top.len());
        // A hit's marking, originator and month come from its segment's facet columns, opened
        // once per segment rather than once per hit and value.
        let mut columns: HashMap<u32, Vec<Option<tantivy::columnar::StrColumn>>> = HashMap::new();
        for (score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr)?;
            let text = |f: Field| {
                d.get_first(f)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            let cols = match columns.entry(addr.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let ff = searcher.segment_reader(addr.segment_ord).fast_fields();
                    let mut v = Vec::with_capacity(3);
                    for d in ["tlp", "partner", "period"] {
                        v.push(ff.str(&format!("dim_{d}"))?);
                    }
                    e.insert(v)
                }
            };
            let mut dims = [String::new(), String::new(), String::new()];
            for (c, out) in cols.iter().zip(dims.iter_mut()) {
                if let Some(c) = c
                    && let Some(ord) = c.ords().values_for_doc(addr.doc_id).next()
                {
                    c.ord_to_str(ord, out)
                        .map_err(tantivy::TantivyError::from)?;
                }
            }
            let [tlp, partner, period] = dims;
            hits.push(Hit {
                id: text(self.f.id),
                kind: text(self.f.kind),
                title: text(self.f.title),
                score,
                tlp,
                partner,
                period,
            });
        }
        let mut facets = BTreeMap::new();
        for (d, counts) in DIMENSIONS.into_iter().zip(counts) {
            let mut v: Vec<(String, u64)> = counts.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            facets.insert(d.to_owned(), v);
        }
        Ok(SearchResults {
            total,
            hits,
            facets,
            near,
        })
    }
}

/// Add `q` to `out` as required, with the clauses of a query that only requires clauses
/// added one by one (recursively): one intersection of every required word and filter, led by
/// the rarest, instead of intersections nested inside each other (the same matches and
/// scores — a boolean query's score is the sum of its clauses' —; `bench search` at 1M items:
/// p95 32.4 → 19.3 ms, the queries of three common words twice as fast).
fn must_flat(q: Box<dyn Query>, out: &mut Vec<(Occur, Box<dyn Query>)>) {
    match q.downcast_ref::<BooleanQuery>() {
        Some(b)
            if !b.clauses().is_empty() && b.clauses().iter().all(|(o, _)| *o == Occur::Must) =>
        {
            for (_, c) in b.clauses() {
                must_flat(c.box_clone(), out);
            }
        }
        _ => out.push((Occur::Must, q)),
    }
}

#[cfg(test)]
mod tests;

mod cjk;
mod facets;
mod fuzzy;
mod prefix;
mod snippet;

pub use snippet::Snippet;
