//! Peers, sync, users and tokens over REST (the node's administration).

use super::*;

#[utoipa::path(get, path = "/api/v1/peers", responses((status = 200, body = Vec<PeerView>)))]
pub(super) async fn list_peers(State(s): State<AppState>, _auth: Auth) -> R<Json<Vec<PeerView>>> {
    s.node.reload_peers().await?;
    Ok(Json(
        s.node.peer_list().into_iter().map(peer_view).collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/peers", request_body = NewPeerRequest,
    responses((status = 201, body = PeerView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn add_peer(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<NewPeerRequest>,
) -> R<(StatusCode, Json<PeerView>)> {
    p.require(Role::Admin, "add peers")?;
    let peer = s
        .node
        .add_peer(&r.partner, r.url.as_deref(), &r.public_key)
        .await?;
    Ok((StatusCode::CREATED, Json(peer_view(peer))))
}

#[utoipa::path(post, path = "/api/v1/sync", description = "Pull from every peer now and report.",
    responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody)))]
pub(super) async fn sync_now(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> R<Json<Vec<entente_node::sync::PeerSyncReport>>> {
    p.require(Role::Admin, "trigger sync")?;
    Ok(Json(s.node.sync_once().await))
}

#[utoipa::path(get, path = "/api/v1/sync/status", responses((status = 200, body = SyncStatusView), (status = 403, body = ErrorBody)))]
pub(super) async fn sync_status(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> R<Json<SyncStatusView>> {
    p.require(Role::Admin, "see sync status")?;
    s.node.reload_peers().await?;
    let logs = s
        .node
        .store()
        .logs()
        .await
        .map_err(entente_node::NodeError::from)?;
    let c = s.node.sync_counters();
    Ok(Json(SyncStatusView {
        partner: s.node.partner().to_string(),
        peers: s.node.peer_list().into_iter().map(peer_view).collect(),
        logs: logs
            .into_iter()
            .map(|l| LogView {
                log_id: l.log_id,
                origin: l.origin.to_string(),
                audience: l.audience.iter().map(|p| p.to_string()).collect(),
                head_seq: l.head_seq,
            })
            .collect(),
        entries_applied: c.applied.load(std::sync::atomic::Ordering::Relaxed),
        duplicates_skipped: c.duplicates.load(std::sync::atomic::Ordering::Relaxed),
        rejected_by_reason: c.rejected(),
        forks: s.node.forks().await?.len() as u64,
        witnesses: s
            .node
            .witnesses()
            .await?
            .into_iter()
            .map(|w| WitnessView {
                origin: w.origin.to_string(),
                witness: w.witness.to_string(),
                checkpoint: w.checkpoint,
                origin_sig: w.origin_sig,
                cosig: w.cosig,
                recorded_at: w.recorded_at,
            })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, body = Vec<UserView>), (status = 403, body = ErrorBody)))]
pub(super) async fn list_users(State(s): State<AppState>, Auth(p): Auth) -> R<Json<Vec<UserView>>> {
    let users = s.node.users(&p).await?;
    Ok(Json(
        users
            .into_iter()
            .map(|u| UserView {
                username: u.username,
                role: u.role.as_str().into(),
                partner: p.partner.to_string(),
                created_at: Some(u.created_at),
                disabled: u.disabled,
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/users", request_body = NewUserRequest,
    responses((status = 201, body = UserView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn add_user(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<NewUserRequest>,
) -> R<(StatusCode, Json<UserView>)> {
    p.require(Role::Admin, "add users")?;
    let role = Role::parse(&r.role).map_err(entente_node::NodeError::from)?;
    let u = s.node.add_user(&r.username, role, &r.password).await?;
    Ok((
        StatusCode::CREATED,
        Json(UserView {
            username: u.username,
            role: u.role.as_str().into(),
            partner: p.partner.to_string(),
            created_at: Some(u.created_at),
            disabled: u.disabled,
        }),
    ))
}

#[utoipa::path(post, path = "/api/v1/tokens", request_body = NewTokenRequest,
    description = "Create an API token for the caller. The secret is shown once; only its hash is stored.",
    responses((status = 201, body = TokenResponse)))]
pub(super) async fn create_token(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<NewTokenRequest>,
) -> R<(StatusCode, Json<TokenResponse>)> {
    let kind = match r.scope.as_deref() {
        None | Some("write") => TokenKind::Api,
        Some("read") => TokenKind::ApiRead,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationFailed,
                format!("scope: {other:?} is not \"read\" or \"write\""),
            ));
        }
    };
    let token = s.node.create_token(&p, &r.label, kind).await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenResponse {
            token,
            expires_at: None,
        }),
    ))
}

pub(super) fn parse_enum<T: serde::de::DeserializeOwned>(
    field: &'static str,
    v: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(v.to_owned())).map_err(|_| {
        ApiError::from(entente_node::NodeError::from(
            entente_domain::DomainError::invalid(field, format!("{v:?} is not allowed")),
        ))
    })
}
