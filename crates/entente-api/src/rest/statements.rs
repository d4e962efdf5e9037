//! Joint statements over REST: list, draft, get, diff, revise, stances, signed export.

use super::*;

#[utoipa::path(get, path = "/api/v1/statements", responses((status = 200, body = Vec<Object>)))]
pub(super) async fn list_statements(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> R<Json<Vec<entente_node::statements::StatementView>>> {
    Ok(Json(s.node.statements(&p).await?))
}

#[utoipa::path(post, path = "/api/v1/statements", request_body = NewStatementRequest,
    responses((status = 201, body = Object), (status = 422, body = ErrorBody)))]
pub(super) async fn create_statement(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<NewStatementRequest>,
) -> R<(StatusCode, Json<entente_node::statements::StatementView>)> {
    let n = entente_node::statements::NewStatement {
        format_id: r.format_id,
        title: r.title,
        text: r.text,
        releasable_to: r.releasable_to,
        required: r.required,
        rule: parse_enum("rule", &r.rule)?,
        deadline: r.deadline,
    };
    Ok((
        StatusCode::CREATED,
        Json(s.node.create_statement(&p, n).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/statements/{id}", params(("id" = String, Path)),
    description = "The statement, its versions, the diff to the previous version, each required partner's stance on the current version, and its status.",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(super) async fn get_statement(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<entente_node::statements::StatementView>> {
    Ok(Json(s.node.statement(&p, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/statements/{id}/diff", params(("id" = String, Path)),
    description = "The whole line diff from the previous version to the current one (a statement carries only its first lines, with `diff_more` saying how many follow).",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(super) async fn statement_diff(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<entente_domain::statement::LineDiff>> {
    Ok(Json(s.node.statement_diff(&p, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/statements/{id}/versions", params(("id" = String, Path)), request_body = RevisionRequest,
    description = "A new version (originator only). Stances on earlier versions no longer count.",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub(super) async fn revise_statement(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<RevisionRequest>,
) -> R<Json<entente_node::statements::StatementView>> {
    Ok(Json(
        s.node.revise_statement(&p, &id, &r.title, &r.text).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/statements/{id}/stance", params(("id" = String, Path)), request_body = StanceRequest,
    responses((status = 200, body = Object), (status = 409, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn take_stance(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<StanceRequest>,
) -> R<Json<entente_node::statements::StatementView>> {
    let stance = parse_enum("stance", &r.stance)?;
    Ok(Json(
        s.node
            .take_stance(&p, &id, r.version, stance, &r.reason)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/statements/{id}/export", params(("id" = String, Path)),
    description = "An adopted statement as one JSON document with every signature; `entente verify --statement FILE` checks it offline.",
    responses((status = 200, body = Object), (status = 409, body = ErrorBody)))]
pub(super) async fn export_statement(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<entente_node::statements::StatementExport>> {
    Ok(Json(s.node.export_statement(&p, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct NewStatementRequest {
    format_id: String,
    title: String,
    text: String,
    /// Partner codes (a subset of the format's members); absent: every member.
    #[serde(default)]
    releasable_to: Option<Vec<String>>,
    /// Partners whose stance is required; absent: the whole audience.
    #[serde(default)]
    required: Option<Vec<String>>,
    /// "unanimity" or "silence".
    rule: String,
    /// RFC 3339; required for the silence procedure.
    #[serde(default)]
    deadline: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct RevisionRequest {
    title: String,
    text: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct StanceRequest {
    version: u32,
    /// "endorse", "stand_aside" or "object" (an objection needs a reason).
    stance: String,
    #[serde(default)]
    reason: String,
}
