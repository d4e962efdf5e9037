//! The UI's pages and form handlers. Each GET renders what the node returns for the signed-in
//! user; each POST checks the session's CSRF token, validates, calls the node once and either
//! redirects (post/redirect/get) or renders the form again with messages beside the fields,
//! having stored nothing.

use crate::svg::{SvgEdge, SvgNode};
use crate::{Ctx, Errors, FormData, Session, WebState, render};
use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use entente_domain::alert::RecipientStatus;
use entente_domain::coord::{ActionState, ExerciseState, ProjectState, Reactions};
use entente_domain::statement::{Stance, StatementStatus};
use entente_domain::{FormatState, ItemKind, ItemState, Role, Tlp};
use entente_node::NodeError;
use entente_node::alerts::AlertView;
use entente_node::auth::TokenKind;
use entente_node::statements::StatementView;
use std::collections::BTreeMap;

pub(crate) type Page = Result<Response, Response>;

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/assets/style.css", get(style))
        .route("/ui/assets/htmx.min.js", get(htmx))
        .route("/ui/", get(dashboard))
        .route("/ui/formats", get(formats).post(create_formats))
        .route("/ui/formats/{id}", get(format_page))
        .route("/ui/formats/{id}/report", get(report_page))
        .route("/ui/items", get(items).post(new_item_post))
        .route("/ui/items/new", get(new_item))
        .route("/ui/items/{id}", get(item_page))
        .route("/ui/items/{id}/react", post(item_react))
        .route("/ui/items/{id}/retract", post(item_retract))
        .route("/ui/actions", get(actions).post(create_action))
        .route("/ui/actions/{id}", get(action_page))
        .route("/ui/actions/{id}/progress", post(action_progress))
        .route("/ui/statements", get(statements).post(create_statement))
        .route("/ui/statements/{id}", get(statement_page))
        .route("/ui/statements/{id}/stance", post(statement_stance))
        .route("/ui/statements/{id}/revise", post(statement_revise))
        .route("/ui/alerts", get(alerts).post(raise_alert))
        .route("/ui/alerts/{id}", get(alert_page))
        .route("/ui/alerts/{id}/board", get(alert_board))
        .route("/ui/alerts/{id}/ack", post(alert_ack))
        .route("/ui/exercises", get(exercises).post(plan_exercise))
        .route("/ui/exercises/{id}/respond", post(exercise_respond))
        .route("/ui/projects", get(projects).post(register_project))
        .route("/ui/projects/{id}/interest", post(project_interest))
        .route("/ui/search", get(search))
        .route("/ui/network", get(network))
        .route("/ui/released", get(released))
        .route("/ui/admin", get(admin))
        .route("/ui/admin/{what}", post(admin_post))
}

// ----- shared pieces ------------------------------------------------------------------------

async fn style() -> impl IntoResponse {
    asset("text/css", include_str!("../assets/style.css"))
}

async fn htmx() -> impl IntoResponse {
    asset("text/javascript", include_str!("../assets/htmx.min.js"))
}

fn asset(ct: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(ct)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub ctx: Ctx,
    pub title: String,
    pub message: String,
}

/// A node error on a page load: not found stays not found (nothing hints at hidden entries).
pub(crate) fn fail(ctx: &Ctx, e: NodeError) -> Response {
    let (status, title) = match &e {
        NodeError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
        NodeError::Forbidden(_) => (StatusCode::FORBIDDEN, "Not allowed"),
        NodeError::Unauthorized => (StatusCode::UNAUTHORIZED, "Sign in again"),
        NodeError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
        NodeError::Internal(_) | NodeError::Store(_) => {
            tracing::error!(error = %e, "UI page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong")
        }
        _ => (StatusCode::UNPROCESSABLE_ENTITY, "Cannot do that"),
    };
    let message = match status {
        StatusCode::INTERNAL_SERVER_ERROR => "The node could not complete this request.".into(),
        _ => e.to_string(),
    };
    render(
        status,
        &ErrorPage {
            ctx: ctx.clone(),
            title: title.into(),
            message,
        },
    )
}

pub(crate) async fn session(s: &WebState, h: &HeaderMap) -> Result<Session, Response> {
    Session::load(s, h).await
}

/// Session plus a CSRF-checked form body.
pub(crate) async fn posted(
    s: &WebState,
    h: &HeaderMap,
    body: &Bytes,
) -> Result<(Session, FormData), Response> {
    let sess = session(s, h).await?;
    let f = FormData::parse(body);
    sess.check(&f)?;
    Ok((sess, f))
}

fn query(q: &Option<String>) -> FormData {
    FormData::parse(q.as_deref().unwrap_or("").as_bytes())
}

