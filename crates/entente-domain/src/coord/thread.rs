//! Discussions: a thread in a format or on one of its objects, the signed payloads that start
//! it, reply in it, edit a post and retract one, and the state every holder folds from them.
//! A thread's audience is fixed when it starts (a subset of the format); every post in it is
//! released to exactly that audience, from its author's own log. Pure.

use crate::attachment::{AttachmentRef, NewAttachment};
use crate::{Audience, DomainError, PartnerCode};
use serde::{Deserialize, Serialize};

/// At most this many characters in a post (a long post is a document: attach it).
pub const MAX_POST_CHARS: usize = 20_000;
/// At most this many posts in a thread: the thread is one stored state, rewritten on each post,
/// so it must stay bounded whatever a peer sends. A longer discussion starts a new thread.
pub const MAX_POSTS: usize = 1_000;
/// At most this many earlier versions kept per post.
pub const MAX_EDITS: usize = 50;
/// At most this many mentions in a post.
pub const MAX_MENTIONS: usize = 20;
/// At most this many bytes of text in a thread, every post's versions included: the limits per
/// post alone would let one thread grow to a gigabyte (1,000 posts of 50 versions each).
pub const MAX_THREAD_BYTES: usize = 4_000_000;

/// The kinds of object a thread may be about.
pub const SUBJECT_KINDS: [&str; 8] = [
    "item",
    "action",
    "statement",
    "alert",
    "exercise",
    "project",
    "meeting",
    "paper",
];

/// What a thread is about besides its format: one object of the format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThreadSubject {
    /// One of `item`, `action`, `statement`, `alert`, `exercise`, `project`, `meeting`,
    /// `paper`.
    pub kind: String,
    pub id: String,
}

/// The first post of a thread, with the thread itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadStart {
    pub thread_id: String,
    pub format_id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<ThreadSubject>,
    pub post_id: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// Files of the first post (each one referenced by hash, so the signature covers it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
    pub author: String,
}

/// A reply in a thread, optionally quoting an earlier post.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadPost {
    pub thread_id: String,
    pub post_id: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
    pub author: String,
}

/// A new version of a post, by the partner that wrote it: new text, or the same text with
/// other files (a file attached after posting), which adds no version to the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadEdit {
    pub thread_id: String,
    pub post_id: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// The post's files from now on; absent, they stay as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<AttachmentRef>>,
    pub author: String,
}

/// A post withdrawn by the partner that wrote it: its text leaves every holder's view and the
/// index; the signed entries keep it as evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadRetract {
    pub thread_id: String,
    pub post_id: String,
    #[serde(default)]
    pub reason: String,
    pub author: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostState {
    pub post_id: String,
    pub partner: PartnerCode,
    /// `name@PARTNER`.
    pub author: String,
    /// Empty once retracted.
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
    #[serde(default)]
    pub mentions: Vec<String>,
    /// Its files (none once retracted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
    /// When its author's node signed it (UTC).
    pub at: String,
    /// When the current version was signed, if it was edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// Who made the latest edit or the retraction (`name@PARTNER`): the author, or an officer of
    /// the author's partner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_by: Option<String>,
    /// Earlier versions, oldest first (empty once retracted).
    #[serde(default)]
    pub history: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retracted: Option<String>,
    /// The signed entry that carried the post: its log and sequence number.
    pub entry_log: String,
    pub entry_seq: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThreadState {
    pub thread_id: String,
    pub format_id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<ThreadSubject>,
    /// The partner that started it.
    pub origin: PartnerCode,
    pub audience: Audience,
    pub created_at: String,
    /// In (signed time, partner, post id) order, the same on every holder.
    pub posts: Vec<PostState>,
}

impl ThreadState {
    pub fn post(&self, post_id: &str) -> Option<&PostState> {
        self.posts.iter().find(|p| p.post_id == post_id)
    }

    /// The time of the latest post that stands.
    pub fn last_at(&self) -> &str {
        self.posts
            .iter()
            .filter(|p| p.retracted.is_none())
            .map(|p| p.at.as_str())
            .max()
            .unwrap_or(&self.created_at)
    }

    /// The bytes of text the thread holds, every version of every post included.
    pub fn text_bytes(&self) -> usize {
        self.posts
            .iter()
            .map(|p| p.body.len() + p.history.iter().map(String::len).sum::<usize>())
            .sum()
    }

    /// The file references of the posts that stand: each post's key
    /// ([`crate::attachment::FileOwner::key`]) and its files' `(sha256, size)`, for the store's
    /// reference rows (so the fetcher finds them).
    pub fn file_refs(&self) -> impl Iterator<Item = (String, Vec<(String, u64)>)> + '_ {
        self.posts
            .iter()
            .filter(|p| !p.attachments.is_empty() && p.retracted.is_none())
            .filter_map(|p| {
                let owner = crate::attachment::FileOwner::Post {
                    thread_id: self.thread_id.clone(),
                    post_id: p.post_id.clone(),
                }
                .key()?;
                let files = p
                    .attachments
                    .iter()
                    .map(|a| (a.sha256.clone(), a.size))
                    .collect();
                Some((owner, files))
            })
    }

    /// The users a post mentions, as `name@PARTNER`, that a thread with this audience may name.
    pub fn mentions_of(&self, user: &str) -> usize {
        self.posts
            .iter()
            .filter(|p| p.retracted.is_none() && p.mentions.iter().any(|m| m == user))
            .count()
    }
}

