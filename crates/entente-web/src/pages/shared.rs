//! What every page shares: assets, sessions and posted forms, error pages, redirects, field
//! checks, and the formatting of times, audiences and states for display.

use super::*;

pub(super) async fn style() -> impl IntoResponse {
    asset("text/css", include_str!("../../assets/style.css"))
}

pub(super) async fn htmx() -> impl IntoResponse {
    asset("text/javascript", include_str!("../../assets/htmx.min.js"))
}

/// The tab icon: a yellow E on the header's blue (also at `/favicon.ico`, where browsers ask
/// for it unprompted; they read the SVG by its content type).
pub(super) async fn favicon() -> impl IntoResponse {
    asset("image/svg+xml", include_str!("../../assets/favicon.svg"))
}

pub(super) fn asset(ct: &'static str, body: &'static str) -> Response {
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
        NodeError::ScanUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "Not accepted now"),
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

pub(super) fn query(q: &Option<String>) -> FormData {
    FormData::parse(q.as_deref().unwrap_or("").as_bytes())
}

/// 422 when a form is shown again with messages, 200 otherwise.
pub(super) fn form_status(errors: &Errors) -> StatusCode {
    if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// What a form did, said on the page it leads to. Only these fixed messages can be shown: the
/// redirect carries a code (`?done=published`), never text, so a link cannot put words on a
/// page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    Published,
    Reaction,
    Retracted,
    ActionCreated,
    Progress,
    AlertRaised,
    Acknowledged,
    StatementDrafted,
    Stance,
    Revised,
    ExercisePlanned,
    Response,
    ProjectRegistered,
    Interest,
    SettingsSaved,
    DiscussionStarted,
    Replied,
    MeetingPlanned,
    MinutesDrafted,
    DecisionsRecorded,
    PaperDrafted,
    AmendmentProposed,
    AmendmentDecided,
    PaperCirculated,
    Released,
    Attached,
    FileRemoved,
    QuarantineReleased,
    QuarantineStillFound,
    HeldScanStarted,
}

impl Done {
    const ALL: [Done; 30] = [
        Done::Published,
        Done::Reaction,
        Done::Retracted,
        Done::ActionCreated,
        Done::Progress,
        Done::AlertRaised,
        Done::Acknowledged,
        Done::StatementDrafted,
        Done::Stance,
        Done::Revised,
        Done::ExercisePlanned,
        Done::Response,
        Done::ProjectRegistered,
        Done::Interest,
        Done::SettingsSaved,
        Done::DiscussionStarted,
        Done::Replied,
        Done::MeetingPlanned,
        Done::MinutesDrafted,
        Done::DecisionsRecorded,
        Done::PaperDrafted,
        Done::AmendmentProposed,
        Done::AmendmentDecided,
        Done::PaperCirculated,
        Done::Released,
        Done::Attached,
        Done::FileRemoved,
        Done::QuarantineReleased,
        Done::QuarantineStillFound,
        Done::HeldScanStarted,
    ];

    fn code(self) -> &'static str {
        match self {
            Done::Published => "published",
            Done::Reaction => "reaction",
            Done::Retracted => "retracted",
            Done::ActionCreated => "action-created",
            Done::Progress => "progress",
            Done::AlertRaised => "alert-raised",
            Done::Acknowledged => "acknowledged",
            Done::StatementDrafted => "statement-drafted",
            Done::Stance => "stance",
            Done::Revised => "revised",
            Done::ExercisePlanned => "exercise-planned",
            Done::Response => "response",
            Done::ProjectRegistered => "project-registered",
            Done::Interest => "interest",
            Done::SettingsSaved => "settings-saved",
            Done::DiscussionStarted => "discussion-started",
            Done::Replied => "replied",
            Done::MeetingPlanned => "meeting-planned",
            Done::MinutesDrafted => "minutes-drafted",
            Done::DecisionsRecorded => "decisions-recorded",
            Done::PaperDrafted => "paper-drafted",
            Done::AmendmentProposed => "amendment-proposed",
            Done::AmendmentDecided => "amendment-decided",
            Done::PaperCirculated => "paper-circulated",
            Done::Released => "released",
            Done::Attached => "attached",
            Done::FileRemoved => "file-removed",
            Done::QuarantineReleased => "quarantine-released",
            Done::QuarantineStillFound => "quarantine-still-found",
            Done::HeldScanStarted => "held-scan-started",
        }
    }

    /// What was done, in the reader's language (`done-{code}` in the catalogues).
    pub(crate) fn message(self, lang: crate::i18n::Lang) -> String {
        lang.t(&format!("done-{}", self.code()))
    }

    /// The message for a `done` code from a query string; None for anything else.
    pub(crate) fn from_query(query: &str) -> Option<Done> {
        let code = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "done")
            .map(|(_, v)| v)?;
        Done::ALL.into_iter().find(|d| d.code() == code)
    }
}

