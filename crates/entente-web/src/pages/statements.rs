//! Joint statements: drafting, versions with their diff, stances (endorse, stand aside, object)
//! and adoption.

use super::*;

#[derive(Template)]
#[template(path = "statements.html")]
pub struct StatementsPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub statements: Vec<StatementView>,
    pub formats: Vec<FormatState>,
    /// The zones offered for the silence deadline, the user's first.
    pub zones: Vec<String>,
    /// The partners the picker offers: members of our formats.
    pub partners: Vec<String>,
}

impl StatementsPage {
    pub fn status(&self, st: &StatementStatus) -> String {
        status_words(st, &self.ctx.zone, self.ctx.lang)
    }
}

/// A statement's status in words, its adoption time as people read it.
pub(super) fn status_words(
    st: &StatementStatus,
    zone: &crate::zone::Zone,
    lang: crate::i18n::Lang,
) -> String {
    match st {
        StatementStatus::Adopted { at } => {
            lang.t_args("status-adopted-on", &[("at", zone.show(at))])
        }
        StatementStatus::Pending => lang.t("status-awaiting-stances"),
        StatementStatus::Blocked { by } => lang.t_args(
            "status-blocked-by",
            &[(
                "partners",
                by.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
            )],
        ),
    }
}

pub(super) async fn statements_page(
    s: &WebState,
    sess: &Session,
    errors: Errors,
    form: FormData,
) -> Response {
    let r =
        async { Ok::<_, NodeError>((s.node.statements(&sess.who).await?, my_formats(s).await?)) }
            .await;
    let (statements, formats) = match r {
        Ok(x) => x,
        Err(e) => return fail(&sess.ctx, e),
    };
    let status = form_status(&errors);
    render(
        status,
        &StatementsPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            statements,
            partners: member_codes(&formats),
            formats,
            zones: crate::zone::common_zones(&sess.ctx.zone.name),
        },
    )
}

pub(super) async fn statements(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    Ok(statements_page(&s, &sess, Errors::default(), FormData::default()).await)
}

pub(super) async fn create_statement(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(
        &mut errors,
        &f,
        &[
            ("format_id", "Format"),
            ("title", "Title"),
            ("text", "The text"),
        ],
    );
    let rule = match f.get("rule") {
        "silence" => entente_domain::statement::AdoptionRule::Silence,
        _ => entente_domain::statement::AdoptionRule::Unanimity,
    };
    if f.get("rule") == "silence" && f.get("deadline").is_empty() {
        errors.add("deadline", "The silence procedure needs a deadline.");
    }
    // The deadline is typed as a wall-clock time in a named zone (the user's own unless
    // they pick another), and signed as the UTC instant it names.
    let deadline = match f.opt("deadline") {
        None => None,
        Some(typed) => {
            let zone = match f.opt("deadline_zone") {
                None => Some(sess.ctx.zone.clone()),
                Some(z) => crate::zone::Zone::named(&z),
            };
            match zone.map(|z| z.parse_local(&typed)) {
                Some(Ok(at)) => Some(at),
                Some(Err(why)) => {
                    errors.add("deadline", format!("Deadline: {why}."));
                    None
                }
                None => {
                    errors.add("deadline", "Deadline: choose a known time zone.");
                    None
                }
            }
        }
    };
    if !errors.is_empty() {
        return Ok(statements_page(&s, &sess, errors, f).await);
    }
    let n = entente_node::statements::NewStatement {
        format_id: f.get("format_id").to_owned(),
        title: f.get("title").to_owned(),
        text: f.get("text").to_owned(),
        releasable_to: partners_field(&f, "releasable_to"),
        required: None,
        rule,
        deadline,
    };
    match s.node.create_statement(&sess.who, n).await {
        Ok(v) => Ok(done_to(
            &format!("/ui/statements/{}", v.state.statement_id),
            Done::StatementDrafted,
        )),
        Err(e) => Ok(statements_page(
            &s,
            &sess,
            Errors::from_node(
                &e,
                &["format_id", "title", "text", "releasable_to", "deadline"],
            ),
            f,
        )
        .await),
    }
}