/// 422 when a form is shown again with messages, 200 otherwise.
fn form_status(errors: &Errors) -> StatusCode {
    if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

fn today(s: &WebState) -> String {
    s.node.clock().now_rfc3339()[..10].to_owned()
}

fn topics_all() -> Vec<(String, String)> {
    entente_domain::taxonomy::TOPICS
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn kinds() -> Vec<String> {
    ItemKind::ALL
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect()
}

fn tlps() -> Vec<String> {
    Tlp::ALL.iter().map(|t| t.as_str().to_owned()).collect()
}

async fn my_formats(s: &WebState) -> Result<Vec<FormatState>, NodeError> {
    let me = s.node.partner().clone();
    Ok(s.node
        .formats()
        .await?
        .into_iter()
        .filter(|f| f.members.contains(&me))
        .collect())
}

fn members(f: &FormatState) -> Vec<String> {
    f.members.iter().map(|m| m.to_string()).collect()
}

/// Partner codes from checkboxes or a comma-separated text field: None when there are none.
fn partners_field(f: &FormData, name: &str) -> Option<Vec<String>> {
    let v: Vec<String> = f
        .all(name)
        .iter()
        .flat_map(|x| x.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect();
    (!v.is_empty()).then_some(v)
}

pub(crate) fn required(errors: &mut Errors, f: &FormData, fields: &[(&str, &str)]) {
    for (name, label) in fields {
        if f.get(name).is_empty() {
            errors.add(name, format!("{label} is required."));
        }
    }
}

/// The audience of an entry stated in words, as the item form shows it before publishing.
/// `origin` is named "(this partner)" when `ours`.
pub fn audience_words(
    origin: &str,
    ours: bool,
    audience: &[String],
    tlp: Option<&str>,
    named: &[String],
) -> String {
    let first = if ours {
        format!("{origin} (this partner)")
    } else {
        origin.to_owned()
    };
    let mut names: Vec<String> = std::iter::once(first)
        .chain(audience.iter().filter(|p| *p != origin).cloned())
        .collect();
    let to = if names.len() == 1 {
        format!("only {}: no other partner will receive it", names[0])
    } else {
        let last = names.pop().unwrap_or_default();
        format!(
            "{} and {last}; no other partner will receive it or learn that it exists",
            names.join(", ")
        )
    };
    let within = match tlp {
        None | Some("RED") => {
            if named.is_empty() {
                "Marked TLP:RED (unmarked means RED): within those partners only you will see it.".to_owned()
            } else {
                format!(
                    "Marked TLP:RED: within those partners only you and {} will see it.",
                    named.join(", ")
                )
            }
        }
        Some("AMBER+STRICT") => "Marked TLP:AMBER+STRICT: recipients may share it only within their own organisation.".into(),
        Some("AMBER") => "Marked TLP:AMBER: recipients may share it with their organisation and its clients on a need-to-know basis.".into(),
        Some("GREEN") => "Marked TLP:GREEN: recipients may share it within their community, not publicly.".into(),
        Some(_) => "Marked TLP:CLEAR: no limit on further disclosure by recipients.".into(),
    };
    format!("Released to {to}. {within}")
}

// ----- dashboard ------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub ctx: Ctx,
    pub formats: Vec<FormatState>,
    pub alerts: Vec<AlertView>,
    pub statements: Vec<StatementView>,
    /// (action id, action title, milestone title, due)
    pub overdue: Vec<(String, String, String, String)>,
    pub latest: Vec<ItemState>,
}

async fn dashboard(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    let r = dashboard_data(&s, &sess).await;
    r.map_err(|e| fail(&sess.ctx, e))
}

async fn dashboard_data(s: &WebState, sess: &Session) -> Result<Response, NodeError> {
    let me = s.node.partner().clone();
    let who = &sess.who;
    let alerts = s
        .node
        .alerts(who)
        .await?
        .into_iter()
        .filter(|a| a.awaiting_our_ack)
        .collect();
    let statements = s
        .node
        .statements(who)
        .await?
        .into_iter()
        .filter(|v| {
            matches!(v.status, StatementStatus::Pending)
                && v.current_stances
                    .iter()
                    .any(|(p, st)| p == &me && st.is_none())
        })
        .collect();
    let today = today(s);
    let mut overdue = vec![];
    for a in s.node.actions(who, None).await? {
        for m in &a.milestones {
            if !m.done && m.due < today {
                overdue.push((
                    a.action_id.clone(),
                    a.title.clone(),
                    m.title.clone(),
                    m.due.clone(),
                ));
            }
        }
    }
    let month_ago = entente_node::clock::rfc3339(s.node.clock().now() - time::Duration::days(30));
    let mut latest = s
        .node
        .items(
            who,
            entente_node::ItemFilter {
                since: Some(month_ago),
                limit: Some(500),
                ..Default::default()
            },
        )
        .await?
        .items;
    latest.retain(|i| i.retracted.is_none());
    latest.reverse();
    latest.truncate(10);
    Ok(render(
        StatusCode::OK,
        &DashboardPage {
            ctx: sess.ctx.clone(),
            formats: my_formats(s).await?,
            alerts,
            statements,
            overdue,
            latest,
        },
    ))
}

// ----- formats ------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "formats.html")]
pub struct FormatsPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub formats: Vec<FormatState>,
    pub partners: Vec<String>,
}

async fn formats_page(s: &WebState, sess: &Session, errors: Errors, form: FormData) -> Response {
    let formats = match s.node.formats().await {
        Ok(f) => f,
        Err(e) => return fail(&sess.ctx, e),
    };
    let me = s.node.partner().to_string();
    let partners = s
        .node
        .peer_list()
        .into_iter()
        .map(|p| p.record.partner.to_string())
        .filter(|p| p != "EU" && p != "NATO" && *p != me)
        .collect();
    let status = form_status(&errors);
    render(
        status,
        &FormatsPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            formats,
            partners,
        },
    )
}

async fn formats(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    Ok(formats_page(&s, &sess, Errors::default(), FormData::default()).await)
}

async fn create_formats(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(&mut errors, &f, &[("partner", "Partner")]);
    if errors.is_empty() {
        match s
            .node
            .create_from_template(&sess.who, f.get("partner"))
            .await
        {
            Ok(created) => {
                return Ok(see_other(&format!(
                    "/ui/formats/{}",
                    created.first().map(|c| c.format_id.as_str()).unwrap_or("")
                )));
            }
            Err(e) => {
                errors = Errors::from_node(&e, &[]);
                if matches!(e, NodeError::UnknownPartner(_) | NodeError::Domain(_)) {
                    errors = Errors::default();
                    errors.add("partner", e.to_string());
                }
            }
        }
    }
    Ok(formats_page(&s, &sess, errors, f).await)
}

#[derive(Template)]
#[template(path = "format.html")]
pub struct FormatPage {
    pub ctx: Ctx,
    pub format: FormatState,
    pub topics: Vec<(String, String)>,
    pub period: String,
}

async fn format_page(State(s): State<WebState>, h: HeaderMap, Path(id): Path<String>) -> Page {
    let sess = session(&s, &h).await?;
    let format = visible_format(&s, &id)
        .await
        .map_err(|e| fail(&sess.ctx, e))?;
    let topics = topics_all()
        .into_iter()
        .filter(|(t, _)| format.topics.contains(t))
        .collect();
    Ok(render(
        StatusCode::OK,
        &FormatPage {
            ctx: sess.ctx.clone(),
            format,
            topics,
            period: today(&s)[..7].to_owned(),
        },
    ))
}

/// A format this partner belongs to (others: not found, as the API answers).
async fn visible_format(s: &WebState, id: &str) -> Result<FormatState, NodeError> {
    let f = s.node.format(id).await?;
    if f.members.contains(s.node.partner()) {
        Ok(f)
    } else {
        Err(NodeError::NotFound("format"))
    }
}

#[derive(Template)]
#[template(path = "report.html")]
pub struct ReportPage {
    pub ctx: Ctx,
    pub format_id: String,
    pub report: entente_domain::coord::PeriodicReport,
}

async fn report_page(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Page {
    let sess = session(&s, &h).await?;
    let q = query(&q);
    let period = q.opt("period").unwrap_or_else(|| today(&s)[..7].to_owned());
    visible_format(&s, &id)
        .await
        .map_err(|e| fail(&sess.ctx, e))?;
    let report = s
        .node
        .progress_report(&sess.who, &id, &period)
        .await
        .map_err(|e| fail(&sess.ctx, e))?;
    let download = |ct: &'static str, ext: &str, body: String| {
        (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(ct)),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_str(&format!(
                        "attachment; filename=\"progress-report-{period}.{ext}\""
                    ))
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
                ),
            ],
            body,
        )
            .into_response()
    };
    Ok(match q.get("download") {
        "md" => download("text/markdown; charset=utf-8", "md", report.markdown()),
        "html" => download("text/html; charset=utf-8", "html", report.html()),
        _ => render(
            StatusCode::OK,
            &ReportPage {
                ctx: sess.ctx.clone(),
                format_id: id,
                report,
            },
        ),
    })
}

// ----- items --------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "items.html")]
pub struct ItemsPage {
    pub ctx: Ctx,
    pub q: FormData,
    pub items: Vec<ItemState>,
    pub next: Option<String>,
    pub facets: BTreeMap<String, Vec<(String, u64)>>,
    pub formats: Vec<FormatState>,
    pub kinds: Vec<String>,
    pub tlps: Vec<String>,
    pub topics: Vec<(String, String)>,
}

