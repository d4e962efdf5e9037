//! Joint actions: the list, creating one with milestones, an action's page and progress reports.

use super::*;

#[derive(Template)]
#[template(path = "actions.html")]
pub struct ActionsPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub actions: Vec<ActionState>,
    pub formats: Vec<FormatState>,
    pub topics: TopicPicker,
    pub today: String,
    /// The partners the pickers offer.
    pub partners: Vec<String>,
    /// The milestone rows of the form, (due date, title): what was typed, then empty rows.
    pub milestone_rows: Vec<(String, String)>,
}

/// The milestone rows a form posted, (due, title) by position, blank rows dropped.
fn posted_milestones(f: &FormData) -> Vec<(String, String)> {
    let dues = f.values("ms_due");
    let titles = f.values("ms_title");
    (0..dues.len().max(titles.len()))
        .map(|i| {
            let get = |v: &Vec<String>| v.get(i).cloned().unwrap_or_default();
            (get(&dues), get(&titles))
        })
        .filter(|(d, t)| !d.is_empty() || !t.is_empty())
        .collect()
}

/// The rows the form shows: what was typed, then empty rows (three more after "Add rows").
fn milestone_rows(f: &FormData) -> Vec<(String, String)> {
    let mut rows = posted_milestones(f);
    let blank = if f.has("more", "1") { 3 } else { 2 };
    let len = (rows.len() + blank).max(3);
    rows.resize(len, (String::new(), String::new()));
    rows
}

pub(super) async fn actions_page(
    s: &WebState,
    sess: &Session,
    errors: Errors,
    form: FormData,
) -> Response {
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
            actions,
            partners: member_codes(&formats),
            topics: TopicPicker::for_formats(&formats),
            formats,
            today: today(s),
            milestone_rows: milestone_rows(&form),
            form,
        },
    )
}

pub(super) async fn actions(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    Ok(actions_page(&s, &sess, Errors::default(), FormData::default()).await)
}

pub(super) async fn create_action(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    // "Add milestone rows" submits the form to show more rows; nothing is created.
    if f.has("more", "1") {
        return Ok(actions_page(&s, &sess, Errors::default(), f).await);
    }
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
    // Milestones: rows of a date picker and a title; a row needs both.
    let mut milestones = vec![];
    for (due, title) in posted_milestones(&f) {
        let date_ok = due.len() == 10
            && entente_node::clock::parse_rfc3339(&format!("{due}T00:00:00Z")).is_some();
        if title.is_empty() || !date_ok {
            errors.add(
                "milestones",
                "Give each milestone a due date and a title (or leave both empty).",
            );
            continue;
        }
        milestones.push(entente_node::coord::NewMilestone { title, due });
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
        Ok(a) => Ok(done_to(
            &format!("/ui/actions/{}", a.action_id),
            Done::ActionCreated,
        )),
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
    /// The periods the progress form offers, grouped: (group key, periods).
    pub periods: Vec<(&'static str, Vec<String>)>,
    pub today: String,
    /// The audience in words against the format's members.
    pub audience: String,
    /// The title of the action's format (review defect 14: the page names its format).
    pub format_title: String,
}

impl ActionPage {
    /// Whether the period picker lists `p` (an older report's period is offered as well).
    pub fn offers(&self, p: &str) -> bool {
        self.periods.iter().any(|(_, l)| l.iter().any(|x| x == p))
    }
}

pub(super) async fn action_view(
    s: &WebState,
    sess: &Session,
    id: &str,
    errors: Errors,
) -> Response {
    let action = match s.node.action(&sess.who, id).await {
        Ok(a) => a,
        Err(e) => return fail(&sess.ctx, e),
    };
    let status = form_status(&errors);
    let audience = audience_short(s, &action.format_id, &action.audience, sess.ctx.lang).await;
    // The period of the latest report on this action (a format that reports by half year
    // keeps doing so), else this month.
    let period = action
        .reports
        .last()
        .map(|r| r.report.period.clone())
        .unwrap_or_else(|| today(s)[..7].to_owned());
    let format_title = s
        .node
        .format(&action.format_id)
        .await
        .map(|f| f.title)
        .unwrap_or_else(|_| action.format_id.clone());
    render(
        status,
        &ActionPage {
            audience,
            format_title,
            ctx: sess.ctx.clone(),
            errors,
            participant: action.is_participant(s.node.partner()),
            action,
            statuses: entente_domain::coord::ActionStatus::ALL
                .iter()
                .map(status_name)
                .collect(),
            period,
            periods: report_periods(&today(s)),
            today: today(s),
        },
    )
}

/// Every period a progress report can be filed for, this year and last, as the report page
/// reads them: years, halves (`2026-H2`), quarters (`2026-Q4`) and months, newest first.
pub(super) fn report_periods(today: &str) -> Vec<(&'static str, Vec<String>)> {
    let year: i32 = today.get(..4).and_then(|y| y.parse().ok()).unwrap_or(2026);
    let years = [year, year - 1];
    vec![
        (
            "period-years",
            years.iter().map(|y| y.to_string()).collect(),
        ),
        (
            "period-halves",
            years
                .iter()
                .flat_map(|y| [format!("{y}-H2"), format!("{y}-H1")])
                .collect(),
        ),
        (
            "period-quarters",
            years
                .iter()
                .flat_map(|y| (1..=4).rev().map(move |q| format!("{y}-Q{q}")))
                .collect(),
        ),
        (
            "period-months",
            years
                .iter()
                .flat_map(|y| (1..=12).rev().map(move |m| format!("{y}-{m:02}")))
                .collect(),
        ),
    ]
}

pub(super) fn status_name(x: &impl serde::Serialize) -> String {
    serde_json::to_value(x)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub(super) async fn action_page(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let sess = session(&s, &h).await?;
    Ok(action_view(&s, &sess, &id, Errors::default()).await)
}

pub(super) async fn action_progress(
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
        Ok(_) => Ok(done_to(&format!("/ui/actions/{id}"), Done::Progress)),
        Err(e) => Ok(action_view(
            &s,
            &sess,
            &id,
            Errors::from_node(&e, &["period", "status", "narrative"]),
        )
        .await),
    }
}
