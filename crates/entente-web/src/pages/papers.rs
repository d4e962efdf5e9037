//! Concept papers: the list with the drafting form, and a paper's page: its current text by
//! section, each with a form to propose an amendment, the amendments with the penholder's
//! accept and reject forms, the changes from the version before, and the sign-off.

use super::*;
use entente_domain::coord::{AmendmentStatus, NewAmendment, NewPaper, NewSignoff, PaperState};
use entente_node::papers::PaperView;

#[derive(Template)]
#[template(path = "papers.html")]
pub struct PapersPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub papers: Vec<PaperState>,
    pub formats: Vec<FormatState>,
    pub partners: Vec<String>,
}

pub(super) async fn papers_page(
    s: &WebState,
    sess: &Session,
    errors: Errors,
    form: FormData,
) -> Response {
    let r =
        async { Ok::<_, NodeError>((s.node.papers(&sess.who).await?, my_formats(s).await?)) }.await;
    let (papers, formats) = match r {
        Ok(x) => x,
        Err(e) => return fail(&sess.ctx, e),
    };
    render(
        form_status(&errors),
        &PapersPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            papers,
            partners: member_codes(&formats),
            formats,
        },
    )
}

pub(super) async fn papers(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    Ok(papers_page(&s, &sess, Errors::default(), FormData::default()).await)
}

pub(super) async fn draft_paper(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(
        &mut errors,
        &f,
        &[
            ("format_id", "Format"),
            ("title", "Title"),
            ("text", "Text"),
        ],
    );
    if !errors.is_empty() {
        return Ok(papers_page(&s, &sess, errors, f).await);
    }
    let to = f.list("releasable_to");
    let n = NewPaper {
        format_id: f.get("format_id").to_owned(),
        title: f.get("title").to_owned(),
        text: f.get("text").to_owned(),
        co_authors: f.list("co_authors"),
        releasable_to: (!to.is_empty()).then_some(to),
    };
    match s.node.draft_paper(&sess.who, n).await {
        Ok(p) => Ok(done_to(
            &format!("/ui/papers/{}", p.paper_id),
            Done::PaperDrafted,
        )),
        Err(e) => Ok(papers_page(
            &s,
            &sess,
            Errors::from_node(
                &e,
                &["format_id", "title", "text", "co_authors", "releasable_to"],
            ),
            f,
        )
        .await),
    }
}

#[derive(Template)]
#[template(path = "paper.html")]
pub struct PaperPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub v: PaperView,
    pub audience: String,
    pub penholder: bool,
    /// The sign-off's status in words.
    pub status: String,
    /// The files (convener's or penholder's), each with whether it is here and what the
    /// malware scanner found in one it withheld.
    pub files: Vec<(
        entente_domain::attachment::AttachmentRef,
        bool,
        Option<String>,
    )>,
    /// The page the files hang under (`/ui/papers/ID`).
    pub files_base: String,
    /// May the user attach a file here (this partner convenes or holds the pen)?
    pub may_attach: bool,
}

impl PaperPage {
    pub fn heading(&self, section: &usize) -> String {
        self.v
            .paper
            .current()
            .sections
            .get(*section)
            .map(|s| s.heading.clone())
            .unwrap_or_default()
    }

    pub fn proposed(&self, st: &AmendmentStatus) -> bool {
        *st == AmendmentStatus::Proposed
    }

    pub fn status_of(&self, st: &AmendmentStatus) -> String {
        self.ctx.label(match st {
            AmendmentStatus::Proposed => "proposed",
            AmendmentStatus::Accepted => "accepted",
            AmendmentStatus::Rejected => "rejected",
        })
    }
}

/// A paper's page with errors of a form posted to it.
pub(super) async fn paper_view(s: &WebState, sess: &Session, id: &str, errors: Errors) -> Response {
    paper_page(s, sess, id, errors).await
}

async fn paper_page(s: &WebState, sess: &Session, id: &str, errors: Errors) -> Response {
    let v = match s.node.paper(&sess.who, id).await {
        Ok(v) => v,
        Err(e) => return fail(&sess.ctx, e),
    };
    let audience = audience_short(s, &v.paper.format_id, &v.paper.audience, sess.ctx.lang).await;
    let status = v
        .signoff
        .as_ref()
        .map(|st| super::statements::status_words(&st.status, &sess.ctx.zone, sess.ctx.lang))
        .unwrap_or_default();
    let files = match s.node.object_files_here("paper", id).await {
        Ok(f) => f,
        Err(e) => return fail(&sess.ctx, e),
    };
    let penholder = v.paper.penholder == *s.node.partner();
    render(
        form_status(&errors),
        &PaperPage {
            ctx: sess.ctx.clone(),
            errors,
            audience,
            penholder,
            status,
            files,
            files_base: format!("/ui/papers/{id}"),
            may_attach: penholder && sess.who.role >= Role::Officer && v.paper.signoff.is_none(),
            v,
        },
    )
}

pub(super) async fn paper(State(s): State<WebState>, h: HeaderMap, Path(id): Path<String>) -> Page {
    let sess = session(&s, &h).await?;
    Ok(paper_page(&s, &sess, &id, Errors::default()).await)
}

/// The paper's forms: `amend` (propose), `accept` and `reject` (the penholder, with the
/// amendment in `amendment`), `signoff` (the penholder circulates it).
pub(super) async fn paper_post(
    State(s): State<WebState>,
    h: HeaderMap,
    Path((id, what)): Path<(String, String)>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let r = match what.as_str() {
        "amend" => {
            let mut errors = Errors::default();
            required(&mut errors, &f, &[("text", "Text"), ("reason", "Reason")]);
            let section = f.get("section").parse::<usize>().ok();
            if section.is_none() {
                errors.add("section", "Choose the section to amend.");
            }
            if !errors.is_empty() {
                return Ok(paper_page(&s, &sess, &id, errors).await);
            }
            s.node
                .propose_amendment(
                    &sess.who,
                    &id,
                    NewAmendment {
                        section: section.unwrap_or_default(),
                        text: f.get("text").to_owned(),
                        reason: f.get("reason").to_owned(),
                    },
                )
                .await
                .map(|_| Done::AmendmentProposed)
        }
        "accept" | "reject" => s
            .node
            .decide_amendment(
                &sess.who,
                &id,
                f.get("amendment"),
                what == "accept",
                f.get("reason"),
            )
            .await
            .map(|_| Done::AmendmentDecided),
        "signoff" => s
            .node
            .circulate_paper(&sess.who, &id, NewSignoff::default())
            .await
            .map(|_| Done::PaperCirculated),
        _ => return Err(fail(&sess.ctx, NodeError::NotFound("page"))),
    };
    match r {
        Ok(done) => Ok(done_to(&format!("/ui/papers/{id}"), done)),
        Err(e @ (NodeError::NotFound(_) | NodeError::Forbidden(_))) => Err(fail(&sess.ctx, e)),
        Err(e) => Ok(paper_page(
            &s,
            &sess,
            &id,
            Errors::from_node(&e, &["text", "reason", "section"]),
        )
        .await),
    }
}