impl ItemsPage {
    /// This page's query with one filter set (a facet link).
    pub fn with(&self, k: &str, v: &str) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (n, x) in &self.q.0 {
            if n != k && n != "cursor" && !x.is_empty() {
                out.append_pair(n, x);
            }
        }
        out.append_pair(k, v);
        out.finish()
    }
    pub fn next_link(&self, cursor: &str) -> String {
        self.with("cursor", cursor)
    }
}

async fn items(State(s): State<WebState>, h: HeaderMap, RawQuery(q): RawQuery) -> Page {
    let sess = session(&s, &h).await?;
    let q = query(&q);
    let filter = entente_node::ItemFilter {
        format: q.opt("format"),
        kind: q.opt("kind"),
        topic: q.opt("topic"),
        partner: q.opt("partner"),
        tlp: q.opt("tlp"),
        since: None,
        cursor: q.opt("cursor"),
        limit: Some(50),
    };
    let page = match s.node.items(&sess.who, filter).await {
        Ok(p) => p,
        Err(e) => return Err(fail(&sess.ctx, e)),
    };
    // Facet counts come from the search index, which counts only what this user may see.
    let facets = s
        .node
        .search(
            &sess.who,
            entente_node::search::SearchRequest {
                format: q.opt("format"),
                kind: q.opt("kind"),
                topic: q.opt("topic"),
                partner: q.opt("partner"),
                tlp: q.opt("tlp"),
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .map(|r| r.facets)
        .unwrap_or_default();
    Ok(render(
        StatusCode::OK,
        &ItemsPage {
            ctx: sess.ctx.clone(),
            items: page.items,
            next: page.next,
            facets,
            formats: my_formats(&s).await.map_err(|e| fail(&sess.ctx, e))?,
            kinds: kinds(),
            tlps: tlps(),
            topics: topics_all(),
            q,
        },
    ))
}

#[derive(Template)]
#[template(path = "item_new.html")]
pub struct NewItemPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub formats: Vec<FormatState>,
    /// The chosen format, once there is one.
    pub format: Option<FormatState>,
    pub others: Vec<String>,
    pub topics: Vec<(String, String)>,
    pub kinds: Vec<String>,
    pub tlps: Vec<String>,
    /// Set on the review step: the audience in words, and the form is sent again to publish.
    pub review: Option<String>,
}

async fn new_item_page(
    s: &WebState,
    sess: &Session,
    form: FormData,
    errors: Errors,
    review: Option<String>,
) -> Response {
    let formats = match my_formats(s).await {
        Ok(f) => f,
        Err(e) => return fail(&sess.ctx, e),
    };
    let format = formats
        .iter()
        .find(|f| f.format_id == form.get("format_id"))
        .cloned();
    let me = s.node.partner().to_string();
    let others = format
        .as_ref()
        .map(|f| members(f).into_iter().filter(|m| *m != me).collect())
        .unwrap_or_default();
    let topics = topics_all()
        .into_iter()
        .filter(|(t, _)| format.as_ref().is_some_and(|f| f.topics.contains(t)))
        .collect();
    let status = form_status(&errors);
    render(
        status,
        &NewItemPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            formats,
            format,
            others,
            topics,
            kinds: kinds(),
            tlps: tlps(),
            review,
        },
    )
}

async fn new_item(State(s): State<WebState>, h: HeaderMap, RawQuery(q): RawQuery) -> Page {
    let sess = session(&s, &h).await?;
    let mut form = query(&q);
    if form.get("tlp").is_empty() {
        form.0.push(("tlp".into(), "AMBER".into()));
    }
    Ok(new_item_page(&s, &sess, form, Errors::default(), None).await)
}

fn new_item_input(f: &FormData) -> entente_node::NewItem {
    entente_node::NewItem {
        format_id: f.get("format_id").to_owned(),
        kind: f.get("kind").to_owned(),
        title: f.get("title").to_owned(),
        body: f.get("body").to_owned(),
        topics: f.all("topics"),
        tlp: f.opt("tlp"),
        releasable_to: Some(f.all("releasable_to")),
        named_users: f.list("named_users"),
    }
}

const ITEM_FIELDS: &[&str] = &[
    "format_id",
    "kind",
    "title",
    "body",
    "topics",
    "tlp",
    "releasable_to",
    "named_users",
];

/// Two steps: "review" states the resulting audience in words and stores nothing; "publish"
/// (sent from the review) signs and stores the item.
async fn new_item_post(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(
        &mut errors,
        &f,
        &[
            ("format_id", "Format"),
            ("kind", "Kind"),
            ("title", "Title"),
            ("tlp", "TLP level"),
        ],
    );
    if !errors.is_empty() {
        return Ok(new_item_page(&s, &sess, f, errors, None).await);
    }
    let input = new_item_input(&f);
    match f.get("step") {
        "publish" => match s.node.create_item(&sess.who, input).await {
            Ok(it) => Ok(see_other(&format!("/ui/items/{}", it.item_id))),
            Err(e) => {
                let errors = Errors::from_node(&e, ITEM_FIELDS);
                Ok(new_item_page(&s, &sess, f, errors, None).await)
            }
        },
        "edit" => Ok(new_item_page(&s, &sess, f, errors, None).await),
        _ => match s.node.prepare_item(&sess.who, input).await {
            Ok((aud, p)) => {
                let words = audience_words(
                    s.node.partner().as_str(),
                    true,
                    &aud.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                    p.tlp.map(|t| t.as_str()),
                    &p.named_users,
                );
                Ok(new_item_page(&s, &sess, f, errors, Some(words)).await)
            }
            Err(e) => {
                let errors = Errors::from_node(&e, ITEM_FIELDS);
                Ok(new_item_page(&s, &sess, f, errors, None).await)
            }
        },
    }
}

#[derive(Template)]
#[template(path = "item.html")]
pub struct ItemPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub item: ItemState,
    pub provenance: entente_node::provenance::Provenance,
    pub reactions: Reactions,
    pub ours: bool,
    pub audience_words: String,
}

async fn item_view(s: &WebState, sess: &Session, id: &str, errors: Errors) -> Response {
    let r = async {
        let item = s.node.item(&sess.who, id).await?;
        let provenance = s.node.item_provenance(&sess.who, id).await?;
        let reactions = s.node.reactions(&sess.who, id).await?;
        Ok::<_, NodeError>((item, provenance, reactions))
    }
    .await;
    let (item, provenance, reactions) = match r {
        Ok(x) => x,
        Err(e) => return fail(&sess.ctx, e),
    };
    let audience: Vec<String> = item.audience.iter().map(|p| p.to_string()).collect();
    let words = audience_words(
        item.origin.as_str(),
        &item.origin == s.node.partner(),
        &audience,
        Some(item.tlp.as_str()),
        &item.named_users,
    );
    let status = form_status(&errors);
    render(
        status,
        &ItemPage {
            ctx: sess.ctx.clone(),
            errors,
            // The retract form only for whoever may retract (its author, an officer).
            ours: entente_domain::policy::may_edit_item(
                s.node.partner(),
                &sess.who.user_id(),
                sess.who.role,
                &item,
            )
            .is_ok(),
            audience_words: words,
            item,
            provenance,
            reactions,
        },
    )
}

