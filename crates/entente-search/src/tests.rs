//! The index's own tests: viewer filtering, facets, reopening, and rebuilds beside the
//! writer's background merges.

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
fn check(ix: &SearchIndex, text: &str, viewer: &[&str], filters: &[(&str, &str)], ids: &[&str]) {
    let r = ix
        .search(&SearchQuery {
            text: text.into(),
            viewer: viewer.iter().map(|s| s.to_string()).collect(),
            filters: filters
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            what: None,
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

/// Issue 18: a rebuild's compaction raced the writer's own background merges and failed with
/// "The segments that were merged could not be found in the SegmentManager", and the node
/// exited at its first start after a large import. Many small commits keep the merge policy
/// busy (it merges once eight segments of a size pile up), and the compaction runs right after
/// them, as at start-up; then the index is rebuilt (cleared, refilled, committed, compacted).
#[test]
fn a_rebuild_and_its_compaction_survive_the_writers_own_merges() {
    let dir = tempfile::tempdir().unwrap();
    let ix = SearchIndex::open(dir.path(), 2).unwrap();
    let mut n = 0u64;
    let make = |from: u64, to: u64| -> Vec<SearchDoc> {
        (from..to)
            .map(|i| {
                doc(
                    &format!("item:{i}"),
                    "Maritime patrol",
                    &["p:EU"],
                    "maritime",
                )
            })
            .collect()
    };
    for _round in 0..6 {
        for _ in 0..24 {
            ix.upsert(&make(n, n + 50)).unwrap();
            n += 50;
            ix.commit(n).unwrap();
        }
        ix.compact(2).unwrap();
        assert_eq!(ix.num_docs(), n);
    }
    ix.clear().unwrap();
    for from in (0..n).step_by(1000) {
        ix.upsert(&make(from, (from + 1000).min(n))).unwrap();
    }
    ix.commit(n).unwrap();
    ix.compact(2).unwrap();
    assert_eq!(ix.num_docs(), n);
}

/// A rebuild refills a cleared index without a delete per document: tantivy holds each queued
/// delete (about 1 KB) until the commit, so a start-up rebuild of 1,000,000 entries held over a
/// gigabyte. The refill costs one operation per document, and every document is there once.
#[test]
fn a_rebuild_refills_without_a_delete_per_document() {
    let ix = SearchIndex::in_ram().unwrap();
    let docs: Vec<SearchDoc> = (0..500)
        .map(|i| doc(&format!("item:{i}"), "Port closure", &["p:EU"], "maritime"))
        .collect();
    ix.upsert(&docs).unwrap();
    ix.commit(500).unwrap();
    let before = ix.committed_operations().unwrap();
    ix.clear().unwrap();
    ix.add_fresh(&docs).unwrap();
    ix.commit(500).unwrap();
    let rebuild = ix.committed_operations().unwrap() - before;
    assert!(rebuild <= 502, "{rebuild} operations for 500 documents");
    assert_eq!(ix.num_docs(), 500);
    let r = ix
        .search(&SearchQuery {
            text: "port".into(),
            viewer: vec!["p:EU".into()],
            filters: vec![],
            what: None,
            limit: 10,
        })
        .unwrap();
    assert_eq!(r.total, 500, "every document found once");
    // Replacing is what costs the extra operation per document.
    let before = ix.committed_operations().unwrap();
    ix.upsert(&docs).unwrap();
    ix.commit(500).unwrap();
    assert!(ix.committed_operations().unwrap() - before >= 1000);
    assert_eq!(ix.num_docs(), 500);
}

/// Issue 21 item 3 / review defect 12: Japanese and Korean words are found inside unspaced
/// text (bigrams), a longer Japanese word as a phrase of its bigrams, and the last word typed
/// matches as a prefix.
#[test]
fn japanese_and_korean_words_are_found_inside_sentences_and_a_prefix_matches() {
    let ix = SearchIndex::in_ram().unwrap();
    let eu = ["p:EU"];
    ix.upsert(&[
        doc("item:ja1", "サイバー攻撃が発生しました", &eu, "cyber"),
        doc("item:ja2", "海上保安庁が演習を実施した", &eu, "maritime"),
        doc(
            "item:ko",
            "해상 안보 협력을 위한 공동 훈련",
            &eu,
            "maritime",
        ),
        doc(
            "item:en",
            "GNSS jamming near the Strait of Veldra",
            &eu,
            "maritime",
        ),
        doc("item:en2", "Veld fire season planning", &eu, "resilience"),
    ])
    .unwrap();
    ix.commit(1).unwrap();
    check(&ix, "攻撃", &eu, &[], &["item:ja1"]);
    check(&ix, "海上", &eu, &[], &["item:ja2"]);
    check(&ix, "演習", &eu, &[], &["item:ja2"]);
    // Three or more characters: the bigrams in a row, not anywhere in the text.
    check(&ix, "海上保安庁", &eu, &[], &["item:ja2"]);
    check(&ix, "保安海上", &eu, &[], &[]);
    check(&ix, "안보", &eu, &[], &["item:ko"]);
    check(&ix, "공동 훈련", &eu, &[], &["item:ko"]);
    // The last word as a prefix; the exact word still matches alone.
    check(&ix, "Veldr", &eu, &[], &["item:en"]);
    check(&ix, "Veld", &eu, &[], &["item:en", "item:en2"]);
    check(&ix, "GNSS Veldr", &eu, &[], &["item:en"]);
    check(&ix, "jamming", &eu, &[], &["item:en"]);
    // Operators stay operators: either word, not both with a completion of the last.
    check(&ix, "GNSS OR fire", &eu, &[], &["item:en", "item:en2"]);
    // Two letters are no prefix (too many terms): the word as typed.
    check(&ix, "ve", &eu, &[], &[]);
    // Query syntax is left as written.
    check(&ix, "\"GNSS jamming\"", &eu, &[], &["item:en"]);
}

/// A typed prefix stands for at most 50 words of the index (a common prefix cannot make one
/// query read the postings of every word it begins; red-team finding F2).
#[test]
fn a_prefix_stands_for_a_bounded_number_of_words() {
    let ix = SearchIndex::in_ram().unwrap();
    let docs: Vec<SearchDoc> = (0..60)
        .map(|i| {
            doc(
                &format!("item:{i}"),
                &format!("zq{i:03}"),
                &["p:EU"],
                "cyber",
            )
        })
        .collect();
    ix.upsert(&docs).unwrap();
    ix.commit(1).unwrap();
    let r = ix
        .search(&SearchQuery {
            text: "zq0".into(),
            viewer: vec!["p:EU".into()],
            filters: vec![],
            what: None,
            limit: 100,
        })
        .unwrap();
    assert_eq!(r.total, 50);
}

/// A document without a month adds no empty value to the period facet (axe found the empty
/// facet link on the search page).
#[test]
fn a_document_without_a_month_has_no_period_facet_value() {
    let ix = SearchIndex::in_ram().unwrap();
    let mut d = doc("project:1", "Unmanned demonstrator", &["p:EU"], "maritime");
    d.period = String::new();
    ix.upsert(&[d, doc("item:2", "Unmanned survey", &["p:EU"], "maritime")])
        .unwrap();
    ix.commit(1).unwrap();
    let r = ix
        .search(&SearchQuery {
            text: "unmanned".into(),
            viewer: vec!["p:EU".into()],
            filters: vec![],
            what: None,
            limit: 10,
        })
        .unwrap();
    assert_eq!(r.total, 2);
    assert_eq!(r.facets["period"], vec![("2026-11".to_string(), 1)]);
}

/// Facet counts from the per-segment combinations: with a multi-valued dimension (topics), an
/// optional one (month), documents the viewer may not see, several segments, replaced
/// (deleted) documents and a compaction, every count is the count of the visible matches
/// having that value.
#[test]
fn facet_counts_over_many_blocks_count_every_visible_match_once() {
    let ix = SearchIndex::in_ram().unwrap();
    let topics = ["cyber", "maritime", "fimi"];
    let docs: Vec<SearchDoc> = (0..5000)
        .map(|i| {
            let readers: &[&str] = if i % 7 == 0 { &["p:NATO"] } else { &["p:EU"] };
            let mut d = doc(
                &format!("item:{i}"),
                "Convoy report",
                readers,
                topics[i % 3],
            );
            if i % 4 == 0 {
                d.topics.push("resilience".into());
            }
            if i % 5 == 0 {
                d.period = String::new();
            }
            d.partner = ["EU", "JPN"][i % 2].into();
            d
        })
        .collect();
    // In three commits (three segments), the last replacing some documents of the first.
    ix.upsert(&docs[..2000]).unwrap();
    ix.commit(1).unwrap();
    let stale: Vec<SearchDoc> = docs[..500]
        .iter()
        .map(|d| SearchDoc {
            partner: "NATO".into(),
            ..d.clone()
        })
        .collect();
    ix.upsert(&stale).unwrap();
    ix.commit(2).unwrap();
    ix.upsert(&docs[2000..]).unwrap();
    ix.upsert(&docs[..500]).unwrap();
    ix.commit(3).unwrap();
    let search = || {
        ix.search(&SearchQuery {
            text: "convoy".into(),
            viewer: vec!["p:EU".into()],
            filters: vec![],
            what: None,
            limit: 5,
        })
        .unwrap()
    };
    let before_compaction = search();
    ix.compact(1).unwrap();
    assert_eq!(search().facets, before_compaction.facets);
    let r = ix
        .search(&SearchQuery {
            text: "convoy".into(),
            viewer: vec!["p:EU".into()],
            filters: vec![],
            what: None,
            limit: 5,
        })
        .unwrap();
    let visible: Vec<usize> = (0..5000).filter(|i| i % 7 != 0).collect();
    assert_eq!(r.total, visible.len());
    let count = |f: &dyn Fn(usize) -> bool| visible.iter().filter(|i| f(**i)).count() as u64;
    let facet = |d: &str, v: &str| {
        r.facets[d]
            .iter()
            .find(|(k, _)| k == v)
            .map_or(0, |(_, n)| *n)
    };
    for (t, name) in topics.iter().enumerate() {
        assert_eq!(facet("topic", name), count(&|i| i % 3 == t), "{name}");
    }
    assert_eq!(facet("topic", "resilience"), count(&|i| i % 4 == 0));
    assert_eq!(facet("period", "2026-11"), count(&|i| i % 5 != 0));
    assert_eq!(facet("partner", "JPN"), count(&|i| i % 2 == 1));
    assert_eq!(
        facet("partner", "NATO"),
        0,
        "replaced documents are not counted"
    );
    assert_eq!(facet("format", "f1"), visible.len() as u64);
}

/// The word as typed ranks above words it begins ("Veld" before "Veldra").
#[test]
fn the_word_as_typed_ranks_above_its_completions() {
    let ix = SearchIndex::in_ram().unwrap();
    let eu = ["p:EU"];
    ix.upsert(&[
        doc("item:a", "Veldra Veldra strait", &eu, "maritime"),
        doc("item:b", "Veld fire", &eu, "resilience"),
    ])
    .unwrap();
    ix.commit(1).unwrap();
    let r = ix
        .search(&SearchQuery {
            text: "veld".into(),
            viewer: eu.iter().map(|s| s.to_string()).collect(),
            filters: vec![],
            what: None,
            limit: 10,
        })
        .unwrap();
    let ids: Vec<&str> = r.hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, ["item:b", "item:a"]);
}

/// Review defect 12: a misspelt word finds the word it was meant to be, but only when the
/// words as typed find nothing, and only among what the viewer may see; the answer says the
/// matches are for near spellings.
#[test]
fn a_misspelt_word_finds_near_spellings_when_nothing_matches() {
    let ix = SearchIndex::in_ram().unwrap();
    ix.upsert(&[
        doc(
            "item:en",
            "GNSS jamming near the Strait of Veldra",
            &["p:EU"],
            "maritime",
        ),
        doc(
            "item:nato",
            "Jamming of naval radios",
            &["p:NATO"],
            "maritime",
        ),
        doc(
            "item:sec",
            "Maritime security dialogue",
            &["p:EU"],
            "maritime",
        ),
    ])
    .unwrap();
    ix.commit(1).unwrap();
    let ask = |text: &str| {
        ix.search(&SearchQuery {
            text: text.into(),
            viewer: vec!["p:EU".into()],
            filters: vec![],
            what: None,
            limit: 10,
        })
        .unwrap()
    };
    check(&ix, "jaming", &["p:EU"], &[], &["item:en"]);
    assert!(ask("jaming").near);
    // Two edits in a long word, and every word must still match.
    check(&ix, "maritme secuirty", &["p:EU"], &[], &["item:sec"]);
    check(&ix, "maritme jaming", &["p:EU"], &[], &[]);
    // The exact word is not widened: no near spellings when it matches.
    let r = ask("jamming");
    assert!(!r.near);
    assert_eq!(r.total, 1);
    // Nothing near either: the plain empty answer, not "near spellings".
    let r = ask("qqqqzzzz");
    assert!(!r.near && r.total == 0);
    // Short words are not fuzzed; query syntax is left as written.
    check(&ix, "gnsx", &["p:EU"], &[], &["item:en"]);
    check(&ix, "the strat", &["p:EU"], &[], &["item:en"]);
    check(&ix, "tge strait", &["p:EU"], &[], &[]);
    check(&ix, "\"jaming near\"", &["p:EU"], &[], &[]);
}

/// Issue 21 item 3: a snippet is the text around the query's words with the words marked —
/// a word as typed, a word being typed (prefix), a Japanese word inside an unspaced sentence —
/// and the text's beginning, unmarked, when only the title matched.
#[test]
fn snippets_mark_the_query_words_in_the_text() {
    let ix = SearchIndex::in_ram().unwrap();
    // Words are marked as the index knows them (a word no document holds is no hit's word).
    ix.upsert(&[doc(
        "item:1",
        "Ferry capacity サイバー攻撃",
        &["p:EU"],
        "maritime-security",
    )])
    .unwrap();
    ix.commit(1).unwrap();
    let long = format!(
        "{} The ferry capacity of the port was measured twice. {}",
        "Opening words. ".repeat(20),
        "Closing words. ".repeat(20)
    );
    let ja = "昨日、港湾でサイバー攻撃が発生しました。";
    let s = ix
        .snippets("capacity", &[&long, "Nothing here at all."], 80)
        .unwrap();
    let (a, b) = s[0].marks[0];
    assert_eq!(&s[0].text[a..b], "capacity");
    assert!(s[0].text.chars().count() <= 80, "{:?}", s[0].text);
    assert_eq!(s[1].text, "Nothing here at all.");
    assert!(s[1].marks.is_empty());
    // The word being typed.
    let s = ix.snippets("capa", &[&long], 80).unwrap();
    let (a, b) = s[0].marks[0];
    assert_eq!(&s[0].text[a..b], "capacity");
    // Japanese: the overlapping bigrams of 攻撃 make one mark.
    let s = ix.snippets("サイバー攻撃", &[ja], 80).unwrap();
    assert_eq!(s[0].marks.len(), 1, "{:?}", s[0]);
    let (a, b) = s[0].marks[0];
    assert_eq!(&s[0].text[a..b], "サイバー攻撃");
    // A long text without the words is cut at a space and says so.
    let s = ix.snippets("zzz", &[&long], 40).unwrap();
    assert!(
        s[0].text.ends_with('…') && s[0].text.chars().count() <= 41,
        "{:?}",
        s[0].text
    );
}

/// One document per id after an upsert, wherever the earlier copy is: committed, in the same
/// batch, added since the last commit, added by a rebuild's fill, or deleted and added again.
/// (Issue 18: skipping the delete for ids the index cannot hold was tried and measured; this
/// is the test such a change must pass.)
#[test]
fn an_upsert_replaces_whatever_copy_the_index_holds() {
    let ix = SearchIndex::in_ram().unwrap();
    let one = |word: &str| doc("item:1", &format!("Version {word}"), &["p:EU"], "maritime");
    let only = |ix: &SearchIndex, word: &str, gone: &[&str]| {
        assert_eq!(ix.num_docs(), 1);
        check(ix, word, &["p:EU"], &[], &["item:1"]);
        for g in gone {
            check(ix, g, &["p:EU"], &[], &[]);
        }
    };
    // Twice in one batch, then again before the commit: the last one stands.
    ix.upsert(&[one("alpha"), one("bravo")]).unwrap();
    ix.upsert(&[one("charlie")]).unwrap();
    ix.commit(1).unwrap();
    only(&ix, "charlie", &["alpha", "bravo"]);
    // Committed before.
    ix.upsert(&[one("delta")]).unwrap();
    ix.commit(2).unwrap();
    only(&ix, "delta", &["charlie"]);
    // Deleted, then added again twice before the commit.
    ix.delete(&["item:1".into()]);
    ix.upsert(&[one("echo")]).unwrap();
    ix.upsert(&[one("foxtrot")]).unwrap();
    ix.commit(3).unwrap();
    only(&ix, "foxtrot", &["delta", "echo"]);
    // A rebuild's fill, then an upsert of the same id before the rebuild commits.
    ix.clear().unwrap();
    ix.add_fresh(&[one("golf")]).unwrap();
    ix.upsert(&[one("hotel")]).unwrap();
    ix.commit(4).unwrap();
    only(&ix, "hotel", &["golf", "foxtrot"]);
    // A new id, then a replacement of it after its commit.
    ix.upsert(&[doc("item:3", "Fresh india", &["p:EU"], "maritime")])
        .unwrap();
    ix.commit(5).unwrap();
    ix.upsert(&[doc("item:3", "Fresh juliett", &["p:EU"], "maritime")])
        .unwrap();
    ix.commit(6).unwrap();
    assert_eq!(ix.num_docs(), 2);
    check(&ix, "juliett", &["p:EU"], &[], &["item:3"]);
    check(&ix, "india", &["p:EU"], &[], &[]);
}
