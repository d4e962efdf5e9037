//! Discussions: the list (unread first in mind: each row says what is new), starting a thread in
//! a format or on an object (`?subject=item:…`), and a thread's page with its replies, quotes,
//! the posts new since the last visit, and editing or retracting one's own posts. Viewing a
//! thread marks it read.

use super::*;
use axum::extract::FromRequest;
use entente_domain::attachment::AttachmentRef;
use entente_domain::coord::{NewPost, NewThread, ThreadState, ThreadSubject, ThreadSummary};
use entente_node::discussions::ThreadFilter;

/// The most a reply form sent URL-encoded may hold (axum's default body limit).
const MAX_FORM_BYTES: usize = 2 << 20;

#[derive(Template)]
#[template(path = "discussions.html")]
pub struct DiscussionsPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub threads: Vec<ThreadSummary>,
    pub formats: Vec<FormatState>,
    /// The partners the audience picker offers.
    pub partners: Vec<String>,
    /// The object the list is narrowed to and a new thread is about (`item:…`), with its title.
    pub subject: Option<(String, String)>,
}

/// `kind:id` as a subject, if the kind is one a thread may be about.
fn parse_subject(s: &str) -> Option<ThreadSubject> {
    let (kind, id) = s.split_once(':')?;
    entente_domain::coord::SUBJECT_KINDS
        .contains(&kind)
        .then(|| ThreadSubject {
            kind: kind.to_owned(),
            id: id.to_owned(),
        })
}

/// The title of an object the user may see, for a thread about it (None: not visible).
async fn subject_title(s: &WebState, sess: &Session, subj: &ThreadSubject) -> Option<String> {
    let who = &sess.who;
    let n = &s.node;
    match subj.kind.as_str() {
        "item" => n.item(who, &subj.id).await.ok().map(|x| x.title),
        "action" => n.action(who, &subj.id).await.ok().map(|x| x.title),
        "statement" => n
            .statement(who, &subj.id)
            .await
            .ok()
            .and_then(|x| x.state.versions.last().map(|v| v.title.clone())),
        "alert" => n.alert(who, &subj.id).await.ok().map(|x| x.alert.title),
        "exercise" => n
            .exercise(who, &subj.id)
            .await
            .ok()
            .map(|x| x.plan.details.name),
        "project" => n.project(who, &subj.id).await.ok().map(|x| x.project.title),
        "meeting" => n
            .meeting(who, &subj.id)
            .await
            .ok()
            .map(|x| x.meeting.plan.details.title),
        "paper" => n.paper(who, &subj.id).await.ok().map(|x| x.paper.title),
        _ => None,
    }
}

pub(super) async fn discussions_page(
    s: &WebState,
    sess: &Session,
    errors: Errors,
    form: FormData,
    subject: Option<ThreadSubject>,
) -> Response {
    let subject = match &subject {
        Some(subj) => match subject_title(s, sess, subj).await {
            Some(t) => Some((format!("{}:{}", subj.kind, subj.id), t)),
            None => return fail(&sess.ctx, NodeError::NotFound(subj_kind(&subj.kind))),
        },
        None => None,
    };
    let filter = ThreadFilter {
        format_id: None,
        subject: subject.as_ref().map(|(k, _)| k.clone()),
    };
    let r = async {
        Ok::<_, NodeError>((
            s.node.threads(&sess.who, &filter).await?,
            my_formats(s).await?,
        ))
    }
    .await;
    let (threads, formats) = match r {
        Ok(x) => x,
        Err(e) => return fail(&sess.ctx, e),
    };
    render(
        form_status(&errors),
        &DiscussionsPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            threads,
            partners: member_codes(&formats),
            formats,
            subject,
        },
    )
}

fn subj_kind(kind: &str) -> &'static str {
    entente_domain::coord::SUBJECT_KINDS
        .iter()
        .find(|k| **k == kind)
        .copied()
        .unwrap_or("object")
}