/// See `to`, saying what was done there.
pub(crate) fn done_to(to: &str, what: Done) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    see_other(&format!("{to}{sep}done={}", what.code()))
}

pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

pub(super) fn today(s: &WebState) -> String {
    s.node.clock().now_rfc3339()[..10].to_owned()
}

pub(super) fn topics_all() -> Vec<(String, String)> {
    entente_domain::taxonomy::TOPICS
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The topics a form offers: the topics of the viewer's formats in view, every other topic
/// folded away (review defect 13: a 26-checkbox wall), so the usual choice is short and any
/// topic stays reachable.
pub struct TopicPicker {
    pub main: Vec<(String, String)>,
    pub more: Vec<(String, String)>,
}

impl TopicPicker {
    pub(super) fn for_formats(formats: &[FormatState]) -> TopicPicker {
        let (main, more): (Vec<_>, Vec<_>) = topics_all()
            .into_iter()
            .partition(|(t, _)| formats.iter().any(|f| f.topics.contains(t)));
        // With no format topics at all, the whole list is the main one.
        if main.is_empty() {
            return TopicPicker {
                main: more,
                more: vec![],
            };
        }
        TopicPicker { main, more }
    }

    /// Whether a folded topic is ticked (the fold then opens, so nothing ticked is hidden).
    pub fn more_ticked(&self, form: &FormData) -> bool {
        self.more.iter().any(|(t, _)| form.has("topics", t))
    }
}

pub(super) fn kinds() -> Vec<String> {
    ItemKind::ALL
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect()
}

pub(super) fn tlps() -> Vec<String> {
    Tlp::ALL.iter().map(|t| t.as_str().to_owned()).collect()
}

pub(super) async fn my_formats(s: &WebState) -> Result<Vec<FormatState>, NodeError> {
    let me = s.node.partner().clone();
    Ok(s.node
        .formats()
        .await?
        .into_iter()
        .filter(|f| f.members.contains(&me))
        .collect())
}

/// A facet dimension as a heading.
pub(super) fn facet_dim_label(dim: &str) -> &'static str {
    match dim {
        "format" => "Format",
        "topic" => "Topic",
        "partner" => "From",
        "kind" => "Kind",
        "tlp" => "Marking",
        "period" => "Month",
        _ => "Other facet",
    }
}

/// A facet value as a person reads it: a format's title instead of its id, a topic's name
/// instead of its slug, `TLP:AMBER` instead of `AMBER`.
pub(super) fn facet_label(formats: &[FormatState], dim: &str, v: &str) -> String {
    match dim {
        "format" => formats
            .iter()
            .find(|f| f.format_id == v)
            .map_or_else(|| v.to_owned(), |f| f.title.clone()),
        "topic" => entente_domain::taxonomy::TOPICS
            .iter()
            .find(|(slug, _)| *slug == v)
            .map_or_else(|| v.to_owned(), |(_, name)| name.to_string()),
        "tlp" if v == "none" => "Unmarked".to_owned(),
        "tlp" => format!("TLP:{v}"),
        "kind" => v.replace('_', " "),
        _ => v.to_owned(),
    }
}

/// A facet heading and value in the reader's language: the heading's English through the
/// catalogue, a topic by its name, a kind by its label.
pub(super) fn facet_dim_in(ctx: &Ctx, dim: &str) -> String {
    ctx.msg(facet_dim_label(dim))
}

pub(super) fn facet_label_in(ctx: &Ctx, formats: &[FormatState], dim: &str, v: &str) -> String {
    match dim {
        "topic" => ctx.topics(&[v.to_owned()]),
        "kind" => ctx.label(v),
        "tlp" if v == "none" => ctx.t("unmarked-its-audience-only"),
        _ => facet_label(formats, dim, v),
    }
}

pub(super) fn members(f: &FormatState) -> Vec<String> {
    f.members.iter().map(|m| m.to_string()).collect()
}

