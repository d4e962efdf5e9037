//! Facet counts: the matching documents of a search with the number of them per value of
//! each dimension (the search's hits and text are elsewhere).
//!
//! A segment never changes once written, so what its documents carry for the facets is worked
//! out once per segment, when a searcher that has it is first warmed: each document's
//! combination of values (format, topics, partner, kind, marking, month) as one number, and
//! each combination's values. A query then adds one to a counter per matching document,
//! instead of reading six columns per document (which was a third of a broad query's time).

use crate::DIMENSIONS;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::index::SegmentId;
use tantivy::{DocId, Score, Searcher, SearcherGeneration, SegmentReader, Warmer};

pub(crate) type Counts = [BTreeMap<String, u64>; 6];

/// What one segment's documents carry for the facets.
pub(crate) struct SegmentFacets {
    columns: Vec<Option<StrColumn>>,
    /// Per document, its combination.
    combo: Vec<u32>,
    /// Per combination, where its (dimension, ord) values start in `values` (one more entry
    /// at the end).
    starts: Vec<u32>,
    values: Vec<(u8, u32)>,
}

impl SegmentFacets {
    fn build(reader: &SegmentReader) -> tantivy::Result<SegmentFacets> {
        let mut columns = Vec::with_capacity(DIMENSIONS.len());
        for d in DIMENSIONS {
            columns.push(reader.fast_fields().str(&format!("dim_{d}"))?);
        }
        let mut ids: HashMap<Box<[(u8, u32)]>, u32> = HashMap::new();
        let mut combo = Vec::with_capacity(reader.max_doc() as usize);
        let (mut starts, mut values) = (vec![0u32], Vec::new());
        let mut key: Vec<(u8, u32)> = Vec::new();
        for doc in 0..reader.max_doc() {
            key.clear();
            for (dim, c) in columns.iter().enumerate() {
                if let Some(c) = c {
                    key.extend(c.ords().values_for_doc(doc).map(|o| (dim as u8, o as u32)));
                }
            }
            let id = match ids.get(key.as_slice()) {
                Some(id) => *id,
                None => {
                    let id = starts.len() as u32 - 1;
                    values.extend_from_slice(&key);
                    starts.push(values.len() as u32);
                    ids.insert(key.clone().into_boxed_slice(), id);
                    id
                }
            };
            combo.push(id);
        }
        Ok(SegmentFacets {
            columns,
            combo,
            starts,
            values,
        })
    }

    fn combos(&self) -> usize {
        self.starts.len() - 1
    }
}

/// The facets of every segment of the searchers in use, kept up to date as a warmer of the
/// index's reader.
#[derive(Default)]
pub(crate) struct FacetCache(Mutex<HashMap<SegmentId, Arc<SegmentFacets>>>);

impl FacetCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SegmentId, Arc<SegmentFacets>>> {
        // Only whole entries are ever inserted: a poisoned lock holds nothing half-made.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The facets of a segment, worked out now if no warming did (and kept).
    fn of(&self, reader: &SegmentReader) -> tantivy::Result<Arc<SegmentFacets>> {
        if let Some(f) = self.lock().get(&reader.segment_id()) {
            return Ok(f.clone());
        }
        let f = Arc::new(SegmentFacets::build(reader)?);
        self.lock().insert(reader.segment_id(), f.clone());
        Ok(f)
    }
}

impl Warmer for FacetCache {
    fn warm(&self, searcher: &Searcher) -> tantivy::Result<()> {
        // A segment whose columns cannot be read now is tried again by the first query that
        // needs it: a failed warm-up must not make a commit that succeeded report failure.
        for reader in searcher.segment_readers() {
            let _ = self.of(reader);
        }
        Ok(())
    }

    fn garbage_collect(&self, live: &[&SearcherGeneration]) {
        self.lock()
            .retain(|id, _| live.iter().any(|g| g.segments().contains_key(id)));
    }
}

/// The collector: the number of matching documents and the facet counts over them.
pub(crate) struct DimCounts(pub Arc<FacetCache>);

pub(crate) struct SegmentDimCounts {
    facets: Arc<SegmentFacets>,
    counts: Vec<u32>,
    /// The combinations counted at least once, so a query with few matches reads only those
    /// at the end (not every combination of the segment).
    seen: Vec<u32>,
    matched: usize,
}

impl Collector for DimCounts {
    type Fruit = (usize, Counts);
    type Child = SegmentDimCounts;

    fn for_segment(&self, _: u32, reader: &SegmentReader) -> tantivy::Result<SegmentDimCounts> {
        let facets = self.0.of(reader)?;
        Ok(SegmentDimCounts {
            counts: vec![0; facets.combos()],
            seen: Vec::new(),
            facets,
            matched: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<(usize, Counts)>) -> tantivy::Result<(usize, Counts)> {
        let mut out: Counts = Default::default();
        let mut total = 0;
        for (n, f) in fruits {
            total += n;
            for (o, m) in out.iter_mut().zip(f) {
                for (k, v) in m {
                    *o.entry(k).or_default() += v;
                }
            }
        }
        Ok((total, out))
    }
}

impl SegmentCollector for SegmentDimCounts {
    type Fruit = (usize, Counts);

    fn collect(&mut self, doc: DocId, _: Score) {
        self.matched += 1;
        if let Some(&c) = self.facets.combo.get(doc as usize) {
            let n = &mut self.counts[c as usize];
            if *n == 0 {
                self.seen.push(c);
            }
            *n += 1;
        }
    }

    fn harvest(self) -> (usize, Counts) {
        let f = &self.facets;
        let mut per_ord: Vec<Vec<u64>> = f
            .columns
            .iter()
            .map(|c| vec![0; c.as_ref().map_or(0, |c| c.num_terms())])
            .collect();
        for &combo in &self.seen {
            let n = u64::from(self.counts[combo as usize]);
            let (a, b) = (
                f.starts[combo as usize] as usize,
                f.starts[combo as usize + 1] as usize,
            );
            for (dim, ord) in &f.values[a..b] {
                per_ord[*dim as usize][*ord as usize] += n;
            }
        }
        let mut out: Counts = Default::default();
        for ((c, n), o) in f.columns.iter().zip(per_ord).zip(out.iter_mut()) {
            let Some(c) = c else { continue };
            for (ord, k) in n.into_iter().enumerate().filter(|(_, k)| *k > 0) {
                let mut s = String::new();
                if c.ord_to_str(ord as u64, &mut s).unwrap_or(false) {
                    o.insert(s, k);
                }
            }
        }
        (self.matched, out)
    }
}
