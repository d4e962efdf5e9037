//! Concept papers over REST: drafting, amendments and the penholder's decisions, and the
//! sign-off (a statement every partner of the audience endorses: stances are taken on
//! `/api/v1/statements/{id}/stance`, the adopted paper exported on `…/export`).

use super::*;
use entente_domain::coord::{NewAmendment, NewPaper, NewSignoff, PaperState};
use entente_node::papers::PaperView;

#[utoipa::path(get, path = "/api/v1/papers", description = "Concept papers you may see, the newest first.",
    responses((status = 200, body = Vec<PaperState>)))]
pub(super) async fn list_papers(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> R<Json<Vec<PaperState>>> {
    Ok(Json(s.node.papers(&p).await?))
}

#[utoipa::path(post, path = "/api/v1/papers", request_body = NewPaper,
    description = "Draft a concept paper (you are its penholder): Markdown, each `## ` heading a section; co-authors and the audience from the format's members.",
    responses((status = 201, body = PaperState), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn draft_paper(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<NewPaper>,
) -> R<(StatusCode, Json<PaperState>)> {
    Ok((StatusCode::CREATED, Json(s.node.draft_paper(&p, r).await?)))
}

#[utoipa::path(get, path = "/api/v1/papers/{id}", params(("id" = String, Path)),
    description = "A concept paper: every version, the amendments and their decisions, the diff from the version before, and its sign-off.",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(super) async fn get_paper(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<PaperView>> {
    Ok(Json(s.node.paper(&p, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/papers/{id}/amendments", params(("id" = String, Path)), request_body = NewAmendment,
    description = "Propose an amendment: a section's new text and the reason.",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn propose_amendment(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<NewAmendment>,
) -> R<Json<PaperView>> {
    Ok(Json(s.node.propose_amendment(&p, &id, r).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct Decision {
    accept: bool,
    #[serde(default)]
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/papers/{id}/amendments/{amendment_id}/decision", params(("id" = String, Path), ("amendment_id" = String, Path)), request_body = Decision,
    description = "The penholder accepts (a new version; a circulated sign-off starts again on it) or rejects an amendment, with a reason.",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn decide_amendment(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, aid)): Path<(String, String)>,
    ApiJson(r): ApiJson<Decision>,
) -> R<Json<PaperView>> {
    Ok(Json(
        s.node
            .decide_amendment(&p, &id, &aid, r.accept, &r.reason)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/papers/{id}/signoff", params(("id" = String, Path)), request_body = NewSignoff,
    description = "Circulate the current text for sign-off by every partner of the audience (the penholder): unanimity, or the silence procedure with a deadline.",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn circulate_paper(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<NewSignoff>,
) -> R<Json<PaperView>> {
    Ok(Json(s.node.circulate_paper(&p, &id, r).await?))
}
