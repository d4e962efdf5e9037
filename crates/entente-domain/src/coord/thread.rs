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
/// At most this many files on one partner's posts that stand in a thread (a post carries up to
/// [`crate::attachment::MAX_PER_ITEM`]). Counted per partner: a partner's posts come from its
/// own log, in order, so every holder counts the same whatever order the partners' logs arrive
/// in (a count over all partners would let arrival order decide which post applies).
pub const MAX_THREAD_FILES: usize = 100;

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

/// A new version of a post, by the partner that wrote it: new text, or — with an empty text
/// and `attachments` — the post's files from now on (a file attached after posting), which
/// leaves the text as it stands and adds no version to the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadEdit {
    pub thread_id: String,
    pub post_id: String,
    /// Empty in an edit of the files only.
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
    /// How many files-only edits it had (at most [`MAX_EDITS`], as for the text).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub file_sets: u32,
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

    /// The files on `partner`'s posts that stand.
    pub fn file_count(&self, partner: &PartnerCode) -> usize {
        self.posts
            .iter()
            .filter(|p| p.retracted.is_none() && p.partner == *partner)
            .map(|p| p.attachments.len())
            .sum()
    }

    /// Whether `partner`'s posts may hold `adding` more files (after dropping `removing`).
    pub fn files_fit(&self, partner: &PartnerCode, removing: usize, adding: usize) -> bool {
        self.file_count(partner).saturating_sub(removing) + adding <= MAX_THREAD_FILES
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

fn is_zero(n: &u32) -> bool {
    *n == 0
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
                file_sets: 0,
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
            || !self.files_fit(origin, 0, p.attachments.len())
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
            file_sets: 0,
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
        // The files only: the text stands as it is (whatever edit of it came first).
        let files_only = e.body.is_empty() && e.attachments.is_some();
        let mentions = mentions_in(&e.body);
        if !files_only
            && (check_post(&e.body, &mentions, audience).is_err()
                || self.text_bytes() + e.body.len() > MAX_THREAD_BYTES)
        {
            return Err(false);
        }
        if !author_of(&e.author, origin)
            || e.attachments
                .as_deref()
                .is_some_and(|a| crate::attachment::check(a).is_err())
        {
            return Err(false);
        }
        if let Some(a) = &e.attachments {
            let had = self.post(&e.post_id).map_or(0, |p| p.attachments.len());
            if !self.files_fit(origin, had, a.len()) {
                return Err(false);
            }
        }
        let p = self.own_post(&e.post_id, origin, audience)?;
        // Both kinds of edit are bounded per post, so what a peer makes a holder fetch is too.
        if (files_only && p.file_sets >= MAX_EDITS as u32)
            || (!files_only && p.history.len() >= MAX_EDITS)
        {
            return Err(false);
        }
        if let Some(a) = &e.attachments {
            p.attachments = a.clone();
        }
        // A files-only edit is no edit of the text: the post does not read as edited.
        if files_only {
            p.file_sets += 1;
            return Ok(());
        }
        if p.body != e.body {
            let old = std::mem::replace(&mut p.body, e.body.clone());
            p.history.push(old);
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
mod tests;