async fn item_page(State(s): State<WebState>, h: HeaderMap, Path(id): Path<String>) -> Page {
    let sess = session(&s, &h).await?;
    Ok(item_view(&s, &sess, &id, Errors::default()).await)
}

async fn item_react(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let r = match f.get("what") {
        "endorse" => s.node.endorse(&sess.who, &id).await.map(|_| ()),
        "sighting" => {
            let mut errors = Errors::default();
            let count = f.get("count").parse::<u32>().ok().filter(|c| *c > 0);
            if count.is_none() {
                errors.add("count", "Give the number of sightings (1 or more).");
            }
            required(&mut errors, &f, &[("seen_at", "Date seen")]);
            if !errors.is_empty() {
                return Ok(item_view(&s, &sess, &id, errors).await);
            }
            s.node
                .sighting(
                    &sess.who,
                    &id,
                    f.get("seen_at"),
                    count.unwrap_or(1),
                    f.get("note"),
                )
                .await
                .map(|_| ())
        }
        _ => Err(NodeError::Domain(entente_domain::DomainError::invalid(
            "what",
            "endorse or sighting",
        ))),
    };
    match r {
        Ok(()) => Ok(see_other(&format!("/ui/items/{id}"))),
        Err(e) => Ok(item_view(&s, &sess, &id, Errors::from_node(&e, &["seen_at", "count"])).await),
    }
}

async fn item_retract(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(&mut errors, &f, &[("reason", "A reason")]);
    if !errors.is_empty() {
        return Ok(item_view(&s, &sess, &id, errors).await);
    }
    match s.node.retract_item(&sess.who, &id, f.get("reason")).await {
        Ok(_) => Ok(see_other(&format!("/ui/items/{id}"))),
        Err(e) => Ok(item_view(&s, &sess, &id, Errors::from_node(&e, &["reason"])).await),
    }
}

// ----- actions ------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "actions.html")]
pub struct ActionsPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub actions: Vec<ActionState>,
    pub formats: Vec<FormatState>,
    pub topics: Vec<(String, String)>,
    pub today: String,
}

async fn actions_page(s: &WebState, sess: &Session, errors: Errors, form: FormData) -> Response {
    let r = async {
        Ok::<_, NodeError>((s.node.actions(&sess.who, None).await?, my_formats(s).await?))
    }
    .await;
    let (actions, formats) = match r {
        Ok(x) => x,
        Err(e) => return fail(&sess.ctx, e),
    };
    let status = form_status(&errors);
    render(
        status,
        &ActionsPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            actions,
            formats,
            topics: topics_all(),
            today: today(s),
        },
    )
}

async fn actions(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    Ok(actions_page(&s, &sess, Errors::default(), FormData::default()).await)
}

async fn create_action(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(
        &mut errors,
        &f,
        &[("format_id", "Format"), ("title", "Title")],
    );
    if f.all("topics").is_empty() {
        errors.add("topics", "Choose at least one topic.");
    }
    let leads = f.list("leads");
    if leads.is_empty() {
        errors.add("leads", "Name at least one lead partner.");
    }
    // Milestones: one per line, "YYYY-MM-DD title".
    let mut milestones = vec![];
    for line in f
        .get("milestones")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        match line.split_once(' ') {
            Some((due, title))
                if due.len() == 10
                    && entente_node::clock::parse_rfc3339(&format!("{due}T00:00:00Z")).is_some() =>
            {
                milestones.push(entente_node::coord::NewMilestone {
                    title: title.trim().to_owned(),
                    due: due.to_owned(),
                })
            }
            _ => errors.add(
                "milestones",
                format!("\u{201c}{line}\u{201d}: write each milestone as YYYY-MM-DD followed by its title."),
            ),
        }
    }
    if !errors.is_empty() {
        return Ok(actions_page(&s, &sess, errors, f).await);
    }
    let n = entente_node::coord::NewAction {
        format_id: f.get("format_id").to_owned(),
        title: f.get("title").to_owned(),
        description: f.get("description").to_owned(),
        group: f.get("group").to_owned(),
        topics: f.all("topics"),
        leads,
        participants: f.list("participants"),
        milestones,
    };
    match s.node.create_action(&sess.who, n).await {
        Ok(a) => Ok(see_other(&format!("/ui/actions/{}", a.action_id))),
        Err(e) => {
            let errors = Errors::from_node(
                &e,
                &[
                    "format_id",
                    "title",
                    "topics",
                    "leads",
                    "participants",
                    "milestones",
                ],
            );
            Ok(actions_page(&s, &sess, errors, f).await)
        }
    }
}

#[derive(Template)]
#[template(path = "action.html")]
pub struct ActionPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub action: ActionState,
    pub statuses: Vec<String>,
    pub participant: bool,
    pub period: String,
    pub today: String,
}

async fn action_view(s: &WebState, sess: &Session, id: &str, errors: Errors) -> Response {
    let action = match s.node.action(&sess.who, id).await {
        Ok(a) => a,
        Err(e) => return fail(&sess.ctx, e),
    };
    let status = form_status(&errors);
    render(
        status,
        &ActionPage {
            ctx: sess.ctx.clone(),
            errors,
            participant: action.is_participant(s.node.partner()),
            action,
            statuses: entente_domain::coord::ActionStatus::ALL
                .iter()
                .map(status_name)
                .collect(),
            period: today(s)[..7].to_owned(),
            today: today(s),
        },
    )
}

fn status_name(x: &impl serde::Serialize) -> String {
    serde_json::to_value(x)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn action_page(State(s): State<WebState>, h: HeaderMap, Path(id): Path<String>) -> Page {
    let sess = session(&s, &h).await?;
    Ok(action_view(&s, &sess, &id, Errors::default()).await)
}

async fn action_progress(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(
        &mut errors,
        &f,
        &[
            ("period", "Period"),
            ("status", "Status"),
            ("narrative", "A narrative"),
        ],
    );
    let status = serde_json::from_value(serde_json::Value::String(f.get("status").into()));
    if status.is_err() && !f.get("status").is_empty() {
        errors.add("status", "Choose one of the listed statuses.");
    }
    if !errors.is_empty() {
        return Ok(action_view(&s, &sess, &id, errors).await);
    }
    let n = entente_node::coord::NewProgress {
        period: f.get("period").to_owned(),
        status: status.unwrap_or(entente_domain::coord::ActionStatus::InProgress),
        narrative: f.get("narrative").to_owned(),
        milestones: f
            .all("done")
            .into_iter()
            .map(|m| entente_domain::coord::MilestoneUpdate {
                milestone_id: m,
                done: true,
                note: String::new(),
            })
            .collect(),
    };
    match s.node.report_progress(&sess.who, &id, n).await {
        Ok(_) => Ok(see_other(&format!("/ui/actions/{id}"))),
        Err(e) => Ok(action_view(
            &s,
            &sess,
            &id,
            Errors::from_node(&e, &["period", "status", "narrative"]),
        )
        .await),
    }
}

// ----- statements -----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "statements.html")]
pub struct StatementsPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub statements: Vec<StatementView>,
    pub formats: Vec<FormatState>,
}

