//! The fold's rules for discussions, tried on one thread.
use super::*;
use crate::partner::code;

fn aud(p: &[&str]) -> Audience {
    Audience::new(p.iter().map(|p| code(p))).unwrap()
}

fn start() -> ThreadState {
    ThreadState::start(
        &ThreadStart {
            attachments: vec![],
            thread_id: "EU-t".into(),
            format_id: "f".into(),
            title: "Ferry capacity".into(),
            subject: None,
            post_id: "EU-p1".into(),
            body: "What do we know? @kenji@JPN".into(),
            mentions: vec!["kenji@JPN".into()],
            author: "anna@EU".into(),
        },
        &code("EU"),
        &aud(&["EU", "JPN"]),
        "2026-12-01T10:00:00Z",
        ("l".into(), 1),
    )
    .unwrap()
}

fn reply(id: &str, at: &str, by: &str) -> (ThreadPost, String) {
    (
        ThreadPost {
            attachments: vec![],
            thread_id: "EU-t".into(),
            post_id: format!("{by}-{id}"),
            body: format!("reply {id}"),
            quote: None,
            mentions: vec![],
            author: format!("x@{by}"),
        },
        at.to_owned(),
    )
}

#[test]
fn mentions_are_read_from_the_text() {
    assert_eq!(
        mentions_in("cc @kenji@JPN and @anna.b@EU, not mail@x.org nor @bob@lower, @kenji@JPN."),
        vec!["kenji@JPN".to_owned(), "anna.b@EU".to_owned()]
    );
    assert!(mentions_in("日本語 @さくら@JPN").is_empty());
    assert_eq!(mentions_in("@a@NATO"), vec!["a@NATO".to_owned()]);
}

#[test]
fn a_files_only_edit_keeps_the_text_and_the_thread_holds_bounded_files() {
    let a = aud(&["EU", "JPN"]);
    let mut t = start();
    let file = |i: usize| crate::attachment::AttachmentRef {
        sha256: format!("{i:064x}"),
        size: 10,
        name: format!("f{i}.txt"),
        media_type: "text/plain".into(),
    };
    let text_edit = ThreadEdit {
        thread_id: "EU-t".into(),
        post_id: "EU-p1".into(),
        body: "Corrected text".into(),
        mentions: vec![],
        attachments: None,
        author: "anna@EU".into(),
    };
    // The files-only edit was signed before the text edit, but applies after it: the
    // corrected text stands, and no version is added by the files.
    let files_edit = ThreadEdit {
        body: String::new(),
        attachments: Some(vec![file(1)]),
        ..text_edit.clone()
    };
    t.edit(&text_edit, &code("EU"), &a, "2026-12-01T10:01:00Z")
        .unwrap();
    t.edit(&files_edit, &code("EU"), &a, "2026-12-01T10:02:00Z")
        .unwrap();
    let p = t.post("EU-p1").unwrap();
    assert_eq!(p.body, "Corrected text");
    assert_eq!(p.history.len(), 1);
    assert_eq!(p.attachments, vec![file(1)]);
    // An empty text without files is no edit.
    let empty = ThreadEdit {
        attachments: None,
        ..files_edit.clone()
    };
    assert!(
        t.edit(&empty, &code("EU"), &a, "2026-12-01T10:03:00Z")
            .is_err()
    );
    // Replies with 20 files each fill JPN's budget in the thread: the next does not apply.
    for i in 0..6 {
        let files: Vec<_> = (0..20).map(|j| file(100 + i * 20 + j)).collect();
        let (mut r, at) = reply(&format!("f{i}"), "2026-12-01T11:00:00Z", "JPN");
        r.attachments = files;
        let applied = t.reply(&r, &code("JPN"), &a, &at, ("l".into(), 10 + i as u64));
        assert_eq!(applied.is_ok(), i < 5, "reply {i}");
    }
    assert_eq!(t.file_count(&code("JPN")), 100);
    assert!(!t.files_fit(&code("JPN"), 0, 20));
    // EU's own budget is its own: JPN's files do not use it (arrival order cannot matter).
    assert_eq!(t.file_count(&code("EU")), 1);
    assert!(t.files_fit(&code("EU"), 1, 20));
    assert!(
        t.post("EU-p1").unwrap().edited_at.is_some(),
        "the text edit"
    );
}

#[test]
fn a_post_mentions_only_users_of_the_audience() {
    let a = aud(&["EU", "JPN"]);
    assert!(check_post("hi", &["k@JPN".into()], &a).is_ok());
    assert!(check_post("hi", &["k@NATO".into()], &a).is_err());
    assert!(check_post("  ", &[], &a).is_err());
    assert!(check_post(&"x".repeat(MAX_POST_CHARS + 1), &[], &a).is_err());
}

#[test]
fn replies_read_the_same_in_any_order_of_arrival() {
    let a = aud(&["EU", "JPN"]);
    let rs = [
        reply("p3", "2026-12-01T12:00:00Z", "JPN"),
        reply("p2", "2026-12-01T11:00:00Z", "EU"),
        reply("p4", "2026-12-01T11:00:00Z", "JPN"),
    ];
    let mut one = start();
    let mut two = start();
    for (r, at) in &rs {
        let by = code(r.author.rsplit_once('@').unwrap().1);
        one.reply(r, &by, &a, at, ("l".into(), 2)).unwrap();
    }
    for (r, at) in rs.iter().rev() {
        let by = code(r.author.rsplit_once('@').unwrap().1);
        two.reply(r, &by, &a, at, ("l".into(), 2)).unwrap();
    }
    assert_eq!(one, two);
    let order: Vec<_> = one.posts.iter().map(|p| p.post_id.as_str()).collect();
    assert_eq!(order, ["EU-p1", "EU-p2", "JPN-p4", "JPN-p3"]);
}

