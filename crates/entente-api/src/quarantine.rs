//! REST routes for the files the malware scanner held aside: the admin lists them, has one
//! scanned again, or releases one with a reason. The rules are the node's
//! (`entente_node::attachments`); this module only maps HTTP onto them.

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, Auth};
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use entente_node::attachments::{HeldScan, QuarantinedFile, Rescan};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

type R<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/quarantine", get(list_quarantine))
        .route(
            "/api/v1/quarantine/scan-held",
            get(held_scan).post(scan_held),
        )
        .route("/api/v1/quarantine/{sha256}/rescan", post(rescan_file))
        .route("/api/v1/quarantine/{sha256}/release", post(release_file))
}

#[derive(OpenApi)]
#[openapi(paths(list_quarantine, rescan_file, release_file, held_scan, scan_held))]
pub(crate) struct QuarantineDoc;

#[utoipa::path(get, path = "/api/v1/quarantine",
    description = "Admin: the files the malware scanner held aside as they arrived from peers, newest first (those of objects you may see): name, size, the object, what was found and when.",
    responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody)))]
async fn list_quarantine(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> R<Json<Vec<QuarantinedFile>>> {
    Ok(Json(s.node.quarantined_files(&p).await?))
}

#[utoipa::path(post, path = "/api/v1/quarantine/{sha256}/rescan", params(("sha256" = String, Path)),
    description = "Admin: scan a quarantined file again; it is released (served and searched through its objects) if the scanner now finds nothing, and stays held otherwise. 409 when this node has no scanner, 503 when the scanner cannot scan now.",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn rescan_file(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(sha256): Path<String>,
) -> R<Json<Rescan>> {
    Ok(Json(s.node.rescan_quarantined(&p, &sha256).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
struct ReleaseRequest {
    /// Why the file is safe to release (kept in the audit trail): one line of 1 to 242 bytes.
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/quarantine/{sha256}/release", params(("sha256" = String, Path)),
    request_body = ReleaseRequest,
    description = "Admin: release a quarantined file whatever the scanner says (a false positive, or a sample wanted as such), for the objects you may see it held for, with a reason recorded in the audit trail; it is then served and searched through those objects like any file, and a scan of every held file leaves it be.",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn release_file(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(sha256): Path<String>,
    ApiJson(r): ApiJson<ReleaseRequest>,
) -> R<StatusCode> {
    s.node.release_quarantined(&p, &sha256, &r.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/quarantine/scan-held",
    description = "Admin: the scan of every held file started last (running, when it started and finished, how many files were scanned, flagged and held aside, and could not be scanned; for a scan that stopped early, what kind of failure stopped it, as `stopped_by` (`store` or `error`) and in English in the field `error`; both are null while it runs or when it ran to the end).",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
async fn held_scan(State(s): State<AppState>, Auth(p): Auth) -> R<Json<HeldScan>> {
    Ok(Json(s.node.held_files_scan(&p)?))
}

#[utoipa::path(post, path = "/api/v1/quarantine/scan-held",
    description = "Admin: scan every file this node holds whole with its malware scanner, in the background (files kept before the scanner was set up, or before its signatures changed); a flagged file is held aside for every object it was checked for. One scan runs at a time: asked again meanwhile, this answers how far it got. 409 when this node has no scanner.",
    responses((status = 202, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn scan_held(State(s): State<AppState>, Auth(p): Auth) -> R<(StatusCode, Json<HeldScan>)> {
    Ok((
        StatusCode::ACCEPTED,
        Json(s.node.scan_held_files(&p).await?),
    ))
}