/// Partner codes from checkboxes or a comma-separated text field: None when there are none.
pub(super) fn partners_field(f: &FormData, name: &str) -> Option<Vec<String>> {
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

/// Every partner that is a member of one of `formats`, for the partner pickers (the handler
/// checks membership of the chosen format).
pub(crate) fn member_codes(formats: &[FormatState]) -> Vec<String> {
    let set: std::collections::BTreeSet<String> = formats
        .iter()
        .flat_map(|f| f.members.iter().map(|p| p.to_string()))
        .collect();
    set.into_iter().collect()
}

/// An object's audience against its format's members, short: "EU, JPN — not NATO", or
/// "every member: EU, JPN, NATO". Only members the viewer's partner can see are named (all of
/// a format's members are known to each member).
pub(crate) async fn audience_short(
    s: &WebState,
    format_id: &str,
    audience: &entente_domain::Audience,
    lang: crate::i18n::Lang,
) -> String {
    let members = s.node.format(format_id).await.ok().map(|f| f.members);
    audience_against(members.as_ref(), audience, lang)
}

/// The same for a list row, against the formats the page already holds (no lookup per row).
pub(crate) fn audience_of(
    formats: &[FormatState],
    format_id: &str,
    audience: &entente_domain::Audience,
    lang: crate::i18n::Lang,
) -> String {
    let members = formats
        .iter()
        .find(|f| f.format_id == format_id)
        .map(|f| &f.members);
    audience_against(members, audience, lang)
}

pub(crate) fn audience_against(
    members: Option<&std::collections::BTreeSet<entente_domain::PartnerCode>>,
    audience: &entente_domain::Audience,
    lang: crate::i18n::Lang,
) -> String {
    let named: Vec<&str> = audience.iter().map(|p| p.as_str()).collect();
    let Some(members) = members else {
        return named.join(", ");
    };
    let left_out: Vec<&str> = members
        .iter()
        .map(|p| p.as_str())
        .filter(|p| !named.contains(p))
        .collect();
    if left_out.is_empty() {
        lang.t_args("audience-every-member", &[("partners", named.join(", "))])
    } else {
        lang.t_args(
            "audience-not",
            &[
                ("partners", named.join(", ")),
                ("left_out", left_out.join(", ")),
            ],
        )
    }
}

/// `aud(format_id, audience)` for the list pages' rows: each names its object's audience in
/// words against the format's members ("EU, JPN — not NATO").
macro_rules! list_audience {
    ($($page:ty),*) => {$(
        impl $page {
            pub fn aud(&self, format_id: &str, audience: &entente_domain::Audience) -> String {
                audience_of(&self.formats, format_id, audience, self.ctx.lang)
            }
        }
    )*};
}
list_audience!(
    super::dashboard::DashboardPage,
    super::discussions::DiscussionsPage,
    super::papers::PapersPage,
    super::items::ItemsPage,
    super::alerts::AlertsPage,
    super::alerts::AlertsList,
    super::statements::StatementsPage,
    super::actions::ActionsPage,
    super::exercises::ExercisesPage,
    super::exercises::ProjectsPage
);

/// The audience of an entry stated in words, as the item form shows it before publishing.
/// `origin` is named "(this partner)" when `ours`.
pub fn audience_words(
    origin: &str,
    ours: bool,
    audience: &[String],
    tlp: Option<&str>,
    named: &[String],
    lang: crate::i18n::Lang,
) -> String {
    let first = if ours {
        lang.t_args("audience-this-partner", &[("partner", origin.to_owned())])
    } else {
        origin.to_owned()
    };
    let mut names: Vec<String> = std::iter::once(first)
        .chain(audience.iter().filter(|p| *p != origin).cloned())
        .collect();
    let to = if names.len() == 1 {
        lang.t_args("audience-only", &[("partner", names[0].clone())])
    } else {
        let last = names.pop().unwrap_or_default();
        lang.t_args(
            "audience-these",
            &[("partners", names.join(", ")), ("last", last)],
        )
    };
    let within = match tlp {
        None | Some("RED") => {
            if named.is_empty() {
                lang.t("audience-red-only-you")
            } else {
                lang.t_args("audience-red-named", &[("named", named.join(", "))])
            }
        }
        Some("AMBER+STRICT") => lang.t("audience-amber-strict"),
        Some("AMBER") => lang.t("audience-amber"),
        Some("GREEN") => lang.t("audience-green"),
        Some(_) => lang.t("audience-clear"),
    };
    lang.t_args("audience-released-to", &[("to", to), ("within", within)])
}