#[test]
fn only_the_author_partner_edits_or_retracts_and_only_in_the_audience() {
    let a = aud(&["EU", "JPN"]);
    let mut t = start();
    let (r, at) = reply("p2", "2026-12-01T11:00:00Z", "JPN");
    assert_eq!(
        t.reply(
            &r,
            &code("JPN"),
            &aud(&["EU", "JPN", "NATO"]),
            &at,
            ("l".into(), 2)
        ),
        Err(false),
        "another audience"
    );
    assert_eq!(
        t.reply(&r, &code("EU"), &a, &at, ("l".into(), 2)),
        Err(false),
        "an author of another partner than the log's"
    );
    t.reply(&r, &code("JPN"), &a, &at, ("l".into(), 2)).unwrap();
    assert_eq!(
        t.reply(&r, &code("JPN"), &a, &at, ("l".into(), 3)),
        Err(false),
        "a post id twice"
    );
    let edit = ThreadEdit {
        attachments: None,
        thread_id: "EU-t".into(),
        post_id: "JPN-p2".into(),
        body: "better".into(),
        mentions: vec![],
        author: "x@JPN".into(),
    };
    assert_eq!(t.edit(&edit, &code("EU"), &a, "t2"), Err(false));
    t.edit(&edit, &code("JPN"), &a, "t2").unwrap();
    let p = t.post("JPN-p2").unwrap();
    assert_eq!((p.body.as_str(), p.history.len()), ("better", 1));
    let ret = ThreadRetract {
        thread_id: "EU-t".into(),
        post_id: "JPN-p2".into(),
        reason: String::new(),
        author: "x@JPN".into(),
    };
    assert_eq!(t.retract(&ret, &code("EU"), &a, "t3"), Err(false));
    t.retract(&ret, &code("JPN"), &a, "t3").unwrap();
    let p = t.post("JPN-p2").unwrap();
    assert!(p.body.is_empty() && p.history.is_empty() && p.retracted.is_some());
    assert_eq!(p.edited_by.as_deref(), Some("x@JPN"), "who retracted it");
    assert_eq!(
        t.edit(&edit, &code("JPN"), &a, "t4"),
        Err(false),
        "retracted"
    );
    assert_eq!(t.mentions_of("kenji@JPN"), 1);
}

#[test]
fn an_officer_edit_is_credited_to_the_officer() {
    let a = aud(&["EU", "JPN"]);
    let mut t = start();
    let edit = ThreadEdit {
        attachments: None,
        thread_id: "EU-t".into(),
        post_id: "EU-p1".into(),
        body: "What do we know, precisely?".into(),
        mentions: vec![],
        author: "officer@EU".into(),
    };
    t.edit(&edit, &code("EU"), &a, "t2").unwrap();
    let p = t.post("EU-p1").unwrap();
    assert_eq!(p.author, "anna@EU", "the post stays its author's");
    assert_eq!(p.edited_by.as_deref(), Some("officer@EU"));
}

#[test]
fn mentions_come_from_the_signed_text_not_the_payload() {
    let a = aud(&["EU", "JPN"]);
    let mut t = start();
    let (mut r, at) = reply("p2", "2026-12-01T11:00:00Z", "JPN");
    r.body = "no one named here".into();
    r.mentions = vec!["anna@EU".into()];
    t.reply(&r, &code("JPN"), &a, &at, ("l".into(), 2)).unwrap();
    assert!(t.post("JPN-p2").unwrap().mentions.is_empty());
    assert_eq!(
        t.mentions_of("anna@EU"),
        0,
        "a listed mention the text lacks"
    );
    let (mut r, at) = reply("p3", "2026-12-01T12:00:00Z", "JPN");
    r.body = "see @boss@NATO".into();
    assert_eq!(
        t.reply(&r, &code("JPN"), &a, &at, ("l".into(), 3)),
        Err(false),
        "a mention outside the audience, even when the payload lists none"
    );
}

#[test]
fn ids_are_claimed_only_by_their_owner_and_a_thread_stays_bounded() {
    let a = aud(&["EU", "JPN"]);
    let mut t = start();
    let (mut r, at) = reply("p2", "2026-12-01T11:00:00Z", "JPN");
    r.post_id = "EU-p9".into();
    assert_eq!(
        t.reply(&r, &code("JPN"), &a, &at, ("l".into(), 2)),
        Err(false),
        "JPN signs a post under an id of EU's"
    );
    let mut s = ThreadStart {
        attachments: vec![],
        thread_id: "EU-t2".into(),
        format_id: "f".into(),
        title: "Impostor".into(),
        subject: None,
        post_id: "JPN-p1".into(),
        body: "hi".into(),
        mentions: vec![],
        author: "k@JPN".into(),
    };
    assert!(ThreadState::start(&s, &code("JPN"), &a, "t", ("l".into(), 1)).is_err());
    s.thread_id = "JPN-t2".into();
    assert!(ThreadState::start(&s, &code("JPN"), &a, "t", ("l".into(), 1)).is_ok());
    // Posts near the size limit until the thread's budget is spent.
    let big = "x".repeat(MAX_POST_CHARS);
    let mut refused = false;
    for i in 0..MAX_THREAD_BYTES / MAX_POST_CHARS + 2 {
        let (mut r, at) = reply(&format!("b{i}"), "2026-12-02T00:00:00Z", "JPN");
        r.body = big.clone();
        if t.reply(&r, &code("JPN"), &a, &at, ("l".into(), 10)) == Err(false) {
            refused = true;
            break;
        }
    }
    assert!(refused && t.text_bytes() <= MAX_THREAD_BYTES);
}