#[derive(Template)]
#[template(path = "statement.html")]
pub struct StatementPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub view: StatementView,
    pub status: String,
    /// (partner, stance on the current version, reason, by, at)
    pub stances: Vec<(String, String, String, String, String)>,
    pub may_take_stance: bool,
    /// The silence deadline in each required partner's local time.
    pub deadline_locals: Vec<(String, String)>,
    pub ours: bool,
    /// Adopted: (partner, entry, signature prefix) for the draft and every stance.
    pub signatures: Vec<(String, String, String)>,
    pub text: String,
    pub title: String,
    /// The audience in words against the format's members.
    pub audience: String,
    pub version: u32,
    /// The meeting these are the minutes of, if they are.
    pub minutes_of: Option<String>,
    /// The concept paper this is the sign-off of, if it is.
    pub signoff_of: Option<String>,
}

pub(super) fn stance_name(s: &Stance) -> String {
    match s {
        Stance::Endorse => "endorsed",
        Stance::StandAside => "stood aside",
        Stance::Object => "objected",
    }
    .into()
}

pub(super) async fn statement_view(
    s: &WebState,
    sess: &Session,
    id: &str,
    errors: Errors,
) -> Response {
    statement_view_with(s, sess, id, errors, false).await
}

pub(super) async fn statement_view_with(
    s: &WebState,
    sess: &Session,
    id: &str,
    errors: Errors,
    whole_diff: bool,
) -> Response {
    let mut view = match s.node.statement(&sess.who, id).await {
        Ok(v) => v,
        Err(e) => return fail(&sess.ctx, e),
    };
    if whole_diff && view.diff_more > 0 {
        match s.node.statement_diff(&sess.who, id).await {
            Ok(d) => {
                view.diff = d.lines;
                view.diff_more = 0;
            }
            Err(e) => return fail(&sess.ctx, e),
        }
    }
    let me = s.node.partner().clone();
    let cur = view.state.versions.last().cloned();
    let version = cur.as_ref().map(|v| v.version).unwrap_or(1);
    let stances = view
        .current_stances
        .iter()
        .map(|(p, st)| {
            let rec = view.state.stances.get(p).filter(|r| r.version == version);
            (
                p.to_string(),
                sess.ctx.label(
                    &st.as_ref()
                        .map(stance_name)
                        .unwrap_or_else(|| "awaiting".into()),
                ),
                rec.map(|r| r.reason.clone()).unwrap_or_default(),
                rec.map(|r| r.author.clone()).unwrap_or_default(),
                rec.map(|r| r.at.clone()).unwrap_or_default(),
            )
        })
        .collect();
    let (status, adopted) = match &view.status {
        StatementStatus::Adopted { .. } => (
            status_words(&view.status, &sess.ctx.zone, sess.ctx.lang),
            true,
        ),
        other => (status_words(other, &sess.ctx.zone, sess.ctx.lang), false),
    };
    let mut signatures = vec![];
    if adopted && let Ok(x) = s.node.export_statement(&sess.who, id).await {
        for e in std::iter::once(&x.draft).chain(x.stances.iter()) {
            if let Ok(p) = entente_log::parse_entry(e) {
                signatures.push((
                    p.header.origin.to_string(),
                    format!("{} #{}", p.header.kind, p.header.seq),
                    hex::encode(&p.sig[..12]),
                ));
            }
        }
    }
    let deadline_locals = view
        .state
        .deadline
        .as_deref()
        .map(|d| member_local_times(s, &view.state.required, d))
        .unwrap_or_default();
    let pending = matches!(view.status, StatementStatus::Pending);
    let status_code = form_status(&errors);
    let audience = audience_short(
        s,
        &view.state.format_id,
        &view.state.audience,
        sess.ctx.lang,
    )
    .await;
    let minutes_of = s
        .node
        .meetings(&sess.who)
        .await
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.minutes.as_deref() == Some(view.state.statement_id.as_str()))
        .map(|m| m.plan.meeting_id);
    let signoff_of = s
        .node
        .papers(&sess.who)
        .await
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.signoff.as_deref() == Some(view.state.statement_id.as_str()))
        .map(|p| p.paper_id);
    render(
        status_code,
        &StatementPage {
            minutes_of,
            signoff_of,
            audience,
            ctx: sess.ctx.clone(),
            deadline_locals,
            errors,
            may_take_stance: pending && view.state.required.contains(&me),
            ours: view.state.origin == me,
            stances,
            status,
            signatures,
            text: cur.as_ref().map(|v| v.text.clone()).unwrap_or_default(),
            title: cur.as_ref().map(|v| v.title.clone()).unwrap_or_default(),
            version,
            view,
        },
    )
}

