//! Attachments: a file attached at EU to an item released to {EU, JPN} downloads byte-identical
//! at JPN with its Japanese name, as a file to save (never shown), and is absent from every
//! NATO answer, NATO's disk and what EU serves NATO; only its uploader can attach a file; a
//! transfer that stopped halfway resumes with the chunks still missing; bytes that do not hash
//! to the signed reference are never kept, even when a peer left them before an upload; a file
//! is served only through an item it was checked for, never because another item names its hash.

mod common;

use common::*;
use entente_domain::attachment::CHUNK_BYTES;
use entente_domain::partner::code;
use entente_node::NewAttachment;
use entente_node::auth::Principal;
use entente_testkit::{Cluster, ClusterOptions, TestNode};
use sha2::{Digest, Sha256};

/// A real PDF of about `len` bytes: one page saying `words` (Helvetica), padded with a stream
/// of pseudo-random bytes that also carries `marker`, to look for on disks.
fn pdf(len: usize, marker: &str) -> Vec<u8> {
    pdf_saying(len, marker, "Ferry capacity annex")
}

fn pdf_saying(len: usize, marker: &str, words: &str) -> Vec<u8> {
    let content = format!("BT /F1 12 Tf 72 720 Td ({words}) Tj ET");
    let mut pad = format!("{marker}\n").into_bytes();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while pad.len() < len.saturating_sub(1000) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pad.extend_from_slice(&x.to_le_bytes());
    }
    let stream = |body: &[u8]| {
        let mut o = format!("<< /Length {} >>\nstream\n", body.len()).into_bytes();
        o.extend_from_slice(body);
        o.extend_from_slice(b"\nendstream");
        o
    };
    let objs: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
        stream(content.as_bytes()),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
        stream(&pad),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = vec![];
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