pub(super) async fn discussions(
    State(s): State<WebState>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Page {
    let sess = session(&s, &h).await?;
    let subject = parse_subject(query(&q).get("subject"));
    Ok(discussions_page(&s, &sess, Errors::default(), FormData::default(), subject).await)
}

pub(super) async fn start_discussion(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let subject = parse_subject(f.get("subject"));
    let mut errors = Errors::default();
    let mut fields = vec![("title", "Title"), ("body", "Text")];
    if subject.is_none() {
        fields.insert(0, ("format_id", "Format"));
    }
    required(&mut errors, &f, &fields);
    if !errors.is_empty() {
        return Ok(discussions_page(&s, &sess, errors, f, subject).await);
    }
    let to = f.list("releasable_to");
    let n = NewThread {
        attachments: vec![],
        format_id: f.get("format_id").to_owned(),
        title: f.get("title").to_owned(),
        body: f.get("body").to_owned(),
        subject: subject.clone(),
        releasable_to: (!to.is_empty()).then_some(to),
    };
    match s.node.start_thread(&sess.who, n).await {
        Ok(t) => Ok(done_to(
            &format!("/ui/discussions/{}", t.thread_id),
            Done::DiscussionStarted,
        )),
        Err(e) => Ok(discussions_page(
            &s,
            &sess,
            Errors::from_node(&e, &["format_id", "title", "body", "releasable_to"]),
            f,
            subject,
        )
        .await),
    }
}

#[derive(Template)]
#[template(path = "discussion.html")]
pub struct DiscussionPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub t: ThreadState,
    /// The audience in words against the format's members.
    pub audience: String,
    pub format_title: String,
    /// The subject's link and title, when the thread is about an object.
    pub subject: Option<(String, String)>,
    /// Posts new since the last visit.
    pub new_posts: Vec<String>,
    /// The post the reply form quotes, if one was chosen.
    pub quote: Option<String>,
    /// The signed-in user, `name@PARTNER`.
    pub me: String,
    pub officer: bool,
    /// Each post's files (by post id), with whether they are here and what the malware
    /// scanner found in one it withheld.
    pub files: std::collections::HashMap<String, Vec<(AttachmentRef, bool, Option<String>)>>,
}

impl DiscussionPage {
    /// A post's files as this node holds them (none listed: no files).
    pub fn files_of(&self, post_id: &str) -> &[(AttachmentRef, bool, Option<String>)] {
        self.files.get(post_id).map_or(&[], Vec::as_slice)
    }

    /// The error of this post's upload form, reported under its file input's id.
    pub fn file_error(&self, post_id: &str) -> Option<&String> {
        self.errors.get(&format!("file-{post_id}"))
    }

    pub fn is_new(&self, post_id: &str) -> bool {
        self.new_posts.iter().any(|p| p == post_id)
    }

    /// May the user change this post (their own, or any of this partner's as an officer)?
    pub fn may_change(&self, p: &entente_domain::coord::PostState) -> bool {
        p.retracted.is_none()
            && p.partner.as_str() == self.ctx.partner
            && (p.author == self.me || self.officer)
    }

    /// The first words of a quoted post, or None when it is not there (retracted, or not held).
    pub fn quoted(&self, post_id: &str) -> Option<(String, String)> {
        let p = self.t.post(post_id).filter(|p| p.retracted.is_none())?;
        let mut text: String = p.body.chars().take(300).collect();
        if p.body.chars().count() > 300 {
            text.push('…');
        }
        Some((p.author.clone(), text))
    }
}

pub(super) async fn discussion_page(
    s: &WebState,
    sess: &Session,
    id: &str,
    errors: Errors,
    form: FormData,
    quote: Option<String>,
) -> Response {
    let v = match s.node.thread(&sess.who, id).await {
        Ok(v) => v,
        Err(e) => return fail(&sess.ctx, e),
    };
    // What was new is shown as new this once; from now on it is read.
    if let Err(e) = s.node.mark_read(&sess.who, id).await {
        return fail(&sess.ctx, e);
    }
    let t = v.thread;
    let audience = audience_short(s, &t.format_id, &t.audience, sess.ctx.lang).await;
    let format_title = s
        .node
        .format(&t.format_id)
        .await
        .map(|f| f.title)
        .unwrap_or_else(|_| t.format_id.clone());
    let subject = match &t.subject {
        Some(subj) => subject_title(s, sess, subj).await.map(|title| {
            let path = match subj.kind.as_str() {
                "item" => "items",
                "action" => "actions",
                "statement" => "statements",
                "alert" => "alerts",
                "exercise" => "exercises",
                "meeting" => "meetings",
                "paper" => "papers",
                _ => "projects",
            };
            (format!("/ui/{path}/{}", subj.id), title)
        }),
        None => None,
    };
    let quote = quote.filter(|q| t.post(q).is_some_and(|p| p.retracted.is_none()));
    let mut files = std::collections::HashMap::new();
    for p in t.posts.iter().filter(|p| !p.attachments.is_empty()) {
        match s.node.post_files_here(&t.thread_id, p).await {
            Ok(f) => {
                files.insert(p.post_id.clone(), f);
            }
            Err(e) => return fail(&sess.ctx, e),
        }
    }
    render(
        form_status(&errors),
        &DiscussionPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            audience,
            format_title,
            subject,
            new_posts: v.new_posts,
            quote,
            me: sess.who.user_id(),
            officer: sess.who.role >= Role::Officer,
            files,
            t,
        },
    )
}