/// `at` in each partner's local time (this node's configured zone for its own partner, the
/// usual seat for the others; a partner without one is left out), for a deadline every
/// member must read the same.
fn member_local_times(
    s: &WebState,
    partners: &[entente_domain::PartnerCode],
    at: &str,
) -> Vec<(String, String)> {
    let me = s.node.partner();
    partners
        .iter()
        .filter_map(|p| {
            let zone = if p == me {
                crate::node_zone(s)
            } else {
                crate::zone::Zone::named(entente_node::zone::seat(p.as_str())?)?
            };
            Some((p.to_string(), zone.local(at)?))
        })
        .collect()
}

/// `?diff=all` shows the whole diff; without it the page carries the first
/// `statements::DIFF_SHOWN` lines and a link, so a long revision costs nothing until asked for.
pub(super) async fn statement_page(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Page {
    let sess = session(&s, &h).await?;
    let all = q.as_deref() == Some("diff=all");
    Ok(statement_view_with(&s, &sess, &id, Errors::default(), all).await)
}

pub(super) async fn statement_stance(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let stance = match f.get("stance") {
        "endorse" => Some(Stance::Endorse),
        "stand_aside" => Some(Stance::StandAside),
        "object" => Some(Stance::Object),
        _ => None,
    };
    let mut errors = Errors::default();
    let version = f.get("version").parse::<u32>().ok();
    if stance.is_none() {
        errors.add("stance", "Choose endorse, stand aside or object.");
    }
    if stance == Some(Stance::Object) && f.get("reason").is_empty() {
        errors.add("reason", "Say why you object.");
    }
    let (Some(stance), Some(version), true) = (stance, version, errors.is_empty()) else {
        if version.is_none() {
            errors.add("stance", "The version is missing; reload the page.");
        }
        return Ok(statement_view(&s, &sess, &id, errors).await);
    };
    match s
        .node
        .take_stance(&sess.who, &id, version, stance, f.get("reason"))
        .await
    {
        Ok(_) => Ok(done_to(&format!("/ui/statements/{id}"), Done::Stance)),
        Err(e) => {
            Ok(statement_view(&s, &sess, &id, Errors::from_node(&e, &["stance", "reason"])).await)
        }
    }
}

pub(super) async fn statement_revise(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(&mut errors, &f, &[("title", "Title"), ("text", "The text")]);
    if !errors.is_empty() {
        return Ok(statement_view(&s, &sess, &id, errors).await);
    }
    match s
        .node
        .revise_statement(&sess.who, &id, f.get("title"), f.get("text"))
        .await
    {
        Ok(_) => Ok(done_to(&format!("/ui/statements/{id}"), Done::Revised)),
        Err(e) => {
            Ok(statement_view(&s, &sess, &id, Errors::from_node(&e, &["title", "text"])).await)
        }
    }
}

/// One signature on an adopted statement, as the printable copy lists it.
pub struct SignatureLine {
    pub partner: String,
    /// What the entry says in words: "drafted version 2", "endorsed", "stood aside".
    pub signed: String,
    pub reason: String,
    pub by: String,
    pub at: String,
    /// The log entry that carries it: kind and sequence number.
    pub entry: String,
    /// The whole Ed25519 signature in hex, so a printed copy can be compared by eye.
    pub signature: String,
}

#[derive(Template)]
#[template(path = "statement_signed.html")]
pub struct SignedStatementPage {
    pub ctx: Ctx,
    pub doc: entente_node::statements::StatementExport,
    /// The audience in words against the format's members.
    pub audience: String,
    pub signatures: Vec<SignatureLine>,
    /// The name the JSON download is saved under.
    pub file: String,
}

/// The export of an adopted statement, through the same node call as the REST export, which
/// answers "not found" to a viewer outside the statement's audience (as the statement page
/// does) and refuses a statement that is not adopted; that refusal becomes a 409 page here,
/// so no partial copy is ever served.
async fn signed_export(
    s: &WebState,
    sess: &Session,
    id: &str,
) -> Result<entente_node::statements::StatementExport, Response> {
    match s.node.export_statement(&sess.who, id).await {
        Ok(x) => Ok(x),
        Err(NodeError::Conflict(_)) => Err(render(
            StatusCode::CONFLICT,
            &ErrorPage {
                ctx: sess.ctx.clone(),
                title: "Not adopted".into(),
                message: "Only an adopted statement has a signed copy, and this statement is not adopted (yet). Its page shows whose stances it awaits.".into(),
            },
        )),
        Err(e) => Err(fail(&sess.ctx, e)),
    }
}

/// The file name of a statement's JSON copy: the id's letters, digits and dashes only, so a
/// peer's odd id cannot shape the header.
fn signed_file(statement_id: &str) -> String {
    let id: String = statement_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    format!("statement-{id}.json")
}

/// The draft and every stance of an export in words, with their whole signatures.
fn signature_lines(ctx: &Ctx, x: &entente_node::statements::StatementExport) -> Vec<SignatureLine> {
    use entente_domain::payload::Payload;
    std::iter::once(&x.draft)
        .chain(x.stances.iter())
        .filter_map(|e| {
            let p = entente_log::parse_entry(e).ok()?;
            let (signed, reason, by) = match Payload::parse(&p.header.kind, p.payload()).ok()? {
                Payload::StatementDraft(d) => (
                    ctx.lang
                        .t_args("signed-drafted-version", &[("v", d.version.to_string())]),
                    String::new(),
                    d.author,
                ),
                Payload::StatementStance(st) => {
                    (ctx.label(&stance_name(&st.stance)), st.reason, st.author)
                }
                _ => return None,
            };
            Some(SignatureLine {
                partner: p.header.origin.to_string(),
                signed,
                reason,
                by,
                at: p.header.ts.clone(),
                entry: format!("{} #{}", p.header.kind, p.header.seq),
                signature: hex::encode(p.sig),
            })
        })
        .collect()
}

/// A printable copy of an adopted statement: the text, the agreed hash, every signature with
/// who and when, the audience in words and how to check it offline.
pub(super) async fn statement_signed(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let sess = session(&s, &h).await?;
    let doc = signed_export(&s, &sess, &id).await?;
    // The export does not name the format, which the audience in words is measured against.
    let view = s
        .node
        .statement(&sess.who, &id)
        .await
        .map_err(|e| fail(&sess.ctx, e))?;
    let audience = audience_short(
        &s,
        &view.state.format_id,
        &view.state.audience,
        sess.ctx.lang,
    )
    .await;
    Ok(render(
        StatusCode::OK,
        &SignedStatementPage {
            ctx: sess.ctx.clone(),
            audience,
            signatures: signature_lines(&sess.ctx, &doc),
            file: signed_file(&doc.statement_id),
            doc,
        },
    ))
}

/// The signed copy as the REST export's JSON, saved as a file (`entente verify --statement`
/// reads it).
pub(super) async fn statement_signed_json(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let sess = session(&s, &h).await?;
    let doc = signed_export(&s, &sess, &id).await?;
    let body = serde_json::to_string(&doc)
        .map_err(|e| fail(&sess.ctx, NodeError::Internal(e.to_string())))?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        signed_file(&doc.statement_id)
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response())
}