// ----- what a client sends and reads ---------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewThread {
    /// The format; with a subject, the subject's format (may be left out).
    #[serde(default)]
    pub format_id: String,
    pub title: String,
    /// The first post (Markdown). `@name@PARTNER` mentions a user of a partner in the audience.
    pub body: String,
    /// What the thread is about: an item, action, statement, alert, exercise or project.
    #[serde(default)]
    pub subject: Option<ThreadSubject>,
    /// Who the thread is released to: absent, the subject's audience or else every member of
    /// the format. Fixed for the life of the thread; every reply inherits it.
    #[serde(default)]
    pub releasable_to: Option<Vec<String>>,
    /// Files the caller uploaded, to attach to the first post.
    #[serde(default)]
    pub attachments: Vec<NewAttachment>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewPost {
    /// Markdown; `@name@PARTNER` mentions a user of a partner in the thread's audience.
    pub body: String,
    /// The id of an earlier post of the thread this reply quotes.
    #[serde(default)]
    pub quote: Option<String>,
    /// Files the caller uploaded, to attach to the reply.
    #[serde(default)]
    pub attachments: Vec<NewAttachment>,
}

/// A thread in a list, with what the caller has not read of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThreadSummary {
    pub thread_id: String,
    pub format_id: String,
    pub title: String,
    pub subject: Option<ThreadSubject>,
    pub origin: String,
    pub audience: Audience,
    pub created_at: String,
    /// The time of the latest post that stands.
    pub last_at: String,
    /// Posts that stand (not retracted).
    pub posts: usize,
    /// Posts by others the caller has not seen.
    pub unread: usize,
    /// Of those, the posts that mention the caller.
    pub unread_mentions: usize,
}

/// One thread as the caller sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ThreadView {
    #[serde(flatten)]
    pub thread: ThreadState,
    /// Posts by others that are new since the caller last marked the thread read.
    pub new_posts: Vec<String>,
}

/// The mentions in a post's text: `@name@PARTNER`, in order of first appearance, without
/// repeats. A name is letters, digits, `.`, `_` and `-`; a partner code as [`PartnerCode`]
/// parses it.
pub fn mentions_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let b = text.as_bytes();
    let is_name = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-');
    let mut i = 0;
    while i < b.len() {
        // A mention starts at `@` not preceded by a name character (so an e-mail address is
        // not a mention).
        if b[i] == b'@' && (i == 0 || !is_name(b[i - 1])) {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && is_name(b[j]) {
                j += 1;
            }
            if j > start && j < b.len() && b[j] == b'@' {
                let pstart = j + 1;
                let mut k = pstart;
                while k < b.len() && b[k].is_ascii_uppercase() {
                    k += 1;
                }
                let name = &text[start..j];
                let partner = &text[pstart..k];
                let name = name.trim_end_matches(['.', '-', '_']);
                if !name.is_empty() && PartnerCode::parse(partner).is_ok() {
                    let m = format!("{name}@{partner}");
                    if !out.contains(&m) {
                        out.push(m);
                    }
                }
                i = k.max(i + 1);
                continue;
            }
        }
        i += 1;
    }
    out
}

