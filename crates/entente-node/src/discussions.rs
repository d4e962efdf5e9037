//! Discussions on a node: starting a thread in a format or on one of its objects, replying,
//! editing and retracting one's own posts (each a signed entry in this partner's log, released
//! to the thread's audience, fixed at its start), the reads (only threads whose audience holds
//! this node's partner), and each user's read marks (node-local, never replicated) from which
//! unread counts and "new since my last visit" come.

use crate::attachments::FileOwner;
use crate::auth::Principal;
use crate::{Node, NodeError};
pub use entente_domain::coord::{NewPost, NewThread, ThreadSummary, ThreadView};
use entente_domain::coord::{
    PostState, ThreadEdit, ThreadPost, ThreadRetract, ThreadStart, ThreadState, ThreadSubject,
    check_post, check_thread, mentions_in,
};
use entente_domain::fold::Coord;
use entente_domain::payload::Payload;
use entente_domain::{Audience, DomainError, Role, Tlp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// The filter of a thread list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ThreadFilter {
    pub format_id: Option<String>,
    /// `kind:id` of the subject.
    pub subject: Option<String>,
}

fn unread_of<'a>(
    t: &'a ThreadState,
    seen: Option<&BTreeSet<String>>,
    me: &str,
) -> impl Iterator<Item = &'a PostState> {
    t.posts
        .iter()
        .filter(move |p| p.retracted.is_none() && unseen(&p.post_id, &p.author, seen, me))
}

/// Whether a post (not retracted) is unread by `me`: another's, and not in my read marks.
fn unseen(post_id: &str, author: &str, seen: Option<&BTreeSet<String>>, me: &str) -> bool {
    author != me && !seen.is_some_and(|s| s.contains(post_id))
}

impl Node {
    /// Start a thread: its audience is the subject's (or the format's members), or a subset of
    /// it the caller names, fixed from now on.
    pub async fn start_thread(
        &self,
        who: &Principal,
        n: NewThread,
    ) -> Result<ThreadState, NodeError> {
        who.require(Role::Analyst, "start discussions")?;
        let (format_id, subject_audience) = match &n.subject {
            Some(s) => {
                let (f, a) = self.subject_of(who, s).await?;
                if !n.format_id.is_empty() && n.format_id != f {
                    return Err(DomainError::invalid(
                        "format_id",
                        "the subject belongs to another format",
                    )
                    .into());
                }
                (f, Some(a))
            }
            None => (n.format_id.clone(), None),
        };
        let f = self.format(&format_id).await?;
        let wanted = n.releasable_to.clone().or_else(|| {
            subject_audience
                .as_ref()
                .map(|a| a.iter().map(|p| p.to_string()).collect())
        });
        let aud = self.audience_in(&f, wanted.as_deref())?;
        // A thread on an object says what the object is: it may go no further than the object.
        if let Some(sa) = &subject_audience
            && let Some(p) = aud.iter().find(|p| !sa.contains(p))
        {
            return Err(DomainError::invalid(
                "releasable_to",
                format!("{p} may not see what this discussion is about"),
            )
            .into());
        }
        check_thread(&n.title, n.subject.as_ref())?;
        let mentions = mentions_in(&n.body);
        check_post(&n.body, &mentions, &aud)?;
        let files = self.attachment_refs(who, &n.attachments).await?;
        let s = ThreadStart {
            attachments: files,
            thread_id: self.owned_id(),
            format_id: f.format_id.clone(),
            title: n.title.trim().to_owned(),
            subject: n.subject,
            post_id: self.owned_id(),
            body: n.body,
            mentions,
            author: who.user_id(),
        };
        let id = s.thread_id.clone();
        let first = FileOwner::Post {
            thread_id: id.clone(),
            post_id: s.post_id.clone(),
        };
        self.verify_files_for(&first, &s.attachments).await?;
        self.publish(&aud, &[Payload::ThreadStart(s)]).await?;
        self.mark_read(who, &id).await?;
        self.thread_state(&id).await
    }

