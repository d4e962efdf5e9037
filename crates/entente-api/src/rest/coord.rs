//! Joint actions, exercises and projects over REST, with progress reports and matching.

use super::*;
use entente_domain::coord::{ExerciseState, NewExercise};

#[utoipa::path(get, path = "/api/v1/actions", params(FormatFilter), description = "Joint actions you may see (status derived from signed progress reports).", responses((status = 200, body = Vec<Object>)))]
pub(super) async fn list_actions(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<FormatFilter>,
) -> R<Json<impl serde::Serialize>> {
    Ok(Json(s.node.actions(&p, q.format.as_deref()).await?))
}

#[utoipa::path(post, path = "/api/v1/actions", request_body = Object, description = "Create a joint action: format_id, title, description, group, topics, leads, participants, milestones [{title, due YYYY-MM-DD}] in date order.",
    responses((status = 201, body = Object), (status = 422, body = ErrorBody)))]
pub(super) async fn create_action(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<entente_node::coord::NewAction>,
) -> R<(StatusCode, Json<impl serde::Serialize>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.node.create_action(&p, r).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/actions/{id}", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(super) async fn get_action(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<impl serde::Serialize>> {
    Ok(Json(s.node.action(&p, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/actions/{id}/progress", params(("id" = String, Path)), request_body = Object,
    description = "File a signed progress report (participants only): period, status, narrative, milestones [{milestone_id, done, note}]. Only a lead's report sets the status.",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub(super) async fn report_progress(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<entente_node::coord::NewProgress>,
) -> R<Json<impl serde::Serialize>> {
    Ok(Json(s.node.report_progress(&p, &id, r).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ReportQuery {
    /// e.g. 2026-H2.
    period: String,
    /// md (default), html or json.
    format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/formats/{id}/progress-report", params(("id" = String, Path), ReportQuery),
    description = "The generated periodic progress report of a format (Markdown, HTML or JSON), stating the entries it was built from.",
    responses((status = 200, body = String), (status = 404, body = ErrorBody)))]
pub(super) async fn progress_report(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> R<axum::response::Response> {
    use axum::response::IntoResponse;
    let r = s.node.progress_report(&p, &id, &q.period).await?;
    let (ct, body) = match q.format.as_deref().unwrap_or("md") {
        "html" => ("text/html; charset=utf-8", r.html()),
        "json" => (
            "application/json",
            serde_json::to_string(&r).unwrap_or_default(),
        ),
        _ => ("text/markdown; charset=utf-8", r.markdown()),
    };
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(ct),
    );
    Ok(resp)
}

#[utoipa::path(get, path = "/api/v1/exercises", responses((status = 200, body = Vec<ExerciseState>)))]
pub(super) async fn list_exercises(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> R<Json<Vec<ExerciseState>>> {
    Ok(Json(s.node.exercises(&p).await?))
}

#[utoipa::path(post, path = "/api/v1/exercises", request_body = NewExercise, description = "Plan an exercise for members of a format.",
    responses((status = 201, body = ExerciseState), (status = 422, body = ErrorBody)))]
pub(super) async fn plan_exercise(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<NewExercise>,
) -> R<(StatusCode, Json<ExerciseState>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.node.plan_exercise(&p, r).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/exercises/{id}", params(("id" = String, Path)), responses((status = 200, body = ExerciseState), (status = 404, body = ErrorBody)))]
pub(super) async fn get_exercise(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<ExerciseState>> {
    Ok(Json(s.node.exercise(&p, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct RespondRequest {
    /// participate, observe or decline.
    response: String,
}

#[utoipa::path(post, path = "/api/v1/exercises/{id}/respond", params(("id" = String, Path)), request_body = RespondRequest, responses((status = 200, body = ExerciseState), (status = 403, body = ErrorBody)))]
pub(super) async fn respond_exercise(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<RespondRequest>,
) -> R<Json<ExerciseState>> {
    let resp = parse_enum("response", &r.response)?;
    Ok(Json(s.node.respond_exercise(&p, &id, resp).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct LessonRequest {
    item_id: String,
}

#[utoipa::path(post, path = "/api/v1/exercises/{id}/lessons", params(("id" = String, Path)), request_body = LessonRequest, responses((status = 200, body = ExerciseState), (status = 422, body = ErrorBody)))]
pub(super) async fn add_lesson(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<LessonRequest>,
) -> R<Json<ExerciseState>> {
    Ok(Json(s.node.add_exercise_lesson(&p, &id, &r.item_id).await?))
}

#[utoipa::path(get, path = "/api/v1/projects", responses((status = 200, body = Vec<Object>)))]
pub(super) async fn list_projects(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> R<Json<impl serde::Serialize>> {
    Ok(Json(s.node.projects(&p).await?))
}

#[utoipa::path(post, path = "/api/v1/projects", request_body = Object, description = "Register an industrial-cooperation project: format_id, title, capability_area, description, stage, participants, releasable_to.",
    responses((status = 201, body = Object), (status = 422, body = ErrorBody)))]
pub(super) async fn register_project(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<entente_node::coord::NewProject>,
) -> R<(StatusCode, Json<impl serde::Serialize>)> {
    Ok((
        StatusCode::CREATED,
        Json(s.node.register_project(&p, r).await?),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AreaQuery {
    capability_area: String,
}

#[utoipa::path(get, path = "/api/v1/projects/match", params(AreaQuery), description = "Partners to bring together on a capability area, with the projects they share.",
    responses((status = 200, body = Object)))]
pub(super) async fn match_projects(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<AreaQuery>,
) -> R<Json<impl serde::Serialize>> {
    Ok(Json(s.node.match_projects(&p, &q.capability_area).await?))
}

#[utoipa::path(get, path = "/api/v1/projects/{id}", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(super) async fn get_project(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<impl serde::Serialize>> {
    Ok(Json(s.node.project(&p, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/projects/{id}/interest", params(("id" = String, Path)), request_body = ReasonRequest, responses((status = 200, body = Object)))]
pub(super) async fn express_interest(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<ReasonRequest>,
) -> R<Json<impl serde::Serialize>> {
    Ok(Json(s.node.express_interest(&p, &id, &r.reason).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct FormatFilter {
    format: Option<String>,
}
