//! Exercises and industrial projects: lists, creating, registering interest and matching.

use super::*;

#[derive(Template)]
#[template(path = "exercises.html")]
pub struct ExercisesPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    /// Month (YYYY-MM) → exercises starting in it, in date order.
    pub calendar: Vec<(String, Vec<ExerciseState>)>,
    pub formats: Vec<FormatState>,
    pub topics: TopicPicker,
    /// The partners the pickers offer.
    pub partners: Vec<String>,
}

pub(super) async fn exercises_page(
    s: &WebState,
    sess: &Session,
    errors: Errors,
    form: FormData,
) -> Response {
    let r =
        async { Ok::<_, NodeError>((s.node.exercises(&sess.who).await?, my_formats(s).await?)) }
            .await;
    let (mut xs, formats) = match r {
        Ok(x) => x,
        Err(e) => return fail(&sess.ctx, e),
    };
    xs.sort_by(|a, b| a.plan.details.start.cmp(&b.plan.details.start));
    let mut calendar: Vec<(String, Vec<ExerciseState>)> = vec![];
    for x in xs {
        let m = x.plan.details.start.get(..7).unwrap_or_default().to_owned();
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
            partners: member_codes(&formats),
            topics: TopicPicker::for_formats(&formats),
            formats,
        },
    )
}

pub(super) async fn exercises(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    Ok(exercises_page(&s, &sess, Errors::default(), FormData::default()).await)
}

pub(super) async fn plan_exercise(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
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
        details: entente_domain::coord::ExerciseDetails {
            name: f.get("name").to_owned(),
            start: f.get("start").to_owned(),
            end: f.get("end").to_owned(),
            topics: f.all("topics"),
            location: f.get("location").trim().to_owned(),
        },
        invited: f.list("invited"),
        observers: f.list("observers"),
    };
    match s.node.plan_exercise(&sess.who, n).await {
        Ok(_) => Ok(done_to("/ui/exercises", Done::ExercisePlanned)),
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
                    "location",
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

pub(super) async fn exercise_respond(
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
        Ok(_) => Ok(done_to(&format!("/ui/exercises/{id}"), Done::Response)),
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
    /// The partners the pickers offer.
    pub partners: Vec<String>,
    /// Capability areas suggested as the user types (those of known projects, then common
    /// ones); any other text is accepted.
    pub areas: Vec<String>,
}

/// Common capability areas, suggested beside those already used (free text stays possible).
const COMMON_AREAS: [&str; 10] = [
    "air and missile defence",
    "CBRN defence",
    "critical infrastructure protection",
    "cyber defence",
    "maritime domain awareness",
    "military mobility",
    "secure communications",
    "space situational awareness",
    "strategic airlift",
    "unmanned systems",
];

pub(super) async fn projects_page(
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
            areas: {
                let mut a: Vec<String> = projects
                    .iter()
                    .map(|p| p.project.capability_area.clone())
                    .chain(COMMON_AREAS.iter().map(|a| a.to_string()))
                    .collect();
                a.sort_by_key(|x| x.to_lowercase());
                a.dedup_by(|x, y| x.eq_ignore_ascii_case(y));
                a
            },
            projects,
            partners: member_codes(&formats),
            formats,
            area,
            matches: matches
                .into_iter()
                .map(|(p, v)| (p.to_string(), v))
                .collect(),
        },
    )
}

pub(super) async fn projects(
    State(s): State<WebState>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Page {
    let sess = session(&s, &h).await?;
    let area = query(&q).get("area").to_owned();
    Ok(projects_page(&s, &sess, Errors::default(), FormData::default(), area).await)
}

pub(super) async fn register_project(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
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
        Ok(_) => Ok(done_to("/ui/projects", Done::ProjectRegistered)),
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

pub(super) async fn project_interest(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    match s.node.express_interest(&sess.who, &id, f.get("note")).await {
        Ok(_) => Ok(done_to(&format!("/ui/projects/{id}"), Done::Interest)),
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

#[derive(Template)]
#[template(path = "exercise.html")]
pub struct ExercisePage {
    pub ctx: Ctx,
    pub x: ExerciseState,
    /// The audience in words against the format's members.
    pub audience: String,
    /// Every invited partner and observer with its response in words ("no response yet").
    pub responses: Vec<(String, &'static str, String)>,
    pub may_respond: bool,
    /// This partner's response so far, as the form's value (`participate`), so the form
    /// opens on it; empty before it answered.
    pub ours: &'static str,
}

/// One exercise: its plan, who is invited and how each answered, and its lessons.
pub(super) async fn exercise_page(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let sess = session(&s, &h).await?;
    let x = s
        .node
        .exercise(&sess.who, &id)
        .await
        .map_err(|e| fail(&sess.ctx, e))?;
    let audience = audience_short(&s, &x.plan.format_id, &x.audience, sess.ctx.lang).await;
    let me = s.node.partner();
    let mut responses = vec![];
    for (p, role) in x
        .plan
        .invited
        .iter()
        .map(|p| (p, "invited"))
        .chain(x.plan.observers.iter().map(|p| (p, "observer")))
    {
        let answer = x
            .responses
            .get(p)
            .map(|r| r.label().to_owned())
            .unwrap_or_else(|| "no response yet".into());
        responses.push((p.to_string(), role, answer));
    }
    let may_respond = x.plan.invited.contains(me) || x.plan.observers.contains(me);
    let ours = our_response(&x, me.as_str());
    Ok(render(
        StatusCode::OK,
        &ExercisePage {
            ctx: sess.ctx.clone(),
            x,
            audience,
            responses,
            may_respond,
            ours,
        },
    ))
}

#[derive(Template)]
#[template(path = "project.html")]
pub struct ProjectPage {
    pub ctx: Ctx,
    pub p: ProjectState,
    /// The audience in words against the format's members.
    pub audience: String,
}

/// One project: what it is, who takes part, and every partner's interest with its note.
pub(super) async fn project_page(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let sess = session(&s, &h).await?;
    let p = s
        .node
        .project(&sess.who, &id)
        .await
        .map_err(|e| fail(&sess.ctx, e))?;
    let audience = audience_short(&s, &p.project.format_id, &p.audience, sess.ctx.lang).await;
    Ok(render(
        StatusCode::OK,
        &ProjectPage {
            ctx: sess.ctx.clone(),
            p,
            audience,
        },
    ))
}

/// `me`'s response to `x` as the response form's value (`participate`), so the form opens on
/// the answer given; empty before it answered.
pub(super) fn our_response(x: &ExerciseState, me: &str) -> &'static str {
    use entente_domain::coord::ExerciseResponse as R;
    match x
        .responses
        .iter()
        .find(|(p, _)| p.as_str() == me)
        .map(|(_, r)| r)
    {
        Some(R::Participate) => "participate",
        Some(R::Observe) => "observe",
        Some(R::Decline) => "decline",
        None => "",
    }
}

impl ExercisesPage {
    /// This partner's response to `x`, for the list's response form.
    pub fn ours(&self, x: &ExerciseState) -> &'static str {
        our_response(x, &self.ctx.partner)
    }
}