    /// The format and audience of an object the caller may see, for a thread about it.
    pub(crate) async fn subject_of(
        &self,
        who: &Principal,
        s: &ThreadSubject,
    ) -> Result<(String, Audience), NodeError> {
        check_thread("x", Some(s))?;
        Ok(match s.kind.as_str() {
            "item" => {
                let it = self.item(who, &s.id).await?;
                // A TLP:RED item is for its named users, not for a partner's discussion.
                if it.tlp >= Tlp::Red {
                    return Err(DomainError::invalid(
                        "subject",
                        "a TLP:RED item is not discussed in a thread: it is for its named users only",
                    )
                    .into());
                }
                (it.format_id, it.audience)
            }
            "action" => {
                let a = self.action(who, &s.id).await?;
                (a.format_id, a.audience)
            }
            "statement" => {
                let st = self.statement(who, &s.id).await?.state;
                (st.format_id, st.audience)
            }
            "alert" => {
                let a = self.alert(who, &s.id).await?.alert;
                (a.format_id, a.audience)
            }
            "exercise" => {
                let x = self.exercise(who, &s.id).await?;
                (x.plan.format_id, x.audience)
            }
            "meeting" => {
                let m = self.meeting(who, &s.id).await?.meeting;
                (m.plan.format_id, m.audience)
            }
            "paper" => {
                let p = self.paper(who, &s.id).await?.paper;
                (p.format_id, p.audience)
            }
            _ => {
                let p = self.project(who, &s.id).await?;
                (p.project.format_id, p.audience)
            }
        })
    }

    pub async fn reply(
        &self,
        who: &Principal,
        thread_id: &str,
        n: NewPost,
    ) -> Result<ThreadState, NodeError> {
        who.require(Role::Analyst, "post in discussions")?;
        let t = self.thread_state(thread_id).await?;
        if let Some(q) = &n.quote
            && t.post(q).is_none_or(|p| p.retracted.is_some())
        {
            return Err(DomainError::invalid("quote", "no such post in this discussion").into());
        }
        if t.posts.len() >= entente_domain::coord::MAX_POSTS {
            return Err(NodeError::Conflict(
                "this discussion is full: start a new one".into(),
            ));
        }
        let mentions = mentions_in(&n.body);
        check_post(&n.body, &mentions, &t.audience)?;
        let files = self.attachment_refs(who, &n.attachments).await?;
        if !t.files_fit(self.partner(), 0, files.len()) {
            return Err(NodeError::Conflict(format!(
                "your partner's posts in this discussion hold {} files, the most they may: start a new one",
                entente_domain::coord::MAX_THREAD_FILES
            )));
        }
        let p = ThreadPost {
            attachments: files,
            thread_id: thread_id.to_owned(),
            post_id: self.owned_id(),
            body: n.body,
            quote: n.quote.filter(|q| !q.is_empty()),
            mentions,
            author: who.user_id(),
        };
        let post = FileOwner::Post {
            thread_id: thread_id.to_owned(),
            post_id: p.post_id.clone(),
        };
        self.verify_files_for(&post, &p.attachments).await?;
        self.publish(&t.audience, &[Payload::ThreadPost(p)]).await?;
        // One's own reply is read.
        self.thread_state(thread_id).await
    }

    /// The post as the caller may change it: written at this partner, by the caller (or the
    /// caller is an officer, as for items), and not retracted.
    pub(crate) async fn own_post(
        &self,
        who: &Principal,
        thread_id: &str,
        post_id: &str,
    ) -> Result<ThreadState, NodeError> {
        let t = self.thread_state(thread_id).await?;
        let p = t.post(post_id).ok_or(NodeError::NotFound("post"))?;
        if p.partner != *self.partner() {
            return Err(NodeError::Forbidden(
                "change this post: only the partner that wrote it changes it",
            ));
        }
        if p.author != who.user_id() && who.role < Role::Officer {
            return Err(NodeError::Forbidden(
                "change this post: only its author or an officer changes it",
            ));
        }
        if p.retracted.is_some() {
            return Err(NodeError::Conflict("the post is retracted".into()));
        }
        Ok(t)
    }

