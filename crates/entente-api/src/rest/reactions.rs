//! Reactions to items over REST: endorsements, sightings and their counts.

use super::*;

#[utoipa::path(post, path = "/api/v1/items/{id}/endorse", params(("id" = String, Path)), description = "Endorse a best practice for your partner (a signed entry, visible within the item's audience).",
    responses((status = 200, body = Object), (status = 422, body = ErrorBody)))]
pub(super) async fn endorse_item(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<impl serde::Serialize>> {
    Ok(Json(s.node.endorse(&p, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/items/{id}/sightings", params(("id" = String, Path)), description = "Endorsements and sightings of an item.",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(super) async fn item_reactions(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<impl serde::Serialize>> {
    Ok(Json(s.node.reactions(&p, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct SightingRequest {
    seen_at: String,
    count: u32,
    #[serde(default)]
    note: String,
}

#[utoipa::path(post, path = "/api/v1/items/{id}/sightings", params(("id" = String, Path)), request_body = SightingRequest, description = "Record a sighting: \"we saw this too\".",
    responses((status = 200, body = Object), (status = 422, body = ErrorBody)))]
pub(super) async fn record_sighting(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<SightingRequest>,
) -> R<Json<impl serde::Serialize>> {
    Ok(Json(
        s.node
            .sighting(&p, &id, &r.seen_at, r.count, &r.note)
            .await?,
    ))
}