async fn statements_page(s: &WebState, sess: &Session, errors: Errors, form: FormData) -> Response {
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
            formats,
        },
    )
}

async fn statements(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    Ok(statements_page(&s, &sess, Errors::default(), FormData::default()).await)
}

async fn create_statement(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
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
        deadline: f.opt("deadline").map(|d| {
            if d.len() == 10 {
                format!("{d}T23:59:59Z")
            } else {
                d
            }
        }),
    };
    match s.node.create_statement(&sess.who, n).await {
        Ok(v) => Ok(see_other(&format!(
            "/ui/statements/{}",
            v.state.statement_id
        ))),
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
    pub ours: bool,
    /// Adopted: (partner, entry, signature prefix) for the draft and every stance.
    pub signatures: Vec<(String, String, String)>,
    pub text: String,
    pub title: String,
    pub version: u32,
}

fn stance_name(s: &Stance) -> String {
    match s {
        Stance::Endorse => "endorsed",
        Stance::StandAside => "stood aside",
        Stance::Object => "objected",
    }
    .into()
}

async fn statement_view(s: &WebState, sess: &Session, id: &str, errors: Errors) -> Response {
    statement_view_with(s, sess, id, errors, false).await
}

async fn statement_view_with(
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
                st.as_ref()
                    .map(stance_name)
                    .unwrap_or_else(|| "awaiting".into()),
                rec.map(|r| r.reason.clone()).unwrap_or_default(),
                rec.map(|r| r.author.clone()).unwrap_or_default(),
                rec.map(|r| r.at.clone()).unwrap_or_default(),
            )
        })
        .collect();
    let (status, adopted) = match &view.status {
        StatementStatus::Adopted { at } => (format!("Adopted on {at}"), true),
        other => (status_name(other).replace('_', " "), false),
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
    let pending = matches!(view.status, StatementStatus::Pending);
    let status_code = form_status(&errors);
    render(
        status_code,
        &StatementPage {
            ctx: sess.ctx.clone(),
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

/// `?diff=all` shows the whole diff; without it the page carries the first
/// `statements::DIFF_SHOWN` lines and a link, so a long revision costs nothing until asked for.
async fn statement_page(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Page {
    let sess = session(&s, &h).await?;
    let all = q.as_deref() == Some("diff=all");
    Ok(statement_view_with(&s, &sess, &id, Errors::default(), all).await)
}

async fn statement_stance(
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
        Ok(_) => Ok(see_other(&format!("/ui/statements/{id}"))),
        Err(e) => {
            Ok(statement_view(&s, &sess, &id, Errors::from_node(&e, &["stance", "reason"])).await)
        }
    }
}

async fn statement_revise(
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
        Ok(_) => Ok(see_other(&format!("/ui/statements/{id}"))),
        Err(e) => {
            Ok(statement_view(&s, &sess, &id, Errors::from_node(&e, &["title", "text"])).await)
        }
    }
}

// ----- alerts -------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "alerts.html")]
pub struct AlertsPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub alerts: Vec<AlertView>,
    pub formats: Vec<FormatState>,
}

async fn alerts_page(s: &WebState, sess: &Session, errors: Errors, form: FormData) -> Response {
    let r =
        async { Ok::<_, NodeError>((s.node.alerts(&sess.who).await?, my_formats(s).await?)) }.await;
    let (alerts, formats) = match r {
        Ok(x) => x,
        Err(e) => return fail(&sess.ctx, e),
    };
    let status = form_status(&errors);
    render(
        status,
        &AlertsPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            alerts,
            formats,
        },
    )
}

async fn alerts(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    Ok(alerts_page(&s, &sess, Errors::default(), FormData::default()).await)
}

async fn raise_alert(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(
        &mut errors,
        &f,
        &[("format_id", "Format"), ("title", "Title")],
    );
    let severity = serde_json::from_value(serde_json::Value::String(f.get("severity").into()));
    if severity.is_err() {
        errors.add("severity", "Choose a severity.");
    }
    let hours = f
        .get("ack_hours")
        .parse::<i64>()
        .ok()
        .filter(|h| (1..=720).contains(h));
    if hours.is_none() {
        errors.add(
            "ack_hours",
            "Give the hours allowed for acknowledgement (1 to 720).",
        );
    }
    let (Ok(severity), Some(hours), true) = (severity, hours, errors.is_empty()) else {
        return Ok(alerts_page(&s, &sess, errors, f).await);
    };
    let n = entente_node::alerts::NewAlert {
        format_id: f.get("format_id").to_owned(),
        severity,
        title: f.get("title").to_owned(),
        text: f.get("text").to_owned(),
        ack_deadline: entente_node::clock::rfc3339(
            s.node.clock().now() + time::Duration::hours(hours),
        ),
        releasable_to: partners_field(&f, "releasable_to"),
    };
    match s.node.raise_alert(&sess.who, n).await {
        Ok(v) => Ok(see_other(&format!("/ui/alerts/{}", v.alert.alert_id))),
        Err(e) => Ok(alerts_page(
            &s,
            &sess,
            Errors::from_node(&e, &["format_id", "title", "releasable_to"]),
            f,
        )
        .await),
    }
}

#[derive(Template)]
#[template(path = "alert.html")]
pub struct AlertPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub view: AlertView,
    pub board: Vec<(String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "alert_board.html")]
pub struct AlertBoard {
    pub board: Vec<(String, String, String, String)>,
}

/// (partner, status, delivered at, acknowledged at and by)
fn board(v: &AlertView) -> Vec<(String, String, String, String)> {
    v.board
        .iter()
        .map(|(p, st)| {
            let status = match st {
                RecipientStatus::Sent => "Sent",
                RecipientStatus::Delivered => "Delivered",
                RecipientStatus::Acknowledged => "Acknowledged",
                RecipientStatus::Overdue => "Overdue",
            };
            (
                p.to_string(),
                status.to_owned(),
                v.alert.receipts.get(p).cloned().unwrap_or_default(),
                v.alert
                    .acks
                    .get(p)
                    .map(|a| format!("{} by {}", a.at, a.by))
                    .unwrap_or_default(),
            )
        })
        .collect()
}

async fn alert_view(s: &WebState, sess: &Session, id: &str, errors: Errors) -> Response {
    let view = match s.node.alert(&sess.who, id).await {
        Ok(v) => v,
        Err(e) => return fail(&sess.ctx, e),
    };
    let status = form_status(&errors);
    render(
        status,
        &AlertPage {
            ctx: sess.ctx.clone(),
            errors,
            board: board(&view),
            view,
        },
    )
}

async fn alert_page(State(s): State<WebState>, h: HeaderMap, Path(id): Path<String>) -> Page {
    let sess = session(&s, &h).await?;
    Ok(alert_view(&s, &sess, &id, Errors::default()).await)
}

/// The board alone, for htmx to refresh in place.
async fn alert_board(State(s): State<WebState>, h: HeaderMap, Path(id): Path<String>) -> Page {
    let sess = session(&s, &h).await?;
    let view = s
        .node
        .alert(&sess.who, &id)
        .await
        .map_err(|e| fail(&sess.ctx, e))?;
    Ok(render(
        StatusCode::OK,
        &AlertBoard {
            board: board(&view),
        },
    ))
}