    pub async fn edit_post(
        &self,
        who: &Principal,
        thread_id: &str,
        post_id: &str,
        body: String,
    ) -> Result<ThreadState, NodeError> {
        who.require(Role::Analyst, "edit posts")?;
        let t = self.own_post(who, thread_id, post_id).await?;
        if t.post(post_id).is_some_and(|p| p.body == body) {
            return Ok(t);
        }
        if t.post(post_id)
            .is_some_and(|p| p.history.len() >= entente_domain::coord::MAX_EDITS)
        {
            return Err(NodeError::Conflict(
                "this post was edited too often: reply instead".into(),
            ));
        }
        let mentions = mentions_in(&body);
        check_post(&body, &mentions, &t.audience)?;
        let e = ThreadEdit {
            attachments: None,
            thread_id: thread_id.to_owned(),
            post_id: post_id.to_owned(),
            body,
            mentions,
            author: who.user_id(),
        };
        self.publish(&t.audience, &[Payload::ThreadEdit(e)]).await?;
        self.thread_state(thread_id).await
    }

    pub async fn retract_post(
        &self,
        who: &Principal,
        thread_id: &str,
        post_id: &str,
        reason: &str,
    ) -> Result<ThreadState, NodeError> {
        who.require(Role::Analyst, "retract posts")?;
        let t = self.own_post(who, thread_id, post_id).await?;
        let r = ThreadRetract {
            thread_id: thread_id.to_owned(),
            post_id: post_id.to_owned(),
            reason: reason.chars().take(500).collect(),
            author: who.user_id(),
        };
        self.publish(&t.audience, &[Payload::ThreadRetract(r)])
            .await?;
        self.thread_state(thread_id).await
    }

    async fn thread_state(&self, id: &str) -> Result<ThreadState, NodeError> {
        match self.load_coord("thread", id).await? {
            Some(Coord::Thread(t)) if t.audience.contains(self.partner()) => Ok(t),
            _ => Err(NodeError::NotFound("discussion")),
        }
    }

    /// A thread, with the posts new since the caller's last visit (reading it does not mark it
    /// read: [`Node::mark_read`] does).
    pub async fn thread(&self, who: &Principal, id: &str) -> Result<ThreadView, NodeError> {
        let thread = self.thread_state(id).await?;
        let marks = self.read_marks(who).await?;
        let new_posts = unread_of(&thread, marks.get(id), &who.user_id())
            .map(|p| p.post_id.clone())
            .collect();
        Ok(ThreadView { thread, new_posts })
    }

    /// Record every post of the thread as seen by the caller.
    pub async fn mark_read(&self, who: &Principal, id: &str) -> Result<(), NodeError> {
        let t = self.thread_state(id).await?;
        let seen: Vec<&str> = t.posts.iter().map(|p| p.post_id.as_str()).collect();
        let json = serde_json::to_string(&seen).map_err(|e| NodeError::Internal(e.to_string()))?;
        self.store.set_read_mark(&who.username, id, &json).await?;
        Ok(())
    }

    async fn read_marks(
        &self,
        who: &Principal,
    ) -> Result<HashMap<String, BTreeSet<String>>, NodeError> {
        Ok(self
            .store
            .read_marks(&who.username)
            .await?
            .into_iter()
            .map(|(t, seen)| (t, serde_json::from_str(&seen).unwrap_or_default()))
            .collect())
    }