/// The rule for a post's text and mentions, run when a post is written and again when a peer's
/// arrives: 1 to [`MAX_POST_CHARS`] characters, and every mention names a user of a partner in
/// the thread's audience (a mention of anyone else would tell them nothing, and would tell the
/// thread's readers who was meant to see it).
pub fn check_post(body: &str, mentions: &[String], audience: &Audience) -> Result<(), DomainError> {
    if body.trim().is_empty() || body.chars().count() > MAX_POST_CHARS {
        return Err(DomainError::invalid(
            "body",
            format!("a text of 1 to {MAX_POST_CHARS} characters is required"),
        ));
    }
    if mentions.len() > MAX_MENTIONS {
        return Err(DomainError::invalid(
            "mentions",
            format!("at most {MAX_MENTIONS} mentions in a post"),
        ));
    }
    for m in mentions {
        let partner = m.rsplit_once('@').map(|(_, p)| p).unwrap_or("");
        match PartnerCode::parse(partner) {
            Ok(p) if audience.contains(&p) => {}
            _ => {
                return Err(DomainError::invalid(
                    "mentions",
                    format!("{m} is not a user of a partner this discussion is released to"),
                ));
            }
        }
    }
    Ok(())
}

/// The rule for a thread's own fields.
pub fn check_thread(title: &str, subject: Option<&ThreadSubject>) -> Result<(), DomainError> {
    if title.trim().is_empty() || title.chars().count() > 300 {
        return Err(DomainError::invalid(
            "title",
            "a title of 1 to 300 characters is required",
        ));
    }
    if let Some(s) = subject
        && (!SUBJECT_KINDS.contains(&s.kind.as_str()) || s.id.is_empty() || s.id.len() > 100)
    {
        return Err(DomainError::invalid(
            "subject",
            "an item, action, statement, alert, exercise, project, meeting or concept paper",
        ));
    }
    Ok(())
}

fn author_of(author: &str, origin: &PartnerCode) -> bool {
    author
        .rsplit_once('@')
        .is_some_and(|(name, p)| !name.is_empty() && p == origin.as_str())
}

/// Where the fold's rules put a thread entry: `Ok` when it applies, `Err(true)` when the thread
/// is not held yet, `Err(false)` when it does not apply (kept in the log, never shown).
pub type Applied = Result<(), bool>;

impl ThreadState {
    pub fn start(
        s: &ThreadStart,
        origin: &PartnerCode,
        audience: &Audience,
        at: &str,
        entry: (String, u64),
    ) -> Result<ThreadState, bool> {
        // Mentions are read from the signed text again, never taken from the payload's list: a
        // peer cannot notify a user the text does not name.
        let mentions = mentions_in(&s.body);
        if !author_of(&s.author, origin)
            || !super::is_owned_by(&s.thread_id, origin)
            || !super::is_owned_by(&s.post_id, origin)
            || !super::is_reference(&s.format_id)
            || check_thread(&s.title, s.subject.as_ref()).is_err()
            || check_post(&s.body, &mentions, audience).is_err()
            || crate::attachment::check(&s.attachments).is_err()
        {
            return Err(false);
        }
        Ok(ThreadState {
            thread_id: s.thread_id.clone(),
            format_id: s.format_id.clone(),
            title: s.title.clone(),
            subject: s.subject.clone(),
            origin: origin.clone(),
            audience: audience.clone(),
            created_at: at.to_owned(),
            posts: vec![PostState {
                post_id: s.post_id.clone(),
                partner: origin.clone(),
                author: s.author.clone(),
                body: s.body.clone(),
                quote: None,
                mentions,
                attachments: s.attachments.clone(),
                at: at.to_owned(),
                edited_at: None,
                edited_by: None,
                history: vec![],
                retracted: None,
                entry_log: entry.0,
                entry_seq: entry.1,
            }],
        })
    }

