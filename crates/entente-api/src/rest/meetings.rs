//! Meetings over REST: planning, the minutes (a statement every participant must endorse:
//! stances are taken on `/api/v1/statements/{id}/stance`), recording the agreed decisions as
//! joint actions, and the next meeting of a series drafted.

use super::*;
use entente_domain::coord::{MeetingState, NewMeeting};

#[utoipa::path(get, path = "/api/v1/meetings", description = "Meetings you may see, soonest first.",
    responses((status = 200, body = Vec<MeetingState>)))]
pub(super) async fn list_meetings(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> R<Json<Vec<MeetingState>>> {
    Ok(Json(s.node.meetings(&p).await?))
}

#[utoipa::path(post, path = "/api/v1/meetings", request_body = NewMeeting,
    description = "Plan a meeting of a format: title, level (senior_officials, working_level, experts), starts_at (UTC), time_zone, place or link, series, agenda [{title, subject?}], the participating partners. It is released to the participants only; an agenda point's object must be visible to all of them.",
    responses((status = 201, body = MeetingState), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn plan_meeting(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<NewMeeting>,
) -> R<(StatusCode, Json<MeetingState>)> {
    Ok((StatusCode::CREATED, Json(s.node.plan_meeting(&p, r).await?)))
}

#[utoipa::path(get, path = "/api/v1/meetings/{id}", params(("id" = String, Path)),
    description = "A meeting with its minutes (a statement and its stances), whether every participant agreed them, the decisions they record and the joint actions created from them.",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(super) async fn get_meeting(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<entente_node::meetings::MeetingView>> {
    Ok(Json(s.node.meeting(&p, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct MinutesRequest {
    /// The minutes in Markdown; a line `DECISION: <title> (lead: EU; with: JPN, NATO)` records a
    /// decision.
    text: String,
}

#[utoipa::path(post, path = "/api/v1/meetings/{id}/minutes", params(("id" = String, Path)), request_body = MinutesRequest,
    description = "Draft the minutes (the convener): the first time a statement every participant must endorse; then a new version of it, which voids every agreement given before.",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn draft_minutes(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<MinutesRequest>,
) -> R<Json<entente_node::meetings::MeetingView>> {
    Ok(Json(s.node.draft_minutes(&p, &id, &r.text).await?))
}

#[utoipa::path(post, path = "/api/v1/meetings/{id}/decisions", params(("id" = String, Path)),
    description = "Create the decisions of the agreed minutes as joint actions with their leads (the convener; each decision once).",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn record_decisions(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<entente_node::meetings::MeetingView>> {
    Ok(Json(s.node.record_decisions(&p, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/meetings/{id}/next", params(("id" = String, Path)),
    description = "The next meeting of the series, drafted (not planned): one interval later, the same participants, every open action the participants may all see on its agenda.",
    responses((status = 200, body = NewMeeting), (status = 404, body = ErrorBody)))]
pub(super) async fn next_meeting(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<NewMeeting>> {
    Ok(Json(s.node.next_meeting_draft(&p, &id).await?))
}