    /// Threads the caller may see, the most recently active first.
    pub async fn threads(
        &self,
        who: &Principal,
        f: &ThreadFilter,
    ) -> Result<Vec<ThreadSummary>, NodeError> {
        let marks = self.read_marks(who).await?;
        let me = who.user_id();
        let mut out = vec![];
        for s in self.store.objects("thread").await? {
            let Ok(Coord::Thread(t)) = serde_json::from_str::<Coord>(&s) else {
                continue;
            };
            if !t.audience.contains(self.partner())
                || f.format_id
                    .as_deref()
                    .is_some_and(|x| !x.is_empty() && x != t.format_id)
                || f.subject.as_deref().is_some_and(|x| {
                    !x.is_empty()
                        && t.subject
                            .as_ref()
                            .is_none_or(|s| format!("{}:{}", s.kind, s.id) != x)
                })
            {
                continue;
            }
            let unread: Vec<&PostState> = unread_of(&t, marks.get(&t.thread_id), &me).collect();
            out.push(ThreadSummary {
                unread: unread.len(),
                unread_mentions: unread.iter().filter(|p| p.mentions.contains(&me)).count(),
                posts: t.posts.iter().filter(|p| p.retracted.is_none()).count(),
                last_at: t.last_at().to_owned(),
                thread_id: t.thread_id,
                format_id: t.format_id,
                title: t.title,
                subject: t.subject,
                origin: t.origin.to_string(),
                audience: t.audience,
                created_at: t.created_at,
            });
        }
        out.sort_by(|a, b| {
            b.last_at
                .cmp(&a.last_at)
                .then(a.thread_id.cmp(&b.thread_id))
        });
        Ok(out)
    }

    /// Posts by others the caller has not seen, over every thread they may see: the counter in
    /// every page's navigation. The threads' posts are read and parsed once per store
    /// generation (`UnreadIndex`); only the caller's read marks are read each time.
    pub async fn unread_posts(&self, who: &Principal) -> Result<usize, NodeError> {
        let marks = self.read_marks(who).await?;
        let me = who.user_id();
        let threads = self.unread_index().await?;
        Ok(threads
            .iter()
            .map(|t| {
                let seen = marks.get(&t.thread_id);
                t.posts
                    .iter()
                    .filter(|(id, author)| unseen(id, author, seen, &me))
                    .count()
            })
            .sum())
    }

    /// The posts of every thread this partner is in, as of the store's current generation.
    async fn unread_index(&self) -> Result<std::sync::Arc<Vec<ThreadPosts>>, NodeError> {
        let index = self.ext::<UnreadIndex>();
        // Read before the threads, so threads newer than it are at worst labelled older and
        // read again on the next call, never kept under a newer generation than theirs.
        let generation = self.content_generation().await?;
        if let Some((g, v)) = index.0.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && *g == generation
        {
            return Ok(v.clone());
        }
        let mut out = vec![];
        for s in self.store.objects("thread").await? {
            let Ok(Coord::Thread(t)) = serde_json::from_str::<Coord>(&s) else {
                continue;
            };
            if !t.audience.contains(self.partner()) {
                continue;
            }
            out.push(ThreadPosts {
                posts: t
                    .posts
                    .into_iter()
                    .filter(|p| p.retracted.is_none())
                    .map(|p| (p.post_id, p.author))
                    .collect(),
                thread_id: t.thread_id,
            });
        }
        let v = std::sync::Arc::new(out);
        let mut cached = index.0.lock().unwrap_or_else(|e| e.into_inner());
        // A slower caller does not replace a newer reading with its older one.
        if cached.as_ref().is_none_or(|(g, _)| *g <= generation) {
            *cached = Some((generation, v.clone()));
        }
        Ok(v)
    }
}

/// The threads this partner is in, reduced to what the unread counter needs, and the store
/// generation they were read at ([`Node::content_generation`]): every change of a thread is an
/// appended entry, so the same generation means the same threads, in this process or any other
/// sharing the database. Without it every page parsed every thread of the node to show one
/// number. It holds two short strings per post, no text.
#[derive(Default)]
struct UnreadIndex(std::sync::Mutex<Option<(u64, std::sync::Arc<Vec<ThreadPosts>>)>>);

/// A thread's id and the `(post id, author)` of each of its posts not retracted.
struct ThreadPosts {
    thread_id: String,
    posts: Vec<(String, String)>,
}