    /// A reply from `origin`, released to `audience`.
    pub fn reply(
        &mut self,
        p: &ThreadPost,
        origin: &PartnerCode,
        audience: &Audience,
        at: &str,
        entry: (String, u64),
    ) -> Applied {
        let mentions = mentions_in(&p.body);
        if *audience != self.audience
            || !author_of(&p.author, origin)
            || !super::is_owned_by(&p.post_id, origin)
            || p.quote.as_deref().is_some_and(|q| !super::is_reference(q))
            || self.post(&p.post_id).is_some()
            || self.posts.len() >= MAX_POSTS
            || self.text_bytes() + p.body.len() > MAX_THREAD_BYTES
            || check_post(&p.body, &mentions, audience).is_err()
            || crate::attachment::check(&p.attachments).is_err()
        {
            return Err(false);
        }
        self.posts.push(PostState {
            post_id: p.post_id.clone(),
            partner: origin.clone(),
            author: p.author.clone(),
            body: p.body.clone(),
            quote: p.quote.clone(),
            mentions,
            attachments: p.attachments.clone(),
            at: at.to_owned(),
            edited_at: None,
            edited_by: None,
            history: vec![],
            retracted: None,
            entry_log: entry.0,
            entry_seq: entry.1,
        });
        // Replies come from several partners' logs in whatever order a node receives them;
        // this order makes the thread read the same everywhere.
        self.posts
            .sort_by(|a, b| (&a.at, &a.partner, &a.post_id).cmp(&(&b.at, &b.partner, &b.post_id)));
        Ok(())
    }

    /// An edit or a retraction: only the partner that wrote the post changes it (its own log is
    /// ordered, so the latest change wins everywhere).
    fn own_post(
        &mut self,
        post_id: &str,
        origin: &PartnerCode,
        audience: &Audience,
    ) -> Result<&mut PostState, bool> {
        if *audience != self.audience {
            return Err(false);
        }
        let p = self
            .posts
            .iter_mut()
            .find(|p| p.post_id == post_id)
            .ok_or(false)?;
        if p.partner != *origin || p.retracted.is_some() {
            return Err(false);
        }
        Ok(p)
    }

    pub fn edit(
        &mut self,
        e: &ThreadEdit,
        origin: &PartnerCode,
        audience: &Audience,
        at: &str,
    ) -> Applied {
        let mentions = mentions_in(&e.body);
        if check_post(&e.body, &mentions, audience).is_err()
            || !author_of(&e.author, origin)
            || self.text_bytes() + e.body.len() > MAX_THREAD_BYTES
            || e.attachments
                .as_deref()
                .is_some_and(|a| crate::attachment::check(a).is_err())
        {
            return Err(false);
        }
        let p = self.own_post(&e.post_id, origin, audience)?;
        if p.history.len() >= MAX_EDITS {
            return Err(false);
        }
        // The same text with other files is no new version of the text.
        if p.body != e.body {
            let old = std::mem::replace(&mut p.body, e.body.clone());
            p.history.push(old);
        }
        if let Some(a) = &e.attachments {
            p.attachments = a.clone();
        }
        p.mentions = mentions;
        p.edited_at = Some(at.to_owned());
        p.edited_by = Some(e.author.clone());
        Ok(())
    }

    pub fn retract(
        &mut self,
        r: &ThreadRetract,
        origin: &PartnerCode,
        audience: &Audience,
        at: &str,
    ) -> Applied {
        if !author_of(&r.author, origin) {
            return Err(false);
        }
        let p = self.own_post(&r.post_id, origin, audience)?;
        p.body.clear();
        p.history.clear();
        p.mentions.clear();
        p.attachments.clear();
        p.retracted = Some(at.to_owned());
        p.edited_by = Some(r.author.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
}