async fn hits(n: &TestNode, q: &str) -> Vec<String> {
    n.node.search_settled().await;
    let r = n
        .node
        .search(
            &n.admin(),
            entente_node::search::SearchRequest {
                q: q.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    r.hits.into_iter().map(|h| h.id).collect()
}

async fn chunks_served(n: &TestNode) -> u64 {
    metrics_text(n)
        .await
        .lines()
        .filter(|l| {
            l.starts_with("entente_http_requests_total{")
                && l.contains("/attachments/{sha256}/chunks/{index}")
                && l.contains("status=\"200\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn metrics_text(n: &TestNode) -> String {
    n.http()
        .get(format!("{}/metrics", n.url()))
        .bearer_auth(&n.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_reaches_exactly_the_items_audience_byte_identical() {
    let opts = ClusterOptions {
        search: true,
        ..Default::default()
    };
    let c = Cluster::with(&["EU", "NATO", "JPN"], opts).await.unwrap();
    let (eu, nato, jpn) = (c.node("EU"), c.node("NATO"), c.node("JPN"));
    let f = format(
        eu,
        "Transatlantic+ Japan — maritime",
        &["EU", "NATO", "JPN"],
    )
    .await;
    c.sync_until_quiet().await;

    let marker = "Veldra-ferry-capacity-AMBER-annex";
    let bytes = pdf_saying(20 << 20, marker, "Ferry capacity annex quokkafjord");
    let sha = hex::encode(Sha256::digest(&bytes));
    let up = upload(eu, &bytes).await;
    assert_eq!(up["sha256"], sha.as_str());
    assert_eq!(up["size"], bytes.len() as u64);
    assert_eq!(up["media_type"], "application/pdf");
    let name = "事後報告書 フェリー演習.pdf";
    let it = item_with_file(eu, &f.format_id, &sha, name, &["EU", "JPN"]).await;
    let id = it["id"].as_str().unwrap().to_owned();
    assert_eq!(it["attachments"][0]["name"], name);

    c.sync_until_quiet().await;
    eventually("the file whole at JPN", async || {
        jpn.node.store().blob(&sha).await.unwrap().is_some()
    })
    .await;
    let r = download(jpn, &id, &sha).await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let cd = h["content-disposition"].to_str().unwrap();
    assert!(cd.starts_with("attachment; "), "{cd}");
    assert!(
        cd.contains("filename*=UTF-8''%E4%BA%8B%E5%BE%8C%E5%A0%B1%E5%91%8A%E6%9B%B8%20"),
        "the Japanese name kept: {cd}"
    );
    let got = r.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&got)), sha, "byte-identical");

    // Its text is found by search at JPN (and at EU), never at NATO.
    eventually("the PDF's text searchable at JPN", async || {
        hits(jpn, "quokkafjord").await == vec![id.clone()]
    })
    .await;
    assert_eq!(hits(eu, "quokkafjord").await, vec![id.clone()]);
    assert!(hits(nato, "quokkafjord").await.is_empty());

    // STIX: JPN's export of the format carries the file as an `artifact` (the id STIX tools
    // derive from its hash, JPN's download URL, the detected type, the item's markings) related
    // to the item, whose object lists the file; the URL gives the bytes. NATO's has none of it.
    let export = |n: &TestNode| {
        let url = format!("{}/api/v1/formats/{}/stix", n.url(), f.format_id);
        let (http, token) = (n.http(), n.token.clone());
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    let bundle: serde_json::Value = serde_json::from_str(&export(jpn).await).unwrap();
    let objects = bundle["objects"].as_array().unwrap();
    let artifact = objects
        .iter()
        .find(|o| o["type"] == "artifact")
        .expect("an artifact for the PDF");
    assert_eq!(
        artifact["id"],
        entente_domain::stix::artifact_id(&sha).as_str()
    );
    assert_eq!(artifact["hashes"]["SHA-256"], sha.as_str());
    assert_eq!(artifact["mime_type"], "application/pdf");
    let item_obj = objects
        .iter()
        .find(|o| o["external_references"][0]["hashes"]["SHA-256"] == sha.as_str())
        .expect("the item's object lists its file");
    assert_eq!(item_obj["external_references"][0]["description"], name);
    assert_eq!(
        artifact["object_marking_refs"],
        item_obj["object_marking_refs"]
    );
    let rel = objects
        .iter()
        .find(|o| o["type"] == "relationship" && o["target_ref"] == artifact["id"])
        .expect("the item is related to its artifact");
    assert_eq!(rel["source_ref"], item_obj["id"]);
    let url = artifact["url"].as_str().unwrap();
    // The test's nodes listen on ports chosen at start, not on their configured public URL.
    let path = url
        .strip_prefix(&jpn.node.config().public_url)
        .unwrap_or_else(|| panic!("{url} is at JPN's public URL"));
    let r = jpn
        .http()
        .get(format!("{}{path}", jpn.url()))
        .bearer_auth(&jpn.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(hex::encode(Sha256::digest(r.bytes().await.unwrap())), sha);
    let at_nato = export(nato).await;
    assert!(!at_nato.contains(&sha) && !at_nato.contains("\"artifact\""));
    // A Japanese text file: a two-character word inside an unspaced sentence finds its item.
    let note = "フェリー演習の所見：サイバー攻撃が発生しました。港湾の輸送能力は十分でした。";
    let up = upload(eu, note.as_bytes()).await;
    assert_eq!(up["media_type"], "text/plain");
    let sha_note = up["sha256"].as_str().unwrap().to_owned();
    let it2 = item_with_file(eu, &f.format_id, &sha_note, "所見.txt", &["EU", "JPN"]).await;
    let id2 = it2["id"].as_str().unwrap().to_owned();
    c.sync_until_quiet().await;
    eventually("the note's text searchable at JPN", async || {
        hits(jpn, "攻撃").await == vec![id2.clone()]
    })
    .await;
    assert!(hits(nato, "攻撃").await.is_empty());

    // NATO: not the item, not the file, not its bytes on disk, and EU serves it no chunk.
    assert!(!has_item(nato, &id).await);
    assert_eq!(download(nato, &id, &sha).await.status(), 404);
    assert!(nato.node.store().blob(&sha).await.unwrap().is_none());
    assert!(
        nato.node
            .store()
            .blob_chunk(&sha, 0)
            .await
            .unwrap()
            .is_none()
    );
    let disk = db_bytes(nato);
    assert!(
        !disk.windows(marker.len()).any(|w| w == marker.as_bytes()),
        "the file's bytes are not on NATO's disk"
    );
    let to_nato = eu
        .node
        .fed_attachment_chunk(&code("NATO"), &id, &sha, 0)
        .await;
    assert!(to_nato.is_err(), "EU serves NATO no chunk");
    assert!(
        eu.node
            .fed_attachment_chunk(&code("JPN"), &id, &sha, 0)
            .await
            .is_ok()
    );

    // Only the uploader may attach a file: another EU user naming its hash learns nothing.
    let bob = Principal {
        username: "bob".into(),
        role: entente_domain::Role::Analyst,
        partner: code("EU"),
    };
    let e = eu
        .node
        .attachment_refs(
            &bob,
            &[NewAttachment {
                sha256: sha.clone(),
                name: "x.pdf".into(),
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "attachment not found");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_transfer_resumes_and_bad_bytes_are_never_kept() {
    let c = Cluster::new(&["EU", "JPN"]).await.unwrap();
    let (eu, jpn) = (c.node("EU"), c.node("JPN"));
    let f = format(eu, "Transatlantic+ Japan — cyber", &["EU", "JPN"]).await;
    c.sync_until_quiet().await;

    // Five chunks, of which JPN already holds the first two when the item arrives (as after a
    // transfer cut after two chunks): only the three missing ones are sent.
    let bytes = pdf(4 * CHUNK_BYTES as usize + 1000, "resume-marker");
    let sha = hex::encode(Sha256::digest(&bytes));
    upload(eu, &bytes).await;
    let it = item_with_file(eu, &f.format_id, &sha, "report.pdf", &["EU", "JPN"]).await;
    let id = it["id"].as_str().unwrap().to_owned();
    let chunk = |i: usize| {
        bytes[i * CHUNK_BYTES as usize..((i + 1) * CHUNK_BYTES as usize).min(bytes.len())].to_vec()
    };
    let js = jpn.node.store();
    // Written now, as a transfer would have: an hourly pass must not take them for the chunks
    // of an upload cut off long ago before the item arrives.
    let now =
        entente_node::clock::rfc3339(entente_node::clock::Clock::now(jpn.node.clock().as_ref()));
    js.put_blob_chunk(&sha, 0, &chunk(0), &now).await.unwrap();
    js.put_blob_chunk(&sha, 1, &chunk(1), &now).await.unwrap();
    let before = chunks_served(eu).await;
    c.sync_until_quiet().await;
    eventually("the file whole at JPN", async || {
        js.blob(&sha).await.unwrap().is_some()
    })
    .await;
    assert_eq!(
        chunks_served(eu).await - before,
        3,
        "only the three missing chunks were sent"
    );
    let got = download(jpn, &id, &sha).await.bytes().await.unwrap();
    assert_eq!(&got[..], &bytes[..]);

    // A second file, and a chunk at JPN that is not the origin's (a corrupted transfer): the
    // whole does not hash to the signed reference, so nothing is kept and it is fetched again.
    let bytes2 = pdf(2 * CHUNK_BYTES as usize + 10, "second-marker");
    let sha2 = hex::encode(Sha256::digest(&bytes2));
    upload(eu, &bytes2).await;
    let mut wrong = bytes2[..CHUNK_BYTES as usize].to_vec();
    wrong[100] ^= 0xFF;
    js.put_blob_chunk(&sha2, 0, &wrong, &now).await.unwrap();
    let it2 = item_with_file(eu, &f.format_id, &sha2, "second.pdf", &["EU", "JPN"]).await;
    let id2 = it2["id"].as_str().unwrap().to_owned();
    c.sync_until_quiet().await;
    eventually("the second file whole at JPN", async || {
        if js.blob(&sha2).await.unwrap().is_some() {
            return true;
        }
        // The bad pass dropped the chunks; the next one (each sync round starts one) fetches
        // them all again.
        let _ = jpn.node.fetch_missing_attachments().await;
        false
    })
    .await;
    let got = download(jpn, &id2, &sha2).await.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&got)), sha2);

    // A peer's unfinished transfer left a bad chunk of a file at EU; a user then uploads the
    // real file: what EU keeps and serves is the upload's bytes.
    let bytes3 = pdf(CHUNK_BYTES as usize + 500, "third-marker");
    let sha3 = hex::encode(Sha256::digest(&bytes3));
    eu.node
        .store()
        .put_blob_chunk(
            &sha3,
            0,
            &vec![0u8; CHUNK_BYTES as usize],
            "2026-12-01T09:00:00.000Z",
        )
        .await
        .unwrap();
    upload(eu, &bytes3).await;
    let it3 = item_with_file(eu, &f.format_id, &sha3, "third.pdf", &["EU", "JPN"]).await;
    let id3 = it3["id"].as_str().unwrap().to_owned();
    let got = download(eu, &id3, &sha3).await.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&got)), sha3);
    c.stop().await;
}

/// NATO names, in its own item for {NATO, JPN}, the hash of a file JPN received in EU's item for
/// {EU, JPN}: JPN serves NATO nothing through it, shows its users nothing through it, and keeps
/// its text out of NATO's item. A revision naming a file with a direction override is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_hash_named_in_another_item_gets_nothing() {
    let opts = ClusterOptions {
        search: true,
        ..Default::default()
    };
    let c = Cluster::with(&["EU", "NATO", "JPN"], opts).await.unwrap();
    let (eu, nato, jpn) = (c.node("EU"), c.node("NATO"), c.node("JPN"));
    let f = format(
        eu,
        "Transatlantic+ Japan — maritime",
        &["EU", "NATO", "JPN"],
    )
    .await;
    c.sync_until_quiet().await;
    let bytes = pdf_saying(
        300_000,
        "known-hash-marker",
        "Ferry capacity annex wombatport",
    );
    let sha = hex::encode(Sha256::digest(&bytes));
    upload(eu, &bytes).await;
    let a = item_with_file(eu, &f.format_id, &sha, "annex.pdf", &["EU", "JPN"]).await;
    let a_id = a["id"].as_str().unwrap().to_owned();
    c.sync_until_quiet().await;
    eventually("the file checked for EU's item at JPN", async || {
        jpn.node.store().blob_for_item(&sha, &a_id).await.unwrap()
    })
    .await;

    // NATO's node signs an item naming that hash (it never had the bytes).
    let aud = entente_domain::Audience::new([code("NATO"), code("JPN")]).unwrap();
    let r = entente_domain::attachment::AttachmentRef {
        sha256: sha.clone(),
        size: bytes.len() as u64,
        name: "x.pdf".into(),
        media_type: "application/pdf".into(),
    };
    let b_id = entente_node::new_id();
    let publish = entente_domain::payload::ItemPublish {
        released_from: None,
        item_id: b_id.clone(),
        format_id: f.format_id.clone(),
        kind: entente_domain::ItemKind::Note,
        title: "probe".into(),
        body: String::new(),
        topics: vec![],
        tlp: Some(entente_domain::Tlp::Green),
        named_users: vec![],
        author: "admin@NATO".into(),
        attachments: vec![r.clone()],
    };
    let p = entente_domain::Payload::ItemPublish(publish);
    nato.node.publish(&aud, &[p]).await.unwrap();
    c.sync_until_quiet().await;
    eventually("NATO's item at JPN", async || has_item(jpn, &b_id).await).await;
    jpn.node.fetch_missing_attachments().await.unwrap();

    let path = entente_node::fed::attachment_chunk_path(&b_id, &sha, 0);
    let r404 = fed_get(nato, Some(&nato.key_seed), jpn, &path).await;
    assert_eq!(
        r404.status(),
        404,
        "JPN serves NATO nothing through NATO's item"
    );
    assert!(!jpn.node.store().blob_for_item(&sha, &b_id).await.unwrap());
    assert_eq!(download(jpn, &b_id, &sha).await.status(), 409);
    assert_eq!(download(jpn, &a_id, &sha).await.status(), 200);
    assert_eq!(hits(jpn, "wombatport").await, vec![a_id.clone()]);

    // A revision whose file name carries a direction override does not apply at JPN.
    let mut evil = r.clone();
    evil.name = "invoice\u{202e}fdp.exe".into();
    let revise = entente_domain::payload::ItemRevise {
        item_id: b_id.clone(),
        title: "probe".into(),
        body: String::new(),
        topics: vec![],
        author: "admin@NATO".into(),
        attachments: Some(vec![evil]),
    };
    let p = entente_domain::Payload::ItemRevise(revise);
    nato.node.publish(&aud, &[p]).await.unwrap();
    c.sync_until_quiet().await;
    let held = jpn.node.store().item(&b_id).await.unwrap().unwrap();
    assert_eq!(held.attachments, vec![r]);
    assert_eq!(held.revision, 1);
    c.stop().await;
}

/// What the test scanners report: a file carrying this marker anywhere is "malware".
const MALWARE_MARKER: &str = "ENTENTE-TEST-MALWARE-7f3a9c";

/// A stand-in for `clamd` (see [`FakeClamd`]) that finds [`MALWARE_MARKER`]; while `down` is
/// set it scans nothing, and while `blind` is set it finds nothing (as before a signature
/// update that knows the marker).
async fn fake_clamd(
    dir: &std::path::Path,
) -> (
    entente_node::config::Clamd,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let f = FakeClamd::start(dir, MALWARE_MARKER);
    (f.clamd, f.down, f.blind)
}

/// Debian's `clamd` with a database of one signature, [`MALWARE_MARKER`], on a Unix socket in
/// `dir`; None when clamd is not installed (then the test says so, and fails if
/// `CLAMD_REQUIRED` is set, as in CI).
async fn real_clamd(dir: &std::path::Path) -> Option<(entente_node::config::Clamd, KillOnDrop)> {
    let bin = ["/usr/sbin/clamd", "/usr/bin/clamd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(bin) = bin else {
        assert!(
            std::env::var_os("CLAMD_REQUIRED").is_none(),
            "clamd is not installed (apt-get install clamav-daemon)"
        );
        eprintln!("clamd is not installed: the test with the real scanner is skipped");
        return None;
    };
    let db = dir.join("db");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(
        db.join("entente.ndb"),
        format!(
            "Entente-Test-Signature:0:*:{}\n",
            hex::encode(MALWARE_MARKER)
        ),
    )
    .unwrap();
    let sock = dir.join("clamd.sock");
    let conf = dir.join("clamd.conf");
    std::fs::write(
        &conf,
        format!(
            "Foreground yes\nDatabaseDirectory {}\nLocalSocket {}\nStreamMaxLength 200M\nMaxFileSize 200M\nMaxScanSize 400M\nAlertExceedsMax yes\nLogFile {}\n",
            db.display(),
            sock.display(),
            dir.join("clamd.log").display()
        ),
    )
    .unwrap();
    let child = std::process::Command::new(bin)
        .arg(format!("--config-file={}", conf.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(child);
    eventually("clamd answers PING", async || {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(mut s) = tokio::net::UnixStream::connect(&sock).await else {
            return false;
        };
        let mut got = Vec::new();
        s.write_all(b"zPING\0").await.is_ok()
            && s.read_to_end(&mut got).await.is_ok()
            && got == b"PONG\0"
    })
    .await;
    Some((entente_node::config::Clamd::Unix(sock), guard))
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A file with the marker inside some ordinary text.
fn infected() -> Vec<u8> {
    format!("Ferry timetable, week 49.\n{MALWARE_MARKER}\nEnd of timetable.\n").into_bytes()
}

/// JPN scans with `scanner`, EU does not: EU's users can attach anything. At JPN an upload
/// carrying malware is refused (422, nothing stored); a received file carrying it is
/// quarantined (never whole, never downloaded, served or searched, not fetched again, shown as
/// withheld); a clean file arrives as before.
async fn scanned_at_jpn(scanner: entente_node::config::Clamd, finding: &str) -> Cluster {
    let opts = ClusterOptions {
        search: true,
        malware_scan: [("JPN".to_owned(), scanner)].into(),
        ..Default::default()
    };
    let c = Cluster::with(&["EU", "JPN"], opts).await.unwrap();
    let (eu, jpn) = (c.node("EU"), c.node("JPN"));
    let f = format(eu, "Transatlantic+ Japan — cyber", &["EU", "JPN"]).await;
    c.sync_until_quiet().await;

    let bad = infected();
    let bad_sha = hex::encode(Sha256::digest(&bad));
    let r = post_file(jpn, &bad).await;
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malware_found");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains(finding), "{msg}");
    let js = jpn.node.store();
    assert!(js.blob(&bad_sha).await.unwrap().is_none());
    assert!(js.blob_chunk_indexes(&bad_sha).await.unwrap().is_empty());

    // EU (no scanner) attaches it and a clean file; JPN quarantines the one, keeps the other.
    upload(eu, &bad).await;
    let it = item_with_file(eu, &f.format_id, &bad_sha, "timetable.txt", &["EU", "JPN"]).await;
    let bad_id = it["id"].as_str().unwrap().to_owned();
    let good = b"Ferry timetable, week 50: capybaraharbour departures as planned.\n".to_vec();
    let good_sha = hex::encode(Sha256::digest(&good));
    upload(eu, &good).await;
    let it = item_with_file(eu, &f.format_id, &good_sha, "week50.txt", &["EU", "JPN"]).await;
    let good_id = it["id"].as_str().unwrap().to_owned();
    c.sync_until_quiet().await;
    eventually("the clean file whole at JPN", async || {
        js.blob_for_item(&good_sha, &good_id).await.unwrap()
    })
    .await;
    eventually("the infected file quarantined at JPN", async || {
        js.blob_quarantine(&bad_sha, Some(&bad_id))
            .await
            .unwrap()
            .is_some()
    })
    .await;
    assert!(
        js.blob_quarantine(&bad_sha, Some(&bad_id))
            .await
            .unwrap()
            .unwrap()
            .contains(finding)
    );
    assert!(js.blob(&bad_sha).await.unwrap().is_none(), "never whole");
    assert!(!js.blob_for_item(&bad_sha, &bad_id).await.unwrap());
    assert!(
        js.missing_blobs(None, 10).await.unwrap().is_empty(),
        "not fetched again"
    );
    let r = download(jpn, &bad_id, &bad_sha).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("withheld"));
    assert!(
        jpn.node
            .fed_attachment_chunk(&code("EU"), &bad_id, &bad_sha, 0)
            .await
            .is_err(),
        "JPN serves no chunk of it"
    );
    assert_eq!(download(jpn, &good_id, &good_sha).await.status(), 200);
    assert_eq!(hits(jpn, "capybaraharbour").await, vec![good_id.clone()]);
    assert!(
        hits(jpn, "week").await.iter().all(|h| *h != bad_id),
        "a quarantined file's text is not read"
    );
    // The item page lists the file as withheld, with what the scanner found.
    let page = admin_page(jpn, &format!("/ui/items/{bad_id}")).await;
    assert!(page.contains("withheld"), "{page}");
    assert!(page.contains(finding));
    assert!(!page.contains(&format!("/attachments/{bad_sha}")));
    let text = metrics_text(jpn).await;
    assert!(
        text.contains("entente_attachments_quarantined_total 1\n"),
        "{text}"
    );

    // The same bytes in a second EU item: JPN asks EU for them as for any file (whether it asks
    // must not tell a peer what it received for other items), then withholds them there too.
    let before = chunks_served(eu).await;
    let it = item_with_file(eu, &f.format_id, &bad_sha, "again.txt", &["EU", "JPN"]).await;
    let again = it["id"].as_str().unwrap().to_owned();
    c.sync_until_quiet().await;
    eventually("the second item's copy withheld at JPN", async || {
        js.blob_quarantine(&bad_sha, Some(&again))
            .await
            .unwrap()
            .is_some()
    })
    .await;
    assert_eq!(chunks_served(eu).await - before, 1, "JPN asked EU for it");
    assert_eq!(download(jpn, &again, &bad_sha).await.status(), 409);
    // And a JPN user uploading those bytes is refused.
    let r = post_file(jpn, &bad).await;
    assert_eq!(r.status(), 422);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_malware_scanner_refuses_and_quarantines() {
    let dir = tempfile::tempdir().unwrap();
    let (scanner, down, _) = fake_clamd(dir.path()).await;
    let c = scanned_at_jpn(scanner, "Entente-Test-Signature").await;
    let (eu, jpn) = (c.node("EU"), c.node("JPN"));
    let f = eu.node.store().formats().await.unwrap().remove(0);

    // The scanner down: an upload is refused (503), a received file is not accepted, and it
    // arrives once the scanner is back.
    down.store(true, std::sync::atomic::Ordering::SeqCst);
    let r = post_file(jpn, b"a clean note").await;
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "scanner_unavailable");
    assert_eq!(
        body["error"]["message"],
        "the malware scanner is not available; the file was not accepted, try again later",
        "no detail of the scanner's whereabouts"
    );
    let later = b"Ferry timetable, week 51.\n".to_vec();
    let sha = hex::encode(Sha256::digest(&later));
    upload(eu, &later).await;
    let it = item_with_file(eu, &f.format_id, &sha, "week51.txt", &["EU", "JPN"]).await;
    let id = it["id"].as_str().unwrap().to_owned();
    c.sync_until_quiet().await;
    eventually("JPN tried the file", async || {
        has_item(jpn, &id).await && {
            jpn.node.fetch_missing_attachments().await.unwrap();
            jpn.node
                .store()
                .blob_chunk_indexes(&sha)
                .await
                .unwrap()
                .len()
                == 1
        }
    })
    .await;
    assert!(!jpn.node.store().blob_for_item(&sha, &id).await.unwrap());
    assert_eq!(download(jpn, &id, &sha).await.status(), 409);
    down.store(false, std::sync::atomic::Ordering::SeqCst);
    eventually("the file accepted once the scanner is back", async || {
        let _ = jpn.node.fetch_missing_attachments().await;
        jpn.node.store().blob_for_item(&sha, &id).await.unwrap()
    })
    .await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debians_clamd_refuses_and_quarantines() {
    let dir = tempfile::tempdir().unwrap();
    let Some((scanner, _clamd)) = real_clamd(dir.path()).await else {
        return;
    };
    let c = scanned_at_jpn(scanner, "Entente-Test-Signature").await;
    // A new scan of the held-aside chunks by the real scanner finds it again: still held.
    let jpn = c.node("JPN");
    let sha = hex::encode(Sha256::digest(infected()));
    let r = jpn
        .http()
        .post(format!("{}/api/v1/quarantine/{sha}/rescan", jpn.url()))
        .bearer_auth(&jpn.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["released"], false, "{v}");
    // clamd names a signature of a database of one's own `NAME.UNOFFICIAL`.
    assert!(
        v["finding"]
            .as_str()
            .is_some_and(|f| f.starts_with("Entente-Test-Signature")),
        "{v}"
    );
    c.stop().await;
}

/// JPN's admin looks after the quarantine: the files are listed (to admins only, and only for
/// objects the admin may see); a new scan that still finds something keeps the file held; once
/// the scanner finds nothing the file is released for both items the admin sees, downloads
/// byte-identical, and its text is found, while it stays held for an item named for another
/// user. A file the scanner still flags is released from the admin page with a reason (none,
/// or one over what the audit keeps: refused), and every decision is in the audit trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_scans_a_quarantined_file_again_or_releases_it() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().unwrap();
    let (scanner, _down, blind) = fake_clamd(dir.path()).await;
    let c = scanned_at_jpn(scanner, "Entente-Test-Signature").await;
    let (eu, jpn) = (c.node("EU"), c.node("JPN"));
    let bad = infected();
    let bad_sha = hex::encode(Sha256::digest(&bad));
    // The same bytes on a TLP:RED item named for JPN's analyst, whom the admin is not.
    let f = eu.node.store().formats().await.unwrap().remove(0);
    let r = eu
        .http()
        .post(format!("{}/api/v1/items", eu.url()))
        .bearer_auth(&eu.token)
        .json(&serde_json::json!({
            "format_id": f.format_id, "kind": "report", "title": "Named sample",
            "tlp": "RED", "releasable_to": ["EU", "JPN"], "named_users": ["analyst@JPN"],
            "topics": ["maritime-security"],
            "attachments": [{"sha256": bad_sha, "name": "named.txt"}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let hidden = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.sync_until_quiet().await;
    eventually("the named item's copy withheld at JPN", async || {
        let _ = jpn.node.fetch_missing_attachments().await;
        jpn.node
            .store()
            .blob_quarantine(&bad_sha, Some(&hidden))
            .await
            .unwrap()
            .is_some()
    })
    .await;
    let api = |path: &str| format!("{}/api/v1/quarantine{path}", jpn.url());
    let held = async || -> Vec<serde_json::Value> {
        let r = jpn
            .http()
            .get(api(""))
            .bearer_auth(&jpn.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    };
    let list = held().await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list.iter().all(|q| q["sha256"] == bad_sha.as_str()
        && q["finding"] == "Entente-Test-Signature"
        && q["kind"] == "item"));
    let items: Vec<String> = list
        .iter()
        .map(|q| {
            q["page"]
                .as_str()
                .unwrap()
                .trim_start_matches("/ui/items/")
                .to_owned()
        })
        .collect();

    // Not for anyone but an admin, and a file that is not held reads as not found.
    jpn.node
        .add_user("reader1", entente_domain::Role::Reader, "reader-password-1")
        .await
        .unwrap();
    let reader = jpn.node.principal_for("reader1").await.unwrap();
    assert!(matches!(
        jpn.node.quarantined_files(&reader).await,
        Err(entente_node::NodeError::Forbidden(_))
    ));
    let jn = std::sync::Arc::clone(&jpn.node);
    assert!(matches!(
        jn.release_quarantined(&reader, &bad_sha, "mine").await,
        Err(entente_node::NodeError::Forbidden(_))
    ));
    let post = async |path: String, body: serde_json::Value| {
        jpn.http()
            .post(path)
            .bearer_auth(&jpn.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    };
    let clean_sha = "0".repeat(64);
    let r = post(api(&format!("/{clean_sha}/rescan")), serde_json::json!({})).await;
    assert_eq!(r.status(), 404);

    // Scanned again while the signature still matches: held, and said so.
    let r = post(api(&format!("/{bad_sha}/rescan")), serde_json::json!({})).await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["released"], false);
    assert_eq!(v["finding"], "Entente-Test-Signature");
    assert_eq!(download(jpn, &items[0], &bad_sha).await.status(), 409);
    assert!(hits(jpn, "7f3a9c").await.is_empty());

    // The signature gone: scanned again, released for both items.
    blind.store(true, SeqCst);
    let r = post(
        api(&format!("/{}/rescan", bad_sha.to_uppercase())),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["released"], true, "{v}");
    assert!(held().await.is_empty());
    assert!(
        jpn.node
            .store()
            .blob_quarantine(&bad_sha, Some(&hidden))
            .await
            .unwrap()
            .is_some(),
        "still held for the item the admin may not see"
    );
    assert!(
        !jpn.node
            .store()
            .blob_for_item(&bad_sha, &hidden)
            .await
            .unwrap()
    );
    for id in &items {
        let r = download(jpn, id, &bad_sha).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().as_ref(), bad.as_slice());
    }
    eventually("the released file's text found", async || {
        let h = hits(jpn, "7f3a9c").await;
        items.iter().all(|i| h.contains(i))
    })
    .await;

    // A second file the scanner keeps flagging: the admin releases it from the admin page.
    blind.store(false, SeqCst);
    let sample = format!("Sample for the analysts.\n{MALWARE_MARKER}\n").into_bytes();
    let sample_sha = hex::encode(Sha256::digest(&sample));
    upload(eu, &sample).await;
    let it = item_with_file(
        eu,
        &f.format_id,
        &sample_sha,
        "サンプル.bin",
        &["EU", "JPN"],
    )
    .await;
    let sample_id = it["id"].as_str().unwrap().to_owned();
    c.sync_until_quiet().await;
    eventually("the sample quarantined at JPN", async || {
        let _ = jpn.node.fetch_missing_attachments().await;
        jpn.node
            .store()
            .blob_quarantine(&sample_sha, Some(&sample_id))
            .await
            .unwrap()
            .is_some()
    })
    .await;
    let (http, cookie) = sign_in(jpn, "admin", "admin-password-1").await;
    let page = async |path: &str| {
        let r = http
            .get(format!("{}{path}", jpn.url()))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    };
    let admin = page("/ui/admin").await;
    let list = &admin[admin
        .find("id=\"quarantine-list\"")
        .expect("the quarantine table")..];
    assert!(
        list.contains("サンプル.bin") && list.contains(&sample_sha),
        "{list}"
    );
    assert!(list.contains(&format!("/ui/items/{sample_id}")));
    let at = admin.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = admin[at..].split('"').next().unwrap().to_owned();
    let form = async |fields: &[(&str, &str)]| {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &csrf)
            .extend_pairs(fields)
            .finish();
        http.post(format!("{}/ui/admin/quarantine-release", jpn.url()))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    };
    let r = form(&[("sha256", &sample_sha), ("reason", "  ")]).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"reason-error\""));
    // A reason longer than the audit trail keeps whole is refused, not cut.
    let long = "安".repeat(90);
    let r = post(
        api(&format!("/{sample_sha}/release")),
        serde_json::json!({ "reason": long }),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(download(jpn, &sample_id, &sample_sha).await.status(), 409);
    let reason = format!(
        "A known sample, shared for the analysts {}",
        "安".repeat(60)
    );
    let r = form(&[("sha256", &sample_sha), ("reason", &reason)]).await;
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(to, "/ui/admin?done=quarantine-released");
    assert!(page(&to).await.contains("Released: the file is now served"));
    let r = download(jpn, &sample_id, &sample_sha).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), sample.as_slice());
    assert!(page("/ui/admin").await.contains("No file is held aside."));

    // Who decided what, and why.
    let audit = jpn.node.store().audit_records(0, 1000).await.unwrap();
    let of = |action: &str| -> Vec<String> {
        audit
            .iter()
            .filter(|a| a.action == action)
            .map(|a| format!("{}: {}", a.actor, a.detail))
            .collect()
    };
    let rescans = of("quarantine_rescan");
    assert_eq!(rescans.len(), 2, "{rescans:?}");
    assert!(rescans[0].contains("still found Entente-Test-Signature"));
    assert!(rescans[1].contains("nothing found, released for 2 objects"));
    let releases = of("quarantine_release");
    assert_eq!(releases.len(), 1, "{releases:?}");
    assert!(releases[0].starts_with("admin@JPN: "));
    assert!(releases[0].contains(&format!(
        "{sample_sha} (Entente-Test-Signature), for 1 objects"
    )));
    assert_eq!(
        of("quarantine_release_reason"),
        vec![format!("admin@JPN: {}: {reason}", &sample_sha[..12])],
        "the reason whole, naming the file"
    );

    // A scan of every held file leaves the sample the admin released be; the first file, which
    // was released because the scanner then found nothing, is flagged and held aside again.
    let status = scan_every_held_file(jpn).await;
    assert_eq!(status["flagged"], 1, "{status}");
    assert_eq!(status.get("error"), Some(&serde_json::Value::Null));
    assert_eq!(download(jpn, &sample_id, &sample_sha).await.status(), 200);
    assert_eq!(download(jpn, &items[0], &bad_sha).await.status(), 409);
    c.stop().await;
}

/// Two files attached at the same moment to one item, and to one post (two tabs of one
/// author): each attach reads the files, adds one and signs the whole list, so without one
/// change at a time the later signature drops the earlier file. The same for an attach beside
/// a revision of the item's text, which the attach's signature undid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_attached_at_the_same_moment_are_all_kept() {
    let c = Cluster::new(&["EU"]).await.unwrap();
    let eu = c.node("EU");
    let f = format(eu, "Files at once", &["EU"]).await;
    let admin = eu.admin();
    let it = item(eu, &f.format_id, "Item with files at once", None, None)
        .await
        .item_id;
    let t = eu
        .node
        .start_thread(
            &admin,
            entente_domain::coord::NewThread {
                attachments: vec![],
                format_id: f.format_id.clone(),
                title: "Files at once".into(),
                body: "Two tabs".into(),
                subject: None,
                releasable_to: None,
            },
        )
        .await
        .unwrap();
    let post_id = t.posts[0].post_id.clone();
    for round in 0..4 {
        let mut shas = vec![];
        for k in 0..2 {
            let bytes = format!("round {round} file {k}\n").into_bytes();
            shas.push(
                upload(eu, &bytes).await["sha256"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        let file = |k: usize| NewAttachment {
            sha256: shas[k].clone(),
            name: format!("{round}-{k}.txt"),
        };
        let (a, b) = tokio::join!(
            eu.node.attach_file(&admin, &it, file(0)),
            eu.node.attach_file(&admin, &it, file(1)),
        );
        a.unwrap();
        b.unwrap();
        let held = eu.node.store().item(&it).await.unwrap().unwrap();
        for s in &shas {
            assert!(
                held.attachments.iter().any(|a| a.sha256 == *s),
                "round {round}: an item's file was dropped"
            );
        }
        // A revision of the text and an attach at the same moment: both stand.
        let third = upload(eu, format!("round {round} file 2\n").as_bytes()).await["sha256"]
            .as_str()
            .unwrap()
            .to_owned();
        let text = format!("Revised in round {round}");
        let (a, b) = tokio::join!(
            eu.node.attach_file(
                &admin,
                &it,
                NewAttachment {
                    sha256: third.clone(),
                    name: format!("{round}-2.txt"),
                }
            ),
            eu.node.revise_item(
                &admin,
                &it,
                entente_node::ItemRevision {
                    title: "Item with files at once".into(),
                    body: text.clone(),
                    topics: vec![],
                }
            ),
        );
        a.unwrap();
        b.unwrap();
        let held = eu.node.store().item(&it).await.unwrap().unwrap();
        assert_eq!(
            held.body, text,
            "round {round}: a revision was undone by an attach"
        );
        assert!(
            held.attachments.iter().any(|a| a.sha256 == third),
            "round {round}: a file attached beside a revision was dropped"
        );
        let (a, b) = tokio::join!(
            eu.node
                .attach_post_file(&admin, &t.thread_id, &post_id, file(0)),
            eu.node
                .attach_post_file(&admin, &t.thread_id, &post_id, file(1)),
        );
        a.unwrap();
        b.unwrap();
        let t = eu.node.thread(&admin, &t.thread_id).await.unwrap().thread;
        let p = t.post(&post_id).unwrap();
        for s in &shas {
            assert!(
                p.attachments.iter().any(|a| a.sha256 == *s),
                "round {round}: a post's file was dropped"
            );
        }
    }
    // An attach beside a retraction: an attach that says it attached did attach.
    for round in 0..4 {
        let it = item(
            eu,
            &f.format_id,
            &format!("Retracted in round {round}"),
            None,
            None,
        )
        .await
        .item_id;
        let sha = upload(eu, format!("retraction round {round}\n").as_bytes()).await["sha256"]
            .as_str()
            .unwrap()
            .to_owned();
        let file = NewAttachment {
            sha256: sha.clone(),
            name: "late.txt".into(),
        };
        let (a, r) = tokio::join!(
            eu.node.attach_file(&admin, &it, file),
            eu.node.retract_item(&admin, &it, "withdrawn"),
        );
        r.unwrap();
        if let Ok(a) = a {
            assert!(
                a.attachments.iter().any(|x| x.sha256 == sha) && a.retracted.is_none(),
                "round {round}: an attach answered success for a file the fold did not keep"
            );
        }
    }
    c.stop().await;
}

/// Files kept while the scanner knew nothing of them (as before a scanner was set up, or before
/// a signature update) are found by a scan of every held file the admin starts: the flagged one
/// is held aside for its item (not downloaded, served to peers or searched any more), the clean
/// one stays, and the scan's tally is shown and audited. A node with no scanner says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_of_every_held_file_holds_aside_what_the_scanner_now_flags() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeClamd::start(dir.path(), MALWARE_MARKER);
    let (scanner, blind, hold) = (fake.clamd.clone(), fake.blind.clone(), fake.hold.clone());
    blind.store(true, SeqCst);
    let opts = ClusterOptions {
        search: true,
        malware_scan: [("JPN".to_owned(), scanner)].into(),
        ..Default::default()
    };
    let c = Cluster::with(&["EU", "JPN"], opts).await.unwrap();
    let (eu, jpn) = (c.node("EU"), c.node("JPN"));
    let f = format(eu, "Transatlantic+ Japan — cyber", &["EU", "JPN"]).await;
    c.sync_until_quiet().await;
    let bad = infected();
    let bad_sha = hex::encode(Sha256::digest(&bad));
    upload(eu, &bad).await;
    let bad_id = item_with_file(eu, &f.format_id, &bad_sha, "timetable.txt", &["EU", "JPN"]).await
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let good = b"Ferry timetable, week 50: capybaraharbour departures as planned.\n".to_vec();
    let good_sha = hex::encode(Sha256::digest(&good));
    upload(eu, &good).await;
    let good_id =
        item_with_file(eu, &f.format_id, &good_sha, "week50.txt", &["EU", "JPN"]).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
    c.sync_until_quiet().await;
    eventually(
        "both files whole at JPN, the flagged one's text found",
        async || {
            let _ = jpn.node.fetch_missing_attachments().await;
            let js = jpn.node.store();
            js.blob_for_item(&bad_sha, &bad_id).await.unwrap()
                && js.blob_for_item(&good_sha, &good_id).await.unwrap()
                && hits(jpn, "7f3a9c").await == vec![bad_id.clone()]
        },
    )
    .await;
    assert_eq!(download(jpn, &bad_id, &bad_sha).await.status(), 200);

    let api = |n: &TestNode| format!("{}/api/v1/quarantine/scan-held", n.url());
    let r = eu
        .http()
        .post(api(eu))
        .bearer_auth(&eu.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "EU has no scanner");
    blind.store(false, SeqCst);
    let status = scan_every_held_file(jpn).await;
    assert_eq!(
        (&status["scanned"], &status["flagged"], &status["failed"]),
        (
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!(0)
        ),
        "{status}"
    );

    let r = download(jpn, &bad_id, &bad_sha).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("withheld"));
    assert_eq!(download(jpn, &good_id, &good_sha).await.status(), 200);
    assert!(
        jpn.node
            .fed_attachment_chunk(&code("EU"), &bad_id, &bad_sha, 0)
            .await
            .is_err(),
        "JPN serves no chunk of it"
    );
    eventually("the flagged file's text no longer found", async || {
        hits(jpn, "7f3a9c").await.is_empty()
    })
    .await;
    assert_eq!(hits(jpn, "capybaraharbour").await, vec![good_id.clone()]);
    let list = jpn.node.quarantined_files(&jpn.admin()).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].sha256, bad_sha);
    assert_eq!(list[0].page, format!("/ui/items/{bad_id}"));
    let page = admin_page(jpn, "/ui/admin").await;
    assert!(page.contains("id=\"held-scan\""), "{page}");
    assert!(page.contains("flagged and held aside 1"));
    let audit = jpn.node.store().audit_records(0, 1000).await.unwrap();
    let done: Vec<&str> = audit
        .iter()
        .filter(|a| a.action == "scan_held_files")
        .map(|a| a.detail.as_str())
        .collect();
    assert_eq!(
        done,
        vec![
            "started",
            "done: 2 scanned, 1 flagged and held aside, 0 could not be scanned"
        ]
    );

    // A scan the database stops before the end says so on the admin page, and why; before,
    // the page said it finished.
    jpn.rename_table("blob_released", "blob_released_away")
        .await;
    let status = scan_every_held_file(jpn).await;
    // Only what kind of failure: a store error can quote a stored value.
    assert_eq!(
        status["error"], "the node's database failed; the node's log has the error",
        "{status}"
    );
    let page = admin_page(jpn, "/ui/admin").await;
    assert!(
        page.contains("Last scan of every held file stopped early"),
        "{page}"
    );
    assert!(!page.contains("Last scan of every held file finished"));
    assert!(page.contains("id=\"held-scan-error\""), "{page}");
    assert!(page.contains("database failed; the node"), "{page}");
    assert!(!page.contains("blob_released"), "{page}");
    assert_eq!(status["stopped_by"], "store", "{status}");
    // A reader of Japanese reads why in Japanese: the page words the kind of failure itself.
    let ja = admin_page_in(jpn, "/ui/admin", "ja-JP,ja;q=0.9").await;
    assert!(
        ja.contains("保持ファイル全体の前回のスキャンが途中で停止"),
        "{ja}"
    );
    assert!(
        ja.contains("ノードのデータベースで障害が発生しました"),
        "{ja}"
    );
    assert!(!ja.contains("database failed"), "{ja}");
    jpn.rename_table("blob_released_away", "blob_released")
        .await;
    // While the next scan runs, the page says how far it got, and not why the last one stopped.
    hold.send_replace(true);
    let status = start_held_scan(jpn).await;
    assert_eq!(status["running"], true, "{status}");
    assert!(status["stopped_by"].is_null(), "{status}");
    let page = admin_page(jpn, "/ui/admin").await;
    assert!(
        page.contains("Scanning every held file: scanned so far 0"),
        "{page}"
    );
    assert!(!page.contains("stopped early"), "{page}");
    assert!(!page.contains("id=\"held-scan-error\""), "{page}");
    hold.send_replace(false);
    let status = held_scan_finished(jpn).await;
    let page = admin_page(jpn, "/ui/admin").await;
    assert!(page.contains("Last scan of every held file finished"));
    assert!(!page.contains("id=\"held-scan-error\""));
    assert!(status["stopped_by"].is_null(), "{status}");
    assert!(status["error"].is_null(), "{status}");
    c.stop().await;
}

/// An upload that nothing came to reference is dropped a day after it was uploaded (an upload
/// of the same bytes counts from then), and so are the chunks of an upload cut off before it
/// completed; attached files stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_never_attached_are_dropped_after_a_day() {
    let clock = std::sync::Arc::new(entente_node::clock::ManualClock::new(
        time::OffsetDateTime::now_utc(),
    ));
    let opts = ClusterOptions {
        clock: Some(clock.clone()),
        ..Default::default()
    };
    let c = Cluster::with(&["EU"], opts).await.unwrap();
    let eu = c.node("EU");
    let f = format(eu, "Uploads", &["EU"]).await;
    let sha = |b: &[u8]| hex::encode(Sha256::digest(b));
    let (left, used, again) = (
        b"uploaded, never attached\n".to_vec(),
        b"uploaded and attached\n".to_vec(),
        b"uploaded twice, attached after the second\n".to_vec(),
    );
    for b in [&left, &used, &again] {
        upload(eu, b).await;
    }
    // An upload cut off (its client gone, or the node stopped) after its first chunk was kept
    // and before the file was whole: the chunk is written here as the upload wrote it.
    let cut = b"cut off halfway\n".to_vec();
    let at = entente_node::clock::rfc3339(entente_node::clock::Clock::now(clock.as_ref()));
    let store = eu.node.store();
    store
        .put_blob_chunk(&sha(&cut), 0, &cut, &at)
        .await
        .unwrap();
    let it = item_with_file(eu, &f.format_id, &sha(&used), "used.txt", &["EU"]).await;
    let used_id = it["id"].as_str().unwrap().to_owned();
    clock.advance(time::Duration::hours(23));
    upload(eu, &again).await;
    assert!(
        eu.node.drop_abandoned_uploads().await.unwrap().is_empty(),
        "a day has not passed"
    );
    assert_eq!(store.blob_chunk_indexes(&sha(&cut)).await.unwrap(), vec![0]);
    clock.advance(time::Duration::hours(2));
    let mut gone = eu.node.drop_abandoned_uploads().await.unwrap();
    gone.sort();
    let mut want = vec![sha(&left), sha(&cut)];
    want.sort();
    assert_eq!(gone, want);
    assert!(store.blob(&sha(&left)).await.unwrap().is_none());
    for dropped in [&left, &cut] {
        assert!(
            store
                .blob_chunk_indexes(&sha(dropped))
                .await
                .unwrap()
                .is_empty()
        );
    }
    let r = eu
        .http()
        .post(format!("{}/api/v1/items", eu.url()))
        .bearer_auth(&eu.token)
        .json(&serde_json::json!({
            "format_id": f.format_id, "kind": "report", "title": "Late",
            "tlp": "AMBER", "releasable_to": ["EU"], "topics": ["maritime-security"],
            "attachments": [{"sha256": sha(&left), "name": "late.txt"}],
        }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = download(eu, &used_id, &sha(&used)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), used.as_slice());
    item_with_file(eu, &f.format_id, &sha(&again), "again.txt", &["EU"]).await;
    c.stop().await;
}

/// An upload of bytes the node holds, recorded just after the hourly pass dropped them (they
/// were a day-old upload nothing referenced): the record stood without the bytes. The upload
/// writes them again, and the file downloads whole once attached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_brings_back_bytes_dropped_under_it() {
    let c = Cluster::with(&["EU"], Default::default()).await.unwrap();
    let eu = c.node("EU");
    let f = format(eu, "Uploads", &["EU"]).await;
    let bytes = pdf(CHUNK_BYTES as usize + 700, "dropped-under-it");
    let sha = hex::encode(Sha256::digest(&bytes));
    upload(eu, &bytes).await;
    // What the pass leaves when it runs between the upload's check and its record: the record
    // again, the chunks and the text gone.
    eu.exec_sql(&format!("DELETE FROM blob_chunks WHERE sha256 = '{sha}'"))
        .await;
    eu.exec_sql(&format!("DELETE FROM blob_texts WHERE sha256 = '{sha}'"))
        .await;
    upload(eu, &bytes).await;
    let store = eu.node.store();
    assert_eq!(store.blob_chunk_indexes(&sha).await.unwrap(), vec![0, 1]);
    assert!(
        store.blob_text(&sha).await.unwrap().is_some(),
        "its text read again"
    );
    let it = item_with_file(eu, &f.format_id, &sha, "report.pdf", &["EU"]).await;
    let id = it["id"].as_str().unwrap().to_owned();
    let r = download(eu, &id, &sha).await;
    assert_eq!(r.status(), 200);
    assert_eq!(hex::encode(Sha256::digest(r.bytes().await.unwrap())), sha);
    c.stop().await;
}