async fn alert_ack(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    match s
        .node
        .acknowledge_alert(&sess.who, &id, f.get("note"))
        .await
    {
        Ok(_) => Ok(see_other(&format!("/ui/alerts/{id}"))),
        Err(e) => Ok(alert_view(&s, &sess, &id, Errors::from_node(&e, &["note"])).await),
    }
}

// ----- exercises and projects -----------------------------------------------------------------

#[derive(Template)]
#[template(path = "exercises.html")]
pub struct ExercisesPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    /// Month (YYYY-MM) → exercises starting in it, in date order.
    pub calendar: Vec<(String, Vec<ExerciseState>)>,
    pub formats: Vec<FormatState>,
    pub topics: Vec<(String, String)>,
}

async fn exercises_page(s: &WebState, sess: &Session, errors: Errors, form: FormData) -> Response {
    let r =
        async { Ok::<_, NodeError>((s.node.exercises(&sess.who).await?, my_formats(s).await?)) }
            .await;
    let (mut xs, formats) = match r {
        Ok(x) => x,
        Err(e) => return fail(&sess.ctx, e),
    };
    xs.sort_by(|a, b| a.plan.start.cmp(&b.plan.start));
    let mut calendar: Vec<(String, Vec<ExerciseState>)> = vec![];
    for x in xs {
        let m = x.plan.start.get(..7).unwrap_or_default().to_owned();
        match calendar.last_mut() {
            Some((lm, v)) if *lm == m => v.push(x),
            _ => calendar.push((m, vec![x])),
        }
    }
    let status = form_status(&errors);
    render(
        status,
        &ExercisesPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            calendar,
            formats,
            topics: topics_all(),
        },
    )
}

async fn exercises(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    Ok(exercises_page(&s, &sess, Errors::default(), FormData::default()).await)
}

async fn plan_exercise(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(
        &mut errors,
        &f,
        &[
            ("format_id", "Format"),
            ("name", "Name"),
            ("start", "Start date"),
            ("end", "End date"),
        ],
    );
    if f.all("topics").is_empty() {
        errors.add("topics", "Choose at least one topic.");
    }
    if f.list("invited").is_empty() {
        errors.add("invited", "Invite at least one partner.");
    }
    if !errors.is_empty() {
        return Ok(exercises_page(&s, &sess, errors, f).await);
    }
    let n = entente_node::coord::NewExercise {
        format_id: f.get("format_id").to_owned(),
        name: f.get("name").to_owned(),
        start: f.get("start").to_owned(),
        end: f.get("end").to_owned(),
        topics: f.all("topics"),
        invited: f.list("invited"),
        observers: f.list("observers"),
    };
    match s.node.plan_exercise(&sess.who, n).await {
        Ok(_) => Ok(see_other("/ui/exercises")),
        Err(e) => Ok(exercises_page(
            &s,
            &sess,
            Errors::from_node(
                &e,
                &[
                    "format_id",
                    "name",
                    "start",
                    "end",
                    "topics",
                    "invited",
                    "observers",
                ],
            ),
            f,
        )
        .await),
    }
}

async fn exercise_respond(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let r = serde_json::from_value(serde_json::Value::String(f.get("response").into()));
    let Ok(r) = r else {
        let mut e = Errors::default();
        e.add("_form", "Choose participate, observe or decline.");
        return Ok(exercises_page(&s, &sess, e, FormData::default()).await);
    };
    match s.node.respond_exercise(&sess.who, &id, r).await {
        Ok(_) => Ok(see_other("/ui/exercises")),
        Err(e) => {
            Ok(exercises_page(&s, &sess, Errors::from_node(&e, &[]), FormData::default()).await)
        }
    }
}

#[derive(Template)]
#[template(path = "projects.html")]
pub struct ProjectsPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub projects: Vec<ProjectState>,
    pub formats: Vec<FormatState>,
    pub area: String,
    pub matches: Vec<(String, Vec<String>)>,
}

async fn projects_page(
    s: &WebState,
    sess: &Session,
    errors: Errors,
    form: FormData,
    area: String,
) -> Response {
    let r = async {
        let matches = if area.is_empty() {
            BTreeMap::new()
        } else {
            s.node.match_projects(&sess.who, &area).await?
        };
        Ok::<_, NodeError>((
            s.node.projects(&sess.who).await?,
            my_formats(s).await?,
            matches,
        ))
    }
    .await;
    let (projects, formats, matches) = match r {
        Ok(x) => x,
        Err(e) => return fail(&sess.ctx, e),
    };
    let status = form_status(&errors);
    render(
        status,
        &ProjectsPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            projects,
            formats,
            area,
            matches: matches
                .into_iter()
                .map(|(p, v)| (p.to_string(), v))
                .collect(),
        },
    )
}

async fn projects(State(s): State<WebState>, h: HeaderMap, RawQuery(q): RawQuery) -> Page {
    let sess = session(&s, &h).await?;
    let area = query(&q).get("area").to_owned();
    Ok(projects_page(&s, &sess, Errors::default(), FormData::default(), area).await)
}

async fn register_project(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(
        &mut errors,
        &f,
        &[
            ("format_id", "Format"),
            ("title", "Title"),
            ("capability_area", "Capability area"),
            ("stage", "Stage"),
        ],
    );
    if f.list("participants").is_empty() {
        errors.add("participants", "Name at least one participating partner.");
    }
    if !errors.is_empty() {
        return Ok(projects_page(&s, &sess, errors, f, String::new()).await);
    }
    let n = entente_node::coord::NewProject {
        format_id: f.get("format_id").to_owned(),
        title: f.get("title").to_owned(),
        capability_area: f.get("capability_area").to_owned(),
        description: f.get("description").to_owned(),
        stage: f.get("stage").to_owned(),
        participants: f.list("participants"),
        releasable_to: None,
    };
    match s.node.register_project(&sess.who, n).await {
        Ok(_) => Ok(see_other("/ui/projects")),
        Err(e) => Ok(projects_page(
            &s,
            &sess,
            Errors::from_node(
                &e,
                &[
                    "format_id",
                    "title",
                    "capability_area",
                    "stage",
                    "participants",
                ],
            ),
            f,
            String::new(),
        )
        .await),
    }
}

async fn project_interest(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    match s.node.express_interest(&sess.who, &id, f.get("note")).await {
        Ok(_) => Ok(see_other("/ui/projects")),
        Err(e) => Ok(projects_page(
            &s,
            &sess,
            Errors::from_node(&e, &[]),
            FormData::default(),
            String::new(),
        )
        .await),
    }
}

// ----- search, network, released ------------------------------------------------------------

#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchPage {
    pub ctx: Ctx,
    pub q: FormData,
    pub result: Option<entente_node::search::SearchView>,
    pub error: Option<String>,
}

impl SearchPage {
    pub fn with(&self, k: &str, v: &str) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (n, x) in &self.q.0 {
            if n != k && !x.is_empty() {
                out.append_pair(n, x);
            }
        }
        out.append_pair(k, v);
        out.finish()
    }
}

