//! Conformance of attachments' bytes: chunks are kept once each, listed in order and dropped
//! together; a file is held whole only once completed; what an appended item references is
//! missing until the file is whole and checked for that item (paged in (file, item) order), and
//! an uploader is recorded per user.

use super::{aud, entries, item};
use crate::*;
use entente_domain::attachment::AttachmentRef;
use entente_domain::partner::code;
use entente_log::{LogHead, NodeKey};

/// When chunks were written in these tests: before every cut-off they use.
const OLD: &str = "2026-12-01T09:00:00.000Z";

const SHA: &str = "0f343b0931126a20f133d67c2b018a3b5e5a3b3d3a4c9f1e8e2b1a0c9d8e7f60";

pub async fn blobs_in_chunks(store: &dyn Store) {
    assert_eq!(store.blob_chunk(SHA, 0).await.unwrap(), None);
    assert!(store.blob_chunk_indexes(SHA).await.unwrap().is_empty());
    store.put_blob_chunk(SHA, 1, b"second", OLD).await.unwrap();
    store.put_blob_chunk(SHA, 0, b"first", OLD).await.unwrap();
    // A chunk sent again (a resumed transfer) leaves the one held.
    store.put_blob_chunk(SHA, 0, b"other", OLD).await.unwrap();
    assert_eq!(store.blob_chunk_indexes(SHA).await.unwrap(), vec![0, 1]);
    assert_eq!(
        store.blob_chunk(SHA, 0).await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
    assert_eq!(store.blob(SHA).await.unwrap(), None, "not whole yet");
    store.drop_blob_chunks(SHA).await.unwrap();
    assert!(store.blob_chunk_indexes(SHA).await.unwrap().is_empty());

    store.put_blob_chunk(SHA, 0, b"bytes", OLD).await.unwrap();
    let b = BlobInfo {
        sha256: SHA.into(),
        size: 5,
        stored_at: "2026-12-05T10:00:00Z".into(),
    };
    store.complete_blob(&b, Some("alice@EU")).await.unwrap();
    // Completed again by another uploader of the same bytes: one file, two uploaders.
    store.complete_blob(&b, Some("bob@EU")).await.unwrap();
    store.complete_blob(&b, None).await.unwrap();
    assert_eq!(store.blob(SHA).await.unwrap(), Some(b));
    assert!(store.blob_uploaded_by(SHA, "alice@EU").await.unwrap());
    assert!(store.blob_uploaded_by(SHA, "bob@EU").await.unwrap());
    assert!(!store.blob_uploaded_by(SHA, "mallory@EU").await.unwrap());
    assert_eq!(store.blob_text(SHA).await.unwrap(), None);
    store.put_blob_text(SHA, "first").await.unwrap();
    store.put_blob_text(SHA, "事後報告書").await.unwrap();
    assert_eq!(
        store.blob_text(SHA).await.unwrap().as_deref(),
        Some("事後報告書")
    );
    // A whole file's chunks are not dropped.
    store.drop_blob_chunks(SHA).await.unwrap();
    assert_eq!(store.blob_chunk_indexes(SHA).await.unwrap(), vec![0]);
}

pub async fn referenced_blobs_are_missing_until_complete(store: &dyn Store) {
    let key = NodeKey::generate().expect("key");
    let a = aud(&["EU", "JPN"]);
    let d = LogDescriptor::new(code("EU"), a.clone());
    let es = entries(&key, "EU", &a, LogHead::EMPTY, 1);
    let mut it = item("i1", "fmt-1", &a, ItemKind::Report, &[], Tlp::Green);
    let other = "1".repeat(64);
    it.attachments = vec![
        AttachmentRef {
            sha256: SHA.into(),
            size: 3 << 20,
            name: "事後報告書.pdf".into(),
            media_type: "application/pdf".into(),
        },
        AttachmentRef {
            sha256: other.clone(),
            size: 7,
            name: "notes.txt".into(),
            media_type: "text/plain".into(),
        },
    ];
    store
        .append(&d, LogHead::EMPTY, &es, &[Projection::Item(it.clone())])
        .await
        .unwrap();
    let missing = store.missing_blobs(None, 10).await.unwrap();
    let mut want = vec![
        (SHA.to_owned(), "i1".to_owned(), 3 << 20),
        (other.clone(), "i1".to_owned(), 7),
    ];
    want.sort();
    assert_eq!(missing, want, "in (file, item) order");
    let first = store.missing_blobs(None, 1).await.unwrap();
    assert_eq!(first, want[..1].to_vec());
    let after = (first[0].0.as_str(), first[0].1.as_str());
    assert_eq!(
        store.missing_blobs(Some(after), 10).await.unwrap(),
        want[1..].to_vec()
    );
    store
        .put_blob_chunk(&other, 0, b"notes!!", OLD)
        .await
        .unwrap();
    store
        .complete_blob(
            &BlobInfo {
                sha256: other.clone(),
                size: 7,
                stored_at: "2026-12-05T10:00:00Z".into(),
            },
            None,
        )
        .await
        .unwrap();
    // Whole, but not checked for this item: still missing for it, and not served through it.
    assert_eq!(store.missing_blobs(None, 10).await.unwrap().len(), 2);
    assert!(!store.blob_for_item(&other, "i1").await.unwrap());
    store.verify_blob_for_item(&other, "i1").await.unwrap();
    store.verify_blob_for_item(&other, "i1").await.unwrap();
    assert!(store.blob_for_item(&other, "i1").await.unwrap());
    assert!(!store.blob_for_item(&other, "i2").await.unwrap());
    // Checked for an item but not whole (a reference row only): not served.
    store.verify_blob_for_item(SHA, "i9").await.unwrap();
    assert!(!store.blob_for_item(SHA, "i9").await.unwrap());
    assert_eq!(
        store.missing_blobs(None, 10).await.unwrap(),
        vec![(SHA.to_owned(), "i1".to_owned(), 3 << 20)]
    );
    // The item revised (the same references written again): still one reference each.
    let es2 = entries(&key, "EU", &a, d_head(&es), 1);
    it.revision = 2;
    store
        .append(&d, d_head(&es), &es2, &[Projection::Item(it)])
        .await
        .unwrap();
    assert_eq!(store.missing_blobs(None, 10).await.unwrap().len(), 1);
    // Quarantined for its item: no longer missing for it (not fetched again), its finding
    // kept, a second finding not replacing the first, never whole; for another item naming the
    // same hash it is still missing (its holders are asked as for any file).
    assert_eq!(store.blob_quarantine(SHA, None).await.unwrap(), None);
    store
        .quarantine_blob(SHA, "i1", "Eicar-Test-Signature", "2026-12-06T10:00:00Z")
        .await
        .unwrap();
    store
        .quarantine_blob(SHA, "i1", "Other", "2026-12-06T11:00:00Z")
        .await
        .unwrap();
    assert_eq!(
        store
            .blob_quarantine(SHA, Some("i1"))
            .await
            .unwrap()
            .as_deref(),
        Some("Eicar-Test-Signature")
    );
    assert_eq!(
        store.blob_quarantine(SHA, None).await.unwrap().as_deref(),
        Some("Eicar-Test-Signature")
    );
    assert_eq!(store.blob_quarantine(SHA, Some("i2")).await.unwrap(), None);
    assert!(store.missing_blobs(None, 10).await.unwrap().is_empty());
    assert!(store.blob(SHA).await.unwrap().is_none());
    assert_eq!(store.blob_quarantine(&other, None).await.unwrap(), None);
    let es3 = entries(&key, "EU", &a, d_head(&es2), 1);
    let mut it2 = item("i2", "fmt-1", &a, ItemKind::Report, &[], Tlp::Green);
    it2.attachments = vec![AttachmentRef {
        sha256: SHA.into(),
        size: 3 << 20,
        name: "again.pdf".into(),
        media_type: "application/pdf".into(),
    }];
    store
        .append(&d, d_head(&es2), &es3, &[Projection::Item(it2)])
        .await
        .unwrap();
    assert_eq!(
        store.missing_blobs(None, 10).await.unwrap(),
        vec![(SHA.to_owned(), "i2".to_owned(), 3 << 20)]
    );
    // A post's files, recorded under its key, are missing like an item's until checked for it.
    let es4 = entries(&key, "EU", &a, d_head(&es3), 1);
    let files = Projection::Files {
        owner: "post:EU-t:EU-p".into(),
        files: vec![(other.clone(), 7)],
    };
    store
        .append(&d, d_head(&es3), &es4, &[files])
        .await
        .unwrap();
    assert_eq!(
        store.missing_blobs(None, 10).await.unwrap(),
        vec![
            (SHA.to_owned(), "i2".to_owned(), 3 << 20),
            (other.clone(), "post:EU-t:EU-p".to_owned(), 7),
        ]
    );
    store
        .verify_blob_for_item(&other, "post:EU-t:EU-p")
        .await
        .unwrap();
    assert!(store.blob_for_item(&other, "post:EU-t:EU-p").await.unwrap());
    assert_eq!(store.missing_blobs(None, 10).await.unwrap().len(), 1);
    // The operator's view of the quarantine, newest first (all, or one file's); a release for
    // some items makes the file whole and checked for those it was held for, the others' rows
    // staying; while it is whole, nothing more is quarantined.
    store
        .quarantine_blob(SHA, "i2", "Eicar-Test-Signature", "2026-12-06T12:00:00Z")
        .await
        .unwrap();
    let rows = |v: Vec<QuarantineRecord>| -> Vec<(String, String, String)> {
        v.into_iter()
            .map(|q| (q.item_id, q.finding, q.at))
            .collect()
    };
    let both = vec![
        (
            "i2".to_owned(),
            "Eicar-Test-Signature".to_owned(),
            "2026-12-06T12:00:00Z".to_owned(),
        ),
        (
            "i1".to_owned(),
            "Eicar-Test-Signature".to_owned(),
            "2026-12-06T10:00:00Z".to_owned(),
        ),
    ];
    assert_eq!(rows(store.quarantined_blobs(None, 10).await.unwrap()), both);
    assert_eq!(
        rows(store.quarantined_blobs(Some(SHA), 10).await.unwrap()),
        both
    );
    assert!(
        store
            .quarantined_blobs(Some(&other), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.quarantined_blobs(None, 1).await.unwrap().len(), 1);
    assert!(store.missing_blobs(None, 10).await.unwrap().is_empty());
    let whole = BlobInfo {
        sha256: SHA.into(),
        size: 3 << 20,
        stored_at: "2026-12-06T13:00:00Z".into(),
    };
    assert_eq!(
        store
            .release_blob_quarantine(&whole, &["i8".to_owned(), "i2".to_owned()], None)
            .await
            .unwrap(),
        vec!["i2".to_owned()]
    );
    assert_eq!(store.blob(SHA).await.unwrap(), Some(whole.clone()));
    assert!(store.blob_for_item(SHA, "i2").await.unwrap());
    assert!(!store.blob_for_item(SHA, "i8").await.unwrap());
    assert!(!store.blob_for_item(SHA, "i1").await.unwrap());
    assert_eq!(
        rows(store.quarantined_blobs(None, 10).await.unwrap()),
        both[1..].to_vec()
    );
    store
        .quarantine_blob(SHA, "i3", "Eicar-Test-Signature", "2026-12-06T14:00:00Z")
        .await
        .unwrap();
    assert_eq!(store.blob_quarantine(SHA, Some("i3")).await.unwrap(), None);
    assert!(store.missing_blobs(None, 10).await.unwrap().is_empty());
    assert_eq!(
        store
            .release_blob_quarantine(&whole, &["i1".to_owned()], None)
            .await
            .unwrap(),
        vec!["i1".to_owned()]
    );
    assert!(
        store
            .release_blob_quarantine(&whole, &["i1".to_owned()], None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.quarantined_blobs(None, 10).await.unwrap().is_empty());
    assert_eq!(store.blob_quarantine(SHA, None).await.unwrap(), None);
    assert!(store.blob_for_item(SHA, "i1").await.unwrap());
    // The check asked for before the file was whole never came to count.
    assert!(!store.blob_for_item(SHA, "i9").await.unwrap());
}

/// Files held whole are listed in hash order; one the scanner flags after it was kept is no
/// longer whole, checked or searchable, and is quarantined for each item it was checked for,
/// its chunks kept; an upload checked for no item goes altogether.
pub async fn held_blobs_flagged_later(store: &dyn Store) {
    let orphan = "1".repeat(64);
    for (sha, bytes) in [
        (SHA, &b"held for two owners"[..]),
        (&orphan[..], b"never attached"),
    ] {
        store.put_blob_chunk(sha, 0, bytes, OLD).await.unwrap();
        let b = BlobInfo {
            sha256: sha.into(),
            size: bytes.len() as u64,
            stored_at: "2026-12-05T10:00:00Z".into(),
        };
        store.complete_blob(&b, Some("alice@EU")).await.unwrap();
        store.put_blob_text(sha, "text").await.unwrap();
    }
    store.verify_blob_for_item(SHA, "post:t:p").await.unwrap();
    store.verify_blob_for_item(SHA, "i1").await.unwrap();
    let held: Vec<String> = store
        .held_blobs(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.sha256)
        .collect();
    assert_eq!(held, vec![SHA.to_owned(), orphan.clone()]);
    let after = store.held_blobs(Some(SHA), 10).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].sha256, orphan);
    assert_eq!(after[0].size, 14);
    assert_eq!(store.held_blobs(None, 1).await.unwrap().len(), 1);

    let at = "2026-12-06T10:00:00Z";
    assert_eq!(
        store
            .quarantine_held_blob(SHA, "Eicar-Test-Signature", at)
            .await
            .unwrap(),
        vec!["i1".to_owned(), "post:t:p".to_owned()]
    );
    assert_eq!(store.blob(SHA).await.unwrap(), None);
    assert!(!store.blob_for_item(SHA, "i1").await.unwrap());
    assert_eq!(store.blob_text(SHA).await.unwrap(), None);
    assert_eq!(
        store.blob_chunk_indexes(SHA).await.unwrap(),
        vec![0],
        "evidence kept"
    );
    assert_eq!(
        store
            .blob_quarantine(SHA, Some("post:t:p"))
            .await
            .unwrap()
            .as_deref(),
        Some("Eicar-Test-Signature")
    );
    assert_eq!(store.quarantined_blobs(None, 10).await.unwrap().len(), 2);

    assert!(
        store
            .quarantine_held_blob(&orphan, "Eicar-Test-Signature", at)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.blob(&orphan).await.unwrap(), None);
    assert!(store.blob_chunk_indexes(&orphan).await.unwrap().is_empty());
    assert!(!store.blob_uploaded_by(&orphan, "alice@EU").await.unwrap());
    assert_eq!(store.blob_quarantine(&orphan, None).await.unwrap(), None);
    assert!(store.held_blobs(None, 10).await.unwrap().is_empty());
    // A file no longer whole (gone since the scan read it) is not held aside again.
    assert!(
        store
            .quarantine_held_blob(SHA, "Other", at)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .blob_quarantine(SHA, Some("i1"))
            .await
            .unwrap()
            .as_deref(),
        Some("Eicar-Test-Signature")
    );
    // Released by an admin whatever the scanner says: whole, and left out of the held files a
    // scan of every one goes through.
    let b = BlobInfo {
        sha256: SHA.into(),
        size: 19,
        stored_at: at.into(),
    };
    assert_eq!(
        store
            .release_blob_quarantine(&b, &["i1".to_owned()], Some(at))
            .await
            .unwrap(),
        vec!["i1".to_owned()]
    );
    assert!(store.blob_for_item(SHA, "i1").await.unwrap());
    assert!(!store.blob_for_item(SHA, "post:t:p").await.unwrap());
    assert!(store.held_blobs(None, 10).await.unwrap().is_empty());
}

/// Files held whole that nothing references, was checked for or quarantined, kept before the
/// cut-off, are dropped with their chunks, uploaders and text; an upload of the same bytes
/// makes an old copy new again.
pub async fn abandoned_uploads_dropped(store: &dyn Store) {
    let (old, fresh, checked, again) = (
        "a".repeat(64),
        "b".repeat(64),
        "c".repeat(64),
        "d".repeat(64),
    );
    for (sha, at) in [
        (&old, "2026-12-01T10:00:00.000Z"),
        (&fresh, "2026-12-06T10:00:00.000Z"),
        (&checked, "2026-12-01T10:00:00.000Z"),
        (&again, "2026-12-01T10:00:00.000Z"),
    ] {
        store.put_blob_chunk(sha, 0, b"bytes", OLD).await.unwrap();
        let b = BlobInfo {
            sha256: sha.clone(),
            size: 5,
            stored_at: at.into(),
        };
        store.complete_blob(&b, Some("alice@EU")).await.unwrap();
        store.put_blob_text(sha, "text").await.unwrap();
    }
    store.verify_blob_for_item(&checked, "i1").await.unwrap();
    // Uploaded again later: its time moves; completed by a transfer, it would not.
    let b = BlobInfo {
        sha256: again.clone(),
        size: 5,
        stored_at: "2026-12-06T11:00:00.000Z".into(),
    };
    store.complete_blob(&b, Some("bob@EU")).await.unwrap();
    assert_eq!(store.blob(&again).await.unwrap(), Some(b));
    let t = BlobInfo {
        sha256: fresh.clone(),
        size: 5,
        stored_at: "2026-12-06T12:00:00.000Z".into(),
    };
    store.complete_blob(&t, None).await.unwrap();
    assert_eq!(
        store.blob(&fresh).await.unwrap().unwrap().stored_at,
        "2026-12-06T10:00:00.000Z"
    );

    let cut = "2026-12-05T10:00:00.000Z";
    assert_eq!(
        store.drop_abandoned_blobs(cut, 10).await.unwrap(),
        vec![old.clone()]
    );
    assert_eq!(store.blob(&old).await.unwrap(), None);
    assert!(store.blob_chunk_indexes(&old).await.unwrap().is_empty());
    assert!(!store.blob_uploaded_by(&old, "alice@EU").await.unwrap());
    assert_eq!(store.blob_text(&old).await.unwrap(), None);
    for kept in [&fresh, &checked, &again] {
        assert!(store.blob(kept).await.unwrap().is_some());
    }
    assert!(
        store
            .drop_abandoned_blobs(cut, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

fn d_head(es: &[ParsedEntry]) -> LogHead {
    let l = es.last().expect("entries");
    LogHead {
        seq: l.header.seq,
        hash: l.hash,
    }
}

/// Chunks of a file not held whole that nothing references or holds aside (an upload cut off
/// before it completed), none written since the cut-off, are dropped; the chunks of a file on
/// its way from a peer (referenced by an item), of a quarantined file, of a whole one, and
/// chunks written since the cut-off stay.
pub async fn cut_off_uploads_dropped(store: &dyn Store) {
    let (cut_off, recent, arriving, held_aside, whole) = (
        "a".repeat(64),
        "b".repeat(64),
        SHA.to_owned(),
        "c".repeat(64),
        "d".repeat(64),
    );
    let cut = "2026-12-05T10:00:00.000Z";
    for (sha, at) in [
        (&cut_off, OLD),
        (&recent, "2026-12-06T10:00:00.000Z"),
        (&arriving, OLD),
        (&held_aside, OLD),
        (&whole, OLD),
    ] {
        store.put_blob_chunk(sha, 0, b"first", at).await.unwrap();
        store.put_blob_chunk(sha, 1, b"second", at).await.unwrap();
    }
    // A file referenced by an item, its transfer from a peer not finished.
    let key = NodeKey::generate().expect("key");
    let a = aud(&["EU", "JPN"]);
    let d = LogDescriptor::new(code("EU"), a.clone());
    let es = entries(&key, "EU", &a, LogHead::EMPTY, 1);
    let mut it = item("i1", "fmt-1", &a, ItemKind::Report, &[], Tlp::Green);
    it.attachments = vec![AttachmentRef {
        sha256: arriving.clone(),
        size: 3 << 20,
        name: "事後報告書.pdf".into(),
        media_type: "application/pdf".into(),
    }];
    store
        .append(&d, LogHead::EMPTY, &es, &[Projection::Item(it)])
        .await
        .unwrap();
    // A file the scanner flagged for an item, held aside (its chunks are the evidence).
    store
        .quarantine_blob(&held_aside, "i2", "Eicar-Test-Signature", OLD)
        .await
        .unwrap();
    // A file held whole, checked for an item.
    let b = BlobInfo {
        sha256: whole.clone(),
        size: 11,
        stored_at: OLD.into(),
    };
    store.complete_blob(&b, None).await.unwrap();
    store.verify_blob_for_item(&whole, "i3").await.unwrap();

    assert_eq!(
        store.drop_abandoned_blobs(cut, 10).await.unwrap(),
        vec![cut_off.clone()]
    );
    assert!(store.blob_chunk_indexes(&cut_off).await.unwrap().is_empty());
    for kept in [&recent, &arriving, &held_aside, &whole] {
        assert_eq!(
            store.blob_chunk_indexes(kept).await.unwrap(),
            vec![0, 1],
            "{kept}"
        );
    }
    assert!(
        store
            .drop_abandoned_blobs(cut, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A day later, the recent one has become a cut-off upload too.
    assert_eq!(
        store
            .drop_abandoned_blobs("2026-12-07T10:00:00.000Z", 10)
            .await
            .unwrap(),
        vec![recent.clone()]
    );
}
