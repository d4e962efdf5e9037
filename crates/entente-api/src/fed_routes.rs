//! Federation endpoints. Every request must carry a valid node signature from a pinned
//! peer; every answer contains only logs whose audience includes that peer.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiQuery, FedCaller, parse_json};
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use entente_node::checkpoints::{CheckpointResponse, Cosignature, GossipResponse};
use entente_node::fed::{self, EntriesResponse, LogsResponse, Notify};
use serde::Deserialize;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(fed::PATH_LOGS, get(logs))
        .route("/fed/v1/logs/{log_id}/entries", get(entries))
        .route(fed::PATH_NOTIFY, post(notify))
        .route(fed::PATH_CHECKPOINT, get(checkpoint))
        .route(fed::PATH_COSIGN, post(cosign))
        .route(fed::PATH_GOSSIP, get(gossip))
        .route(fed::ROUTE_ATTACHMENT_CHUNK, get(attachment_chunk))
}

/// A chunk of an item's file, for a peer in the item's audience (anything else: not found).
async fn attachment_chunk(
    State(s): State<AppState>,
    Path((item_id, sha, index)): Path<(String, String, u32)>,
    caller: FedCaller,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let c = s
        .node
        .fed_attachment_chunk(&caller.partner, &item_id, &sha, index)
        .await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        c.0,
    ))
}

/// Other nodes' checkpoints as this node witnessed them, disclosing only logs the caller may
/// receive.
async fn gossip(
    State(s): State<AppState>,
    caller: FedCaller,
) -> Result<Json<GossipResponse>, ApiError> {
    Ok(Json(s.node.gossip_for(&caller.partner).await?))
}

#[derive(Debug, Deserialize)]
struct CheckpointQuery {
    /// `LOG:SEQ,…`: how much of each log the caller holds, for consistency proofs.
    #[serde(default)]
    held: String,
}

/// This node's checkpoint, with inclusion (and, where asked, consistency) proofs for the logs
/// the caller may receive only.
async fn checkpoint(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<CheckpointQuery>,
    caller: FedCaller,
) -> Result<Json<CheckpointResponse>, ApiError> {
    let held = entente_node::checkpoints::parse_held(&q.held)?;
    Ok(Json(s.node.checkpoint_for(&caller.partner, &held).await?))
}

async fn cosign(State(s): State<AppState>, caller: FedCaller) -> Result<StatusCode, ApiError> {
    let c: Cosignature = parse_json(&caller.body)?;
    s.node.receive_cosignature(&caller.partner, c).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logs(
    State(s): State<AppState>,
    caller: FedCaller,
) -> Result<Json<LogsResponse>, ApiError> {
    Ok(Json(s.node.fed_logs(&caller.partner).await?))
}

#[derive(Debug, Deserialize)]
struct EntriesQuery {
    #[serde(default)]
    after: u64,
    limit: Option<u32>,
}

async fn entries(
    State(s): State<AppState>,
    Path(log_id): Path<String>,
    ApiQuery(q): ApiQuery<EntriesQuery>,
    caller: FedCaller,
) -> Result<Json<EntriesResponse>, ApiError> {
    let limit = q.limit.unwrap_or(s.node.config().sync.page_size);
    Ok(Json(
        s.node
            .fed_entries(&caller.partner, &log_id, q.after, limit)
            .await?,
    ))
}

async fn notify(State(s): State<AppState>, caller: FedCaller) -> Result<StatusCode, ApiError> {
    // The content is only a hint; what is pulled afterwards is verified on its own.
    let _hint: Notify = parse_json(&caller.body)?;
    s.node.fed_notify(&caller.partner);
    Ok(StatusCode::ACCEPTED)
}
