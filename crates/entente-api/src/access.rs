//! REST routes for taking access away (M5): change, disable or delete a user; list and revoke
//! tokens and sessions; suspend, re-admit or remove a peer. The rules are the node's
//! (`entente_node::access`); this module only maps HTTP onto them.

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, Auth};
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::patch;
use entente_node::access::{TokenView, UserChange};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

type R<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/users/{username}",
            patch(change_user).delete(delete_user),
        )
        .route("/api/v1/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/api/v1/peers/{partner}", patch(change_peer))
}

#[derive(OpenApi)]
#[openapi(paths(change_user, delete_user, list_tokens, revoke_token, change_peer))]
pub(crate) struct AccessDoc;

#[derive(Debug, Deserialize, ToSchema)]
struct UserChangeRequest {
    /// admin, officer, analyst or reader.
    #[serde(default)]
    role: Option<String>,
    /// true: the user's sessions and tokens stop working and it cannot log in.
    #[serde(default)]
    disabled: Option<bool>,
}

#[utoipa::path(patch, path = "/api/v1/users/{username}", params(("username" = String, Path)),
    request_body = UserChangeRequest,
    description = "Admin: change a user's role or disable (enable) it; takes effect on the next request everywhere.",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn change_user(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(username): Path<String>,
    ApiJson(r): ApiJson<UserChangeRequest>,
) -> R<StatusCode> {
    s.node
        .change_user(
            &p,
            &username,
            UserChange {
                role: r.role,
                disabled: r.disabled,
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/users/{username}", params(("username" = String, Path)),
    description = "Admin: delete a user with all its tokens and sessions.",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_user(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(username): Path<String>,
) -> R<StatusCode> {
    s.node.delete_user(&p, &username).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct TokenQuery {
    /// Only this user's (admins; anyone else always sees their own).
    user: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/tokens", params(TokenQuery),
    description = "Tokens and sessions: an admin's view is everyone's, anyone else's their own. Ids name tokens for revocation; secrets are never shown.",
    responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody)))]
pub(crate) async fn list_tokens(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<TokenQuery>,
) -> R<Json<Vec<TokenView>>> {
    Ok(Json(s.node.list_tokens(&p, q.user.as_deref()).await?))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", params(("id" = String, Path)),
    description = "Revoke a token or end a session (an admin any, anyone else their own); it stops working on the next request.",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn revoke_token(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<TokenView>> {
    Ok(Json(s.node.revoke_token(&p, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
struct PeerChangeRequest {
    /// active, suspended or removed.
    state: String,
}

#[utoipa::path(patch, path = "/api/v1/peers/{partner}", params(("partner" = String, Path)),
    request_body = PeerChangeRequest,
    description = "Admin: suspend, re-admit or remove a peer. Its logs stay, verifiable with its pinned key.",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_peer(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(partner): Path<String>,
    ApiJson(r): ApiJson<PeerChangeRequest>,
) -> R<StatusCode> {
    s.node.set_peer_state(&p, &partner, &r.state).await?;
    Ok(StatusCode::NO_CONTENT)
}