pub(super) async fn discussion(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Page {
    let sess = session(&s, &h).await?;
    let quote = Some(query(&q).get("quote").to_owned()).filter(|q| !q.is_empty());
    Ok(discussion_page(
        &s,
        &sess,
        &id,
        Errors::default(),
        FormData::default(),
        quote,
    )
    .await)
}

/// The reply form: its text, and a file to attach if one was chosen (multipart, streamed to
/// disk as it arrives, as every upload). A form sent URL-encoded (no file) is read as well.
pub(super) async fn discussion_reply(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Page {
    let multipart = h
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (sess, f, file, mut errors) = if multipart {
        let sess = session(&s, &h).await?;
        let form = axum::extract::Multipart::from_request(req, &s)
            .await
            .map_err(|e| e.into_response())?;
        let r = super::attachments::receive_form(&s, &sess, form, &["body", "quote"]).await?;
        (sess, r.fields, r.file, r.errors)
    } else {
        // The route takes uploads, so the body's limit is this handler's to set.
        let body = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE.into_response())?;
        let (sess, f) = posted(&s, &h, &body).await?;
        (sess, f, None, Errors::default())
    };
    let quote = Some(f.get("quote").to_owned()).filter(|q| !q.is_empty());
    required(&mut errors, &f, &[("body", "Text")]);
    if !errors.is_empty() {
        return Ok(discussion_page(&s, &sess, &id, errors, f, quote).await);
    }
    let n = NewPost {
        attachments: file.into_iter().collect(),
        body: f.get("body").to_owned(),
        quote: quote.clone(),
    };
    match s.node.reply(&sess.who, &id, n).await {
        Ok(t) => {
            // The reply is the user's own: the thread stays read.
            let _ = s.node.mark_read(&sess.who, &t.thread_id).await;
            Ok(done_to(&format!("/ui/discussions/{id}"), Done::Replied))
        }
        Err(e @ (NodeError::NotFound(_) | NodeError::Forbidden(_))) => Err(fail(&sess.ctx, e)),
        Err(e) => Ok(discussion_page(
            &s,
            &sess,
            &id,
            Errors::from_node(&e, &["body", "quote", "file"]),
            f,
            quote,
        )
        .await),
    }
}

/// Edit or retract one of the user's posts (`what` is `edit` or `retract`).
pub(super) async fn discussion_post_change(
    State(s): State<WebState>,
    h: HeaderMap,
    Path((id, post_id, what)): Path<(String, String, String)>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let r = match what.as_str() {
        "edit" => {
            let mut errors = Errors::default();
            required(&mut errors, &f, &[("body", "Text")]);
            if !errors.is_empty() {
                return Ok(
                    discussion_page(&s, &sess, &id, errors, FormData::default(), None).await,
                );
            }
            s.node
                .edit_post(&sess.who, &id, &post_id, f.get("body").to_owned())
                .await
                .map(|_| Done::Revised)
        }
        "retract" => s
            .node
            .retract_post(&sess.who, &id, &post_id, f.get("reason"))
            .await
            .map(|_| Done::Retracted),
        _ => return Err(fail(&sess.ctx, NodeError::NotFound("page"))),
    };
    match r {
        Ok(done) => Ok(done_to(&format!("/ui/discussions/{id}"), done)),
        Err(e @ (NodeError::NotFound(_) | NodeError::Forbidden(_))) => Err(fail(&sess.ctx, e)),
        Err(e) => Ok(discussion_page(
            &s,
            &sess,
            &id,
            Errors::from_node(&e, &["body"]),
            FormData::default(),
            None,
        )
        .await),
    }
}