async fn search(State(s): State<WebState>, h: HeaderMap, RawQuery(q): RawQuery) -> Page {
    let sess = session(&s, &h).await?;
    let q = query(&q);
    let searched = !q.0.is_empty();
    let mut error = None;
    let mut result = None;
    if searched {
        let r = entente_node::search::SearchRequest {
            q: q.get("q").to_owned(),
            format: q.opt("format"),
            topic: q.opt("topic"),
            partner: q.opt("partner"),
            kind: q.opt("kind"),
            tlp: q.opt("tlp"),
            period: q.opt("period"),
            limit: Some(50),
        };
        match s.node.search(&sess.who, r).await {
            Ok(v) => result = Some(v),
            Err(e) => error = Some(e.to_string()),
        }
    }
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render(
        status,
        &SearchPage {
            ctx: sess.ctx.clone(),
            q,
            result,
            error,
        },
    ))
}

#[derive(Template)]
#[template(path = "network.html")]
pub struct NetworkPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub q: FormData,
    pub has_view: bool,
    pub stats: Vec<(String, String)>,
    /// (month, entries, degree centralization, density, triangular entries)
    pub trend: Vec<(String, String, String, String, String)>,
    pub nodes: Vec<SvgNode>,
    pub edges: Vec<SvgEdge>,
    pub size: f64,
    pub topics: Vec<(String, String)>,
}

pub fn pct(x: &Option<f64>) -> String {
    x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into())
}