/// Start a scan of every file `n` holds, over REST as its admin, and wait for its end: the
/// status it ends with.
async fn scan_every_held_file(n: &TestNode) -> serde_json::Value {
    start_held_scan(n).await;
    held_scan_finished(n).await
}

/// Start a scan of every file `n` holds, over REST as its admin: the status it answers with.
async fn start_held_scan(n: &TestNode) -> serde_json::Value {
    let url = format!("{}/api/v1/quarantine/scan-held", n.url());
    let r = n
        .http()
        .post(&url)
        .bearer_auth(&n.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    r.json().await.unwrap()
}

/// Wait for the end of `n`'s scan of every held file (started by its admin or by itself): the
/// status it ends with.
async fn held_scan_finished(n: &TestNode) -> serde_json::Value {
    let url = format!("{}/api/v1/quarantine/scan-held", n.url());
    let mut status = serde_json::Value::Null;
    eventually("the scan of every held file finished", async || {
        status = n
            .http()
            .get(&url)
            .bearer_auth(&n.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status["running"] == false && status["finished_at"].is_string()
    })
    .await;
    status
}

/// A signature update makes the node scan every held file again by itself: a file that arrived
/// while the scanner's signatures did not know it is held aside once they do. The first check
/// takes the current signatures as its starting point; the same signatures start nothing; a
/// scan in which a file could not be scanned records nothing; a process starts such a scan by
/// itself at most once a day; a scan that completed records the signatures it ran under, so
/// the next check starts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_update_scans_every_held_file_again() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().unwrap();
    let (scanner, down, blind) = fake_clamd(dir.path()).await;
    blind.store(true, SeqCst);
    let opts = ClusterOptions {
        malware_scan: [("JPN".to_owned(), scanner)].into(),
        ..Default::default()
    };
    let c = Cluster::with(&["EU", "JPN"], opts).await.unwrap();
    let (eu, jpn) = (c.node("EU"), c.node("JPN"));
    let f = format(eu, "Transatlantic+ Japan — files", &["EU", "JPN"]).await;
    c.sync_until_quiet().await;
    let bad = infected();
    let bad_sha = hex::encode(Sha256::digest(&bad));
    upload(eu, &bad).await;
    let bad_id =
        item_with_file(eu, &f.format_id, &bad_sha, "roster.txt", &["EU", "JPN"]).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
    c.sync_until_quiet().await;
    eventually("the file whole at JPN", async || {
        let _ = jpn.node.fetch_missing_attachments().await;
        jpn.node
            .store()
            .blob_for_item(&bad_sha, &bad_id)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(download(jpn, &bad_id, &bad_sha).await.status(), 200);

    assert!(
        !jpn.node.check_scanner_signatures().await.unwrap(),
        "a starting point"
    );
    assert!(
        !jpn.node.check_scanner_signatures().await.unwrap(),
        "the same signatures"
    );
    assert_eq!(download(jpn, &bad_id, &bad_sha).await.status(), 200);
    let record = jpn.dir.join("scanner-signatures");
    let recorded = || std::fs::read_to_string(&record).unwrap();
    assert!(recorded().starts_with("27000/"), "{}", recorded());
    // The update: the scanner now knows the marker, but first it scans nothing. The scan
    // records nothing then: its files have not met the new signatures.
    blind.store(false, SeqCst);
    down.store(true, SeqCst);
    assert!(
        jpn.node.check_scanner_signatures().await.unwrap(),
        "an update starts a scan"
    );
    let status = held_scan_finished(jpn).await;
    assert_eq!(
        (&status["failed"], &status["flagged"]),
        (&serde_json::json!(1), &serde_json::json!(0)),
        "{status}"
    );
    assert!(recorded().starts_with("27000/"), "{}", recorded());
    assert_eq!(download(jpn, &bad_id, &bad_sha).await.status(), 200);
    // A process starts such a scan by itself at most once a day.
    down.store(false, SeqCst);
    assert!(
        !jpn.node.check_scanner_signatures().await.unwrap(),
        "once a day"
    );
    // An admin may scan at any time; that scan completes and records what it ran under.
    let status = scan_every_held_file(jpn).await;
    assert_eq!(status["flagged"], 1, "{status}");
    assert!(recorded().starts_with("27001/"), "{}", recorded());
    let r = download(jpn, &bad_id, &bad_sha).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("withheld"));
    // The completed scan recorded the new signatures: nothing more to do.
    assert!(!jpn.node.check_scanner_signatures().await.unwrap());
    let audit = jpn.node.store().audit_records(0, 1000).await.unwrap();
    assert!(
        audit.iter().any(
            |r| r.action == "scan_held_files" && r.actor.contains("scanner signatures updated")
        ),
        "the node's own scan is audited"
    );
    // A node without a scanner has nothing to check.
    assert!(!eu.node.check_scanner_signatures().await.unwrap());
    c.stop().await;
}