async fn network(State(s): State<WebState>, h: HeaderMap, RawQuery(q): RawQuery) -> Page {
    let sess = session(&s, &h).await?;
    let q = query(&q);
    let f = entente_node::analytics::NetworkFilter {
        topic: q.opt("topic"),
        since: q.opt("since"),
        until: q.opt("until"),
    };
    let mut errors = Errors::default();
    let view = match s.node.network(&sess.who, f).await {
        Ok(v) => Some(v),
        Err(e) => {
            errors = Errors::from_node(&e, &["topic", "since", "until"]);
            None
        }
    };
    let (nodes, edges) = view
        .as_ref()
        .map(|v| crate::svg::layout(&v.network))
        .unwrap_or_default();
    let stats = view
        .as_ref()
        .map(|v| {
            let n = &v.network;
            vec![
                ("Partners".into(), n.partners.len().to_string()),
                ("Entries".into(), n.entries.to_string()),
                (
                    "Degree centralization (1.0 = hub-and-spokes)".into(),
                    pct(&n.degree_centralization),
                ),
                (
                    "Strength-weighted centralization".into(),
                    pct(&n.weighted_centralization),
                ),
                ("Density".into(), pct(&n.density)),
                (
                    "Triangular exchanges (audience of three or more)".into(),
                    n.triangular_entries.to_string(),
                ),
                (
                    "Share of triangular exchanges".into(),
                    pct(&n.triangular_share),
                ),
                ("Closed partner triangles".into(), n.triangles.to_string()),
            ]
        })
        .unwrap_or_default();
    let trend = view
        .as_ref()
        .map(|v| {
            v.trend
                .iter()
                .map(|(m, n)| {
                    (
                        m.clone(),
                        n.entries.to_string(),
                        pct(&n.degree_centralization),
                        pct(&n.density),
                        n.triangular_entries.to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let status = form_status(&errors);
    Ok(render(
        status,
        &NetworkPage {
            ctx: sess.ctx.clone(),
            errors,
            q,
            has_view: view.is_some(),
            stats,
            trend,
            nodes,
            edges,
            size: crate::svg::SIZE,
            topics: topics_all(),
        },
    ))
}

#[derive(Template)]
#[template(path = "released.html")]
pub struct ReleasedPage {
    pub ctx: Ctx,
    pub q: FormData,
    /// (format title, audience, period, items, of which retracted)
    pub rows: Vec<(String, String, String, u64, u64)>,
    pub total: u64,
    pub formats: Vec<FormatState>,
    pub truncated: bool,
}

/// What this partner released to whom: its own items grouped by format, audience and month.
async fn released(State(s): State<WebState>, h: HeaderMap, RawQuery(q): RawQuery) -> Page {
    let sess = session(&s, &h).await?;
    let q = query(&q);
    let r = async {
        let formats = my_formats(&s).await?;
        let titles: BTreeMap<String, String> = formats
            .iter()
            .map(|f| (f.format_id.clone(), f.title.clone()))
            .collect();
        let mut groups: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
        let mut cursor = None;
        let mut seen = 0u64;
        let until = q.opt("until");
        loop {
            let page = s
                .node
                .items(
                    &sess.who,
                    entente_node::ItemFilter {
                        format: q.opt("format"),
                        partner: Some(s.node.partner().to_string()),
                        since: q.opt("since").map(|d| {
                            if d.len() == 10 {
                                format!("{d}T00:00:00Z")
                            } else {
                                d
                            }
                        }),
                        cursor,
                        limit: Some(500),
                        ..Default::default()
                    },
                )
                .await?;
            for it in &page.items {
                if until
                    .as_deref()
                    .is_some_and(|u| it.created_at.as_str() >= u)
                {
                    continue;
                }
                seen += 1;
                let e = groups
                    .entry((
                        titles
                            .get(&it.format_id)
                            .cloned()
                            .unwrap_or_else(|| it.format_id.clone()),
                        it.audience
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        it.created_at.get(..7).unwrap_or_default().to_owned(),
                    ))
                    .or_default();
                e.0 += 1;
                if it.retracted.is_some() {
                    e.1 += 1;
                }
            }
            cursor = page.next;
            if cursor.is_none() || seen >= 100_000 {
                break;
            }
        }
        Ok::<_, NodeError>((formats, groups, seen, cursor.is_some()))
    }
    .await;
    let (formats, groups, total, truncated) = r.map_err(|e| fail(&sess.ctx, e))?;
    Ok(render(
        StatusCode::OK,
        &ReleasedPage {
            ctx: sess.ctx.clone(),
            q,
            rows: groups
                .into_iter()
                .map(|((f, a, p), (n, r))| (f, a, p, n, r))
                .collect(),
            total,
            formats,
            truncated,
        },
    ))
}

// ----- admin ----------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "admin.html")]
pub struct AdminPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    /// (user, role, disabled)
    pub users: Vec<(String, String, bool)>,
    pub tokens: Vec<entente_node::access::TokenView>,
    /// The admin looking at the page (who cannot change itself here).
    pub me: String,
    /// (partner, url, fingerprint, last sync, last ok, last error, state)
    pub peers: Vec<(String, String, String, String, String, String, String)>,
    pub fingerprint: String,
    pub new_token: Option<String>,
    pub verify: Option<entente_node::sync::VerifyReport>,
    pub audit: Option<String>,
    pub forks: usize,
    /// (origin, witness, checkpoint time, size, root prefix, recorded at)
    pub witnesses: Vec<(String, String, String, u64, String, String)>,
    pub roles: Vec<String>,
}

async fn admin_page(
    s: &WebState,
    sess: &Session,
    errors: Errors,
    form: FormData,
    new_token: Option<String>,
    verify: Option<entente_node::sync::VerifyReport>,
    audit: Option<String>,
) -> Response {
    if let Err(e) = sess.who.require(Role::Admin, "administer this node") {
        return fail(&sess.ctx, e);
    }
    let r = async {
        s.node.reload_peers().await?;
        Ok::<_, NodeError>((
            s.node.users(&sess.who).await?,
            s.node.forks().await?.len(),
            s.node.witnesses().await?,
            s.node.list_tokens(&sess.who, None).await?,
        ))
    }
    .await;
    let (users, forks, witnesses, tokens) = match r {
        Ok(x) => x,
        Err(e) => return fail(&sess.ctx, e),
    };
    let status = form_status(&errors);
    render(
        status,
        &AdminPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            users: users
                .into_iter()
                .map(|u| (u.username, u.role.as_str().to_owned(), u.disabled))
                .collect(),
            tokens,
            me: sess.who.username.clone(),
            peers: s
                .node
                .peer_list()
                .into_iter()
                .map(|p| {
                    (
                        p.record.partner.to_string(),
                        p.record.url.clone().unwrap_or_default(),
                        p.key.fingerprint(),
                        p.record.last_sync_at.clone().unwrap_or_default(),
                        p.record.last_ok_at.clone().unwrap_or_default(),
                        p.record.last_error.clone().unwrap_or_default(),
                        p.record.state.clone(),
                    )
                })
                .collect(),
            fingerprint: s.node.public_key().fingerprint(),
            new_token,
            verify,
            audit,
            forks,
            witnesses: witnesses
                .into_iter()
                .map(|w| {
                    let cp: Option<entente_log::checkpoint::Checkpoint> =
                        serde_json::from_str(&w.checkpoint).ok();
                    let (ts, size, root) = cp
                        .map(|c| (c.ts, c.size, c.root.chars().take(16).collect()))
                        .unwrap_or_default();
                    (
                        w.origin.to_string(),
                        w.witness.to_string(),
                        ts,
                        size,
                        root,
                        w.recorded_at,
                    )
                })
                .collect(),
            roles: ["reader", "analyst", "officer", "admin"]
                .map(str::to_owned)
                .to_vec(),
        },
    )
}

async fn admin(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    Ok(admin_page(
        &s,
        &sess,
        Errors::default(),
        FormData::default(),
        None,
        None,
        None,
    )
    .await)
}

async fn admin_post(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(what): Path<String>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    if let Err(e) = sess.who.require(Role::Admin, "administer this node") {
        return Err(fail(&sess.ctx, e));
    }
    let mut errors = Errors::default();
    match what.as_str() {
        "users" => {
            required(
                &mut errors,
                &f,
                &[
                    ("username", "User name"),
                    ("role", "Role"),
                    ("password", "Password"),
                ],
            );
            let role = Role::parse(f.get("role"));
            if role.is_err() && !f.get("role").is_empty() {
                errors.add("role", "Choose one of the listed roles.");
            }
            if errors.is_empty()
                && let Ok(role) = role
            {
                match s
                    .node
                    .add_user(f.get("username"), role, f.get("password"))
                    .await
                {
                    Ok(_) => {
                        s.node
                            .audit(
                                &sess.who.user_id(),
                                "admin",
                                &format!("user {} added", f.get("username")),
                            )
                            .await;
                        return Ok(see_other("/ui/admin"));
                    }
                    Err(e) => errors = Errors::from_node(&e, &["username", "role", "password"]),
                }
            }
            if let Some(m) = errors.0.remove("_form") {
                // add_user reports a bad name or password as a conflict or invalid input.
                errors.add(
                    if m.contains("password") {
                        "password"
                    } else {
                        "username"
                    },
                    m,
                );
            }
        }
        "tokens" => {
            required(&mut errors, &f, &[("label", "A label")]);
            if errors.is_empty() {
                let kind = if f.get("scope") == "read" {
                    TokenKind::ApiRead
                } else {
                    TokenKind::Api
                };
                match s.node.create_token(&sess.who, f.get("label"), kind).await {
                    Ok(t) => {
                        return Ok(admin_page(
                            &s,
                            &sess,
                            errors,
                            FormData::default(),
                            Some(t),
                            None,
                            None,
                        )
                        .await);
                    }
                    Err(e) => errors = Errors::from_node(&e, &["label"]),
                }
            }
        }
        // Taking access away (M5): each a small form on the admin page.
        "user-change" => {
            let user = f.get("username");
            let r = match f.get("action") {
                "delete" => s.node.delete_user(&sess.who, user).await,
                a @ ("disable" | "enable" | "set-role") => {
                    let change = entente_node::access::UserChange {
                        role: (a == "set-role").then(|| f.get("role").to_owned()),
                        disabled: (a != "set-role").then_some(a == "disable"),
                    };
                    s.node.change_user(&sess.who, user, change).await
                }
                _ => Err(NodeError::Forbidden("do that to a user")),
            };
            match r {
                Ok(()) => return Ok(see_other("/ui/admin")),
                Err(e) => errors.add("_form", e.to_string()),
            }
        }
        "revoke" => match s.node.revoke_token(&sess.who, f.get("id")).await {
            Ok(_) => return Ok(see_other("/ui/admin")),
            Err(e) => errors.add("_form", e.to_string()),
        },
        "peer-state" => {
            match s
                .node
                .set_peer_state(&sess.who, f.get("partner"), f.get("state"))
                .await
            {
                Ok(()) => return Ok(see_other("/ui/admin")),
                Err(e) => errors.add("_form", e.to_string()),
            }
        }
        "peers" => {
            required(
                &mut errors,
                &f,
                &[("partner", "Partner code"), ("public_key", "Public key")],
            );
            if errors.is_empty() {
                match s
                    .node
                    .add_peer(
                        f.get("partner"),
                        f.opt("url").as_deref(),
                        f.get("public_key"),
                    )
                    .await
                {
                    Ok(_) => return Ok(see_other("/ui/admin")),
                    Err(e) => {
                        let m = e.to_string();
                        let field = if m.contains("key") {
                            "public_key"
                        } else if m.contains("url") || m.contains("URL") {
                            "url"
                        } else {
                            "partner"
                        };
                        errors.add(field, m);
                    }
                }
            }
        }
        "verify" => {
            let report = s
                .node
                .verify_all(|_| {})
                .await
                .map_err(|e| fail(&sess.ctx, e))?;
            let audit = s
                .node
                .verify_audit()
                .await
                .map(|a| match a.problems.is_empty() {
                    true => format!("{} audit records, chain intact", a.records),
                    false => format!(
                        "{} audit records; problems: {}",
                        a.records,
                        a.problems.join("; ")
                    ),
                })
                .unwrap_or_else(|e| e.to_string());
            return Ok(admin_page(
                &s,
                &sess,
                errors,
                FormData::default(),
                None,
                Some(report),
                Some(audit),
            )
            .await);
        }
        _ => return Err(fail(&sess.ctx, NodeError::NotFound("page"))),
    }
    Ok(admin_page(&s, &sess, errors, f, None, None, None).await)
}
