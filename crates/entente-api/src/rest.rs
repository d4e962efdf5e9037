//! REST/JSON handlers under `/api/v1`, and `/healthz`.

use crate::AppState;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::views::*;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use entente_domain::Role;
use entente_node::auth::TokenKind;
use entente_node::{ItemFilter, ItemRevision, NewFormat, NewItem};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

type R<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/v1/node", get(node_info))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/me", get(me))
        .route("/api/v1/formats", get(list_formats).post(create_format))
        .route("/api/v1/formats/template", post(create_from_template))
        .route("/api/v1/formats/{id}", get(get_format))
        .route("/api/v1/formats/{id}/join", post(join_format))
        .route("/api/v1/formats/{id}/leave", post(leave_format))
        .route("/api/v1/formats/{id}/close", post(close_format))
        .route("/api/v1/formats/{id}/stix", get(export_stix))
        .route("/api/v1/formats/{id}/misp", get(export_misp))
        .route("/api/v1/items", get(list_items).post(create_item))
        .route("/api/v1/items/{id}", get(get_item))
        .route("/api/v1/items/{id}/revise", post(revise_item))
        .route("/api/v1/items/{id}/retract", post(retract_item))
        .route(
            "/api/v1/statements",
            get(list_statements).post(create_statement),
        )
        .route("/api/v1/alerts", get(list_alerts).post(raise_alert))
        .route("/api/v1/alerts/overdue", get(overdue_alerts))
        .route("/api/v1/analytics/network", get(network_view))
        .route("/api/v1/search", get(search))
        .route("/api/v1/actions", get(list_actions).post(create_action))
        .route("/api/v1/actions/{id}", get(get_action))
        .route("/api/v1/actions/{id}/progress", post(report_progress))
        .route("/api/v1/formats/{id}/progress-report", get(progress_report))
        .route("/api/v1/exercises", get(list_exercises).post(plan_exercise))
        .route("/api/v1/exercises/{id}", get(get_exercise))
        .route("/api/v1/exercises/{id}/respond", post(respond_exercise))
        .route("/api/v1/exercises/{id}/lessons", post(add_lesson))
        .route(
            "/api/v1/projects",
            get(list_projects).post(register_project),
        )
        .route("/api/v1/projects/match", get(match_projects))
        .route("/api/v1/projects/{id}", get(get_project))
        .route("/api/v1/projects/{id}/interest", post(express_interest))
        .route("/api/v1/items/{id}/endorse", post(endorse_item))
        .route(
            "/api/v1/items/{id}/sightings",
            get(item_reactions).post(record_sighting),
        )
        .route("/api/v1/alerts/{id}", get(get_alert))
        .route("/api/v1/alerts/{id}/ack", post(ack_alert))
        .route("/api/v1/statements/{id}", get(get_statement))
        .route("/api/v1/statements/{id}/versions", post(revise_statement))
        .route("/api/v1/statements/{id}/stance", post(take_stance))
        .route("/api/v1/statements/{id}/export", get(export_statement))
        .route("/api/v1/statements/{id}/diff", get(statement_diff))
        .route("/api/v1/peers", get(list_peers).post(add_peer))
        .route("/api/v1/sync", post(sync_now))
        .route("/api/v1/sync/status", get(sync_status))
        .route("/api/v1/users", get(list_users).post(add_user))
        .route(
            "/api/v1/tokens",
            get(crate::access::list_tokens).post(create_token),
        )
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such route")
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Entente node API", version = "1", description = "REST API of one Entente node. Every answer is filtered for the caller: entries released to other partners are never shown, counted or hinted at."),
    paths(
        health, node_info, login, me, list_formats, create_format, create_from_template, get_format,
        join_format, leave_format, close_format, export_stix, export_misp, list_items, create_item, get_item, revise_item,
        retract_item, network_view, search, list_actions, create_action, get_action, report_progress, progress_report, list_exercises,
        plan_exercise, get_exercise, respond_exercise, add_lesson, list_projects, register_project, match_projects,
        get_project, express_interest, endorse_item, item_reactions, record_sighting, list_alerts, raise_alert, overdue_alerts, get_alert, ack_alert, list_statements, create_statement, get_statement, revise_statement, take_stance,
        export_statement, statement_diff, list_peers, add_peer, sync_now, sync_status, list_users, add_user, create_token
    ),
    components(schemas(ErrorBody, ErrorCode)),
    modifiers(&BearerAuth)
)]
pub(crate) struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let comps = openapi.components.get_or_insert_with(Default::default);
        comps.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi())
}

#[utoipa::path(get, path = "/healthz", security(()), responses((status = 200, body = Health)))]
async fn health(State(s): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        partner: s.node.partner().to_string(),
    })
}

#[utoipa::path(get, path = "/api/v1/node", security(()), responses((status = 200, body = NodeView)))]
async fn node_info(State(s): State<AppState>) -> Json<NodeView> {
    let k = s.node.public_key();
    Json(NodeView {
        partner: s.node.partner().to_string(),
        url: s.node.config().public_url.clone(),
        public_key: k.to_hex(),
        fingerprint: k.fingerprint(),
    })
}

#[utoipa::path(post, path = "/api/v1/auth/login", security(()), request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody)))]
async fn login(
    State(s): State<AppState>,
    client: Option<axum::Extension<entente_node::auth::ClientAddr>>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> R<Json<TokenResponse>> {
    let client = client.map(|c| c.0.0);
    let (token, expires) = s.node.login(&req.username, &req.password, client).await?;
    Ok(Json(TokenResponse {
        token,
        expires_at: Some(expires),
    }))
}

#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
async fn me(Auth(p): Auth) -> Json<UserView> {
    Json(UserView {
        username: p.username,
        role: p.role.as_str().into(),
        partner: p.partner.to_string(),
        created_at: None,
        disabled: false,
    })
}

#[utoipa::path(get, path = "/api/v1/formats", responses((status = 200, body = Vec<FormatView>)))]
async fn list_formats(State(s): State<AppState>, _auth: Auth) -> R<Json<Vec<FormatView>>> {
    Ok(Json(
        s.node
            .formats()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/formats", request_body = NewFormatRequest,
    responses((status = 201, body = FormatView), (status = 422, body = ErrorBody)))]
async fn create_format(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<NewFormatRequest>,
) -> R<(StatusCode, Json<FormatView>)> {
    let nf = NewFormat {
        title: r.title,
        description: r.description,
        topics: r.topics,
        members: r.members,
        stix_default_releasable_to: r.stix_default_releasable_to,
    };
    Ok((
        StatusCode::CREATED,
        Json(s.node.create_format(&p, nf).await?.into()),
    ))
}

#[utoipa::path(post, path = "/api/v1/formats/template", request_body = TemplateRequest,
    responses((status = 201, description = "The Transatlantic+ <partner> formats", body = Vec<FormatView>), (status = 422, body = ErrorBody)))]
async fn create_from_template(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<TemplateRequest>,
) -> R<(StatusCode, Json<Vec<FormatView>>)> {
    let fs = s.node.create_from_template(&p, &r.partner).await?;
    Ok((
        StatusCode::CREATED,
        Json(fs.into_iter().map(Into::into).collect()),
    ))
}

#[utoipa::path(get, path = "/api/v1/formats/{id}", params(("id" = String, Path)),
    responses((status = 200, body = FormatView), (status = 404, body = ErrorBody)))]
async fn get_format(
    State(s): State<AppState>,
    _auth: Auth,
    Path(id): Path<String>,
) -> R<Json<FormatView>> {
    Ok(Json(s.node.format(&id).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/formats/{id}/join", params(("id" = String, Path)), request_body = JoinRequest,
    description = "The convener admits a partner; the new member receives the format from this entry.",
    responses((status = 200, body = FormatView), (status = 403, body = ErrorBody)))]
async fn join_format(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<JoinRequest>,
) -> R<Json<FormatView>> {
    Ok(Json(s.node.join_format(&p, &id, &r.partner).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/formats/{id}/leave", params(("id" = String, Path)),
    responses((status = 200, body = FormatView), (status = 403, body = ErrorBody)))]
async fn leave_format(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<FormatView>> {
    Ok(Json(s.node.leave_format(&p, &id).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/formats/{id}/close", params(("id" = String, Path)), request_body = ReasonRequest,
    responses((status = 200, body = FormatView), (status = 403, body = ErrorBody)))]
async fn close_format(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<ReasonRequest>,
) -> R<Json<FormatView>> {
    Ok(Json(s.node.close_format(&p, &id, &r.reason).await?.into()))
}

#[utoipa::path(get, path = "/api/v1/formats/{id}/stix", params(("id" = String, Path)),
    description = "Export the format's collection as a STIX 2.1 bundle: the latest version of every object you may see.",
    responses((status = 200, content_type = "application/stix+json;version=2.1", body = Object), (status = 404, body = ErrorBody)))]
async fn export_stix(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<axum::response::Response> {
    use axum::response::IntoResponse;
    let bundle = s.node.export_stix_bundle(&p, &id).await?;
    let mut r = bundle.into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/stix+json;version=2.1"),
    );
    Ok(r)
}

#[utoipa::path(get, path = "/api/v1/formats/{id}/misp", params(("id" = String, Path)),
    description = "Export the format's collection as one MISP event (JSON): what you may see, with TLP tags and the audience as a sharing group.",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn export_misp(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<serde_json::Value>> {
    Ok(Json(s.node.export_misp_event(&p, &id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ItemListQuery {
    /// Format id.
    format: Option<String>,
    kind: Option<String>,
    topic: Option<String>,
    /// Origin partner code.
    partner: Option<String>,
    tlp: Option<String>,
    /// RFC 3339: items created or changed at or after this time.
    since: Option<String>,
    /// `next` from the previous page.
    cursor: Option<String>,
    /// 1 to 500, default 50.
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/items", params(ItemListQuery),
    responses((status = 200, body = ItemPageView), (status = 400, body = ErrorBody)))]
async fn list_items(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ItemListQuery>,
) -> R<Json<ItemPageView>> {
    let f = ItemFilter {
        format: q.format,
        kind: q.kind,
        topic: q.topic,
        partner: q.partner,
        tlp: q.tlp,
        since: q.since,
        cursor: q.cursor,
        limit: q.limit,
    };
    let page = s.node.items(&p, f).await?;
    Ok(Json(ItemPageView {
        items: page.items.into_iter().map(Into::into).collect(),
        next: page.next,
    }))
}

#[utoipa::path(post, path = "/api/v1/items", request_body = NewItemRequest,
    responses((status = 201, body = ItemView), (status = 422, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn create_item(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<NewItemRequest>,
) -> R<(StatusCode, Json<ItemView>)> {
    let ni = NewItem {
        format_id: r.format_id,
        kind: r.kind,
        title: r.title,
        body: r.body,
        topics: r.topics,
        tlp: r.tlp,
        releasable_to: r.releasable_to,
        named_users: r.named_users,
    };
    Ok((
        StatusCode::CREATED,
        Json(s.node.create_item(&p, ni).await?.into()),
    ))
}

#[utoipa::path(get, path = "/api/v1/items/{id}", params(("id" = String, Path)),
    responses((status = 200, body = ItemView), (status = 404, body = ErrorBody)))]
async fn get_item(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<ItemView>> {
    Ok(Json(s.node.item(&p, &id).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/items/{id}/revise", params(("id" = String, Path)), request_body = ReviseRequest,
    responses((status = 200, body = ItemView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revise_item(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<ReviseRequest>,
) -> R<Json<ItemView>> {
    let rev = ItemRevision {
        title: r.title,
        body: r.body,
        topics: r.topics,
    };
    Ok(Json(s.node.revise_item(&p, &id, rev).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/items/{id}/retract", params(("id" = String, Path)), request_body = ReasonRequest,
    responses((status = 200, body = ItemView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn retract_item(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<ReasonRequest>,
) -> R<Json<ItemView>> {
    Ok(Json(s.node.retract_item(&p, &id, &r.reason).await?.into()))
}

fn peer_view(p: entente_node::Peer) -> PeerView {
    PeerView {
        partner: p.record.partner.to_string(),
        url: p.record.url,
        public_key: p.key.to_hex(),
        fingerprint: p.key.fingerprint(),
        last_sync_at: p.record.last_sync_at,
        last_ok_at: p.record.last_ok_at,
        last_error: p.record.last_error,
    }
}

#[utoipa::path(get, path = "/api/v1/peers", responses((status = 200, body = Vec<PeerView>)))]
async fn list_peers(State(s): State<AppState>, _auth: Auth) -> R<Json<Vec<PeerView>>> {
    s.node.reload_peers().await?;
    Ok(Json(
        s.node.peer_list().into_iter().map(peer_view).collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/peers", request_body = NewPeerRequest,
    responses((status = 201, body = PeerView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_peer(
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
async fn sync_now(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> R<Json<Vec<entente_node::sync::PeerSyncReport>>> {
    p.require(Role::Admin, "trigger sync")?;
    Ok(Json(s.node.sync_once().await))
}

#[utoipa::path(get, path = "/api/v1/sync/status", responses((status = 200, body = SyncStatusView), (status = 403, body = ErrorBody)))]
async fn sync_status(State(s): State<AppState>, Auth(p): Auth) -> R<Json<SyncStatusView>> {
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
async fn list_users(State(s): State<AppState>, Auth(p): Auth) -> R<Json<Vec<UserView>>> {
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
async fn add_user(
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
async fn create_token(
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct NewStatementRequest {
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
struct RevisionRequest {
    title: String,
    text: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct StanceRequest {
    version: u32,
    /// "endorse", "stand_aside" or "object" (an objection needs a reason).
    stance: String,
    #[serde(default)]
    reason: String,
}

fn parse_enum<T: serde::de::DeserializeOwned>(field: &'static str, v: &str) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(v.to_owned())).map_err(|_| {
        ApiError::from(entente_node::NodeError::from(
            entente_domain::DomainError::invalid(field, format!("{v:?} is not allowed")),
        ))
    })
}

#[utoipa::path(get, path = "/api/v1/statements", responses((status = 200, body = Vec<Object>)))]
async fn list_statements(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> R<Json<Vec<entente_node::statements::StatementView>>> {
    Ok(Json(s.node.statements(&p).await?))
}

#[utoipa::path(post, path = "/api/v1/statements", request_body = NewStatementRequest,
    responses((status = 201, body = Object), (status = 422, body = ErrorBody)))]
async fn create_statement(
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
async fn get_statement(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<entente_node::statements::StatementView>> {
    Ok(Json(s.node.statement(&p, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/statements/{id}/diff", params(("id" = String, Path)),
    description = "The whole line diff from the previous version to the current one (a statement carries only its first lines, with `diff_more` saying how many follow).",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn statement_diff(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<entente_domain::statement::LineDiff>> {
    Ok(Json(s.node.statement_diff(&p, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/statements/{id}/versions", params(("id" = String, Path)), request_body = RevisionRequest,
    description = "A new version (originator only). Stances on earlier versions no longer count.",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
async fn revise_statement(
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
async fn take_stance(
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
async fn export_statement(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<entente_node::statements::StatementExport>> {
    Ok(Json(s.node.export_statement(&p, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct NewAlertRequest {
    format_id: String,
    /// low, medium, high or critical.
    severity: String,
    title: String,
    #[serde(default)]
    text: String,
    /// RFC 3339: when acknowledgements are due.
    ack_deadline: String,
    /// Partner codes; absent: every member of the format.
    #[serde(default)]
    releasable_to: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct AckRequest {
    #[serde(default)]
    note: String,
}

#[utoipa::path(get, path = "/api/v1/alerts", description = "Alerts you may see, newest first, each with the per-partner delivered/acknowledged/overdue board.",
    responses((status = 200, body = Vec<Object>)))]
async fn list_alerts(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> R<Json<Vec<entente_node::alerts::AlertView>>> {
    Ok(Json(s.node.alerts(&p).await?))
}

#[utoipa::path(post, path = "/api/v1/alerts", request_body = NewAlertRequest,
    responses((status = 201, body = Object), (status = 422, body = ErrorBody)))]
async fn raise_alert(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<NewAlertRequest>,
) -> R<(StatusCode, Json<entente_node::alerts::AlertView>)> {
    let n = entente_node::alerts::NewAlert {
        format_id: r.format_id,
        severity: parse_enum("severity", &r.severity)?,
        title: r.title,
        text: r.text,
        ack_deadline: r.ack_deadline,
        releasable_to: r.releasable_to,
    };
    Ok((StatusCode::CREATED, Json(s.node.raise_alert(&p, n).await?)))
}

#[utoipa::path(get, path = "/api/v1/alerts/overdue", description = "The dashboard list of escalated alerts: partners overdue on acknowledging.",
    responses((status = 200, body = Vec<Object>)))]
async fn overdue_alerts(
    State(s): State<AppState>,
    _auth: Auth,
) -> R<Json<Vec<(String, Vec<String>)>>> {
    let list = s.node.overdue_alerts().await?;
    Ok(Json(
        list.into_iter()
            .map(|(id, ps)| (id, ps.into_iter().map(|p| p.to_string()).collect()))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn get_alert(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<entente_node::alerts::AlertView>> {
    Ok(Json(s.node.alert(&p, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", params(("id" = String, Path)), request_body = AckRequest,
    description = "Acknowledge for your partner (officers of a recipient partner).",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
async fn ack_alert(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<AckRequest>,
) -> R<Json<entente_node::alerts::AlertView>> {
    Ok(Json(s.node.acknowledge_alert(&p, &id, &r.note).await?))
}

type V = serde_json::Value;

fn to_value<T: serde::Serialize>(t: T) -> Json<V> {
    Json(serde_json::to_value(t).unwrap_or(V::Null))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FormatFilter {
    format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/actions", params(FormatFilter), description = "Joint actions you may see (status derived from signed progress reports).", responses((status = 200, body = Vec<Object>)))]
async fn list_actions(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<FormatFilter>,
) -> R<Json<V>> {
    Ok(to_value(s.node.actions(&p, q.format.as_deref()).await?))
}

#[utoipa::path(post, path = "/api/v1/actions", request_body = Object, description = "Create a joint action: format_id, title, description, group, topics, leads, participants, milestones [{title, due YYYY-MM-DD}] in date order.",
    responses((status = 201, body = Object), (status = 422, body = ErrorBody)))]
async fn create_action(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<entente_node::coord::NewAction>,
) -> R<(StatusCode, Json<V>)> {
    Ok((
        StatusCode::CREATED,
        to_value(s.node.create_action(&p, r).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/actions/{id}", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn get_action(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<V>> {
    Ok(to_value(s.node.action(&p, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/actions/{id}/progress", params(("id" = String, Path)), request_body = Object,
    description = "File a signed progress report (participants only): period, status, narrative, milestones [{milestone_id, done, note}]. Only a lead's report sets the status.",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
async fn report_progress(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<entente_node::coord::NewProgress>,
) -> R<Json<V>> {
    Ok(to_value(s.node.report_progress(&p, &id, r).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// e.g. 2026-H2.
    period: String,
    /// md (default), html or json.
    format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/formats/{id}/progress-report", params(("id" = String, Path), ReportQuery),
    description = "The generated periodic progress report of a format (Markdown, HTML or JSON), stating the entries it was built from.",
    responses((status = 200, body = String), (status = 404, body = ErrorBody)))]
async fn progress_report(
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

#[utoipa::path(get, path = "/api/v1/exercises", responses((status = 200, body = Vec<Object>)))]
async fn list_exercises(State(s): State<AppState>, Auth(p): Auth) -> R<Json<V>> {
    Ok(to_value(s.node.exercises(&p).await?))
}

#[utoipa::path(post, path = "/api/v1/exercises", request_body = Object, description = "Plan an exercise: format_id, name, start, end (YYYY-MM-DD), topics, invited, observers.",
    responses((status = 201, body = Object), (status = 422, body = ErrorBody)))]
async fn plan_exercise(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<entente_node::coord::NewExercise>,
) -> R<(StatusCode, Json<V>)> {
    Ok((
        StatusCode::CREATED,
        to_value(s.node.plan_exercise(&p, r).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/exercises/{id}", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn get_exercise(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<V>> {
    Ok(to_value(s.node.exercise(&p, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct RespondRequest {
    /// participate, observe or decline.
    response: String,
}

#[utoipa::path(post, path = "/api/v1/exercises/{id}/respond", params(("id" = String, Path)), request_body = RespondRequest, responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
async fn respond_exercise(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<RespondRequest>,
) -> R<Json<V>> {
    let resp = parse_enum("response", &r.response)?;
    Ok(to_value(s.node.respond_exercise(&p, &id, resp).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct LessonRequest {
    item_id: String,
}

#[utoipa::path(post, path = "/api/v1/exercises/{id}/lessons", params(("id" = String, Path)), request_body = LessonRequest, responses((status = 200, body = Object), (status = 422, body = ErrorBody)))]
async fn add_lesson(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<LessonRequest>,
) -> R<Json<V>> {
    Ok(to_value(
        s.node.add_exercise_lesson(&p, &id, &r.item_id).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/projects", responses((status = 200, body = Vec<Object>)))]
async fn list_projects(State(s): State<AppState>, Auth(p): Auth) -> R<Json<V>> {
    Ok(to_value(s.node.projects(&p).await?))
}

#[utoipa::path(post, path = "/api/v1/projects", request_body = Object, description = "Register an industrial-cooperation project: format_id, title, capability_area, description, stage, participants, releasable_to.",
    responses((status = 201, body = Object), (status = 422, body = ErrorBody)))]
async fn register_project(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<entente_node::coord::NewProject>,
) -> R<(StatusCode, Json<V>)> {
    Ok((
        StatusCode::CREATED,
        to_value(s.node.register_project(&p, r).await?),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AreaQuery {
    capability_area: String,
}

#[utoipa::path(get, path = "/api/v1/projects/match", params(AreaQuery), description = "Partners to bring together on a capability area, with the projects they share.",
    responses((status = 200, body = Object)))]
async fn match_projects(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<AreaQuery>,
) -> R<Json<V>> {
    Ok(to_value(
        s.node.match_projects(&p, &q.capability_area).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/projects/{id}", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn get_project(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<V>> {
    Ok(to_value(s.node.project(&p, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/projects/{id}/interest", params(("id" = String, Path)), request_body = ReasonRequest, responses((status = 200, body = Object)))]
async fn express_interest(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<ReasonRequest>,
) -> R<Json<V>> {
    Ok(to_value(s.node.express_interest(&p, &id, &r.reason).await?))
}

#[utoipa::path(post, path = "/api/v1/items/{id}/endorse", params(("id" = String, Path)), description = "Endorse a best practice for your partner (a signed entry, visible within the item's audience).",
    responses((status = 200, body = Object), (status = 422, body = ErrorBody)))]
async fn endorse_item(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<V>> {
    Ok(to_value(s.node.endorse(&p, &id).await?))
}

#[utoipa::path(get, path = "/api/v1/items/{id}/sightings", params(("id" = String, Path)), description = "Endorsements and sightings of an item.",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn item_reactions(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<V>> {
    Ok(to_value(s.node.reactions(&p, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct SightingRequest {
    seen_at: String,
    count: u32,
    #[serde(default)]
    note: String,
}

#[utoipa::path(post, path = "/api/v1/items/{id}/sightings", params(("id" = String, Path)), request_body = SightingRequest, description = "Record a sighting: \"we saw this too\".",
    responses((status = 200, body = Object), (status = 422, body = ErrorBody)))]
async fn record_sighting(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<SightingRequest>,
) -> R<Json<V>> {
    Ok(to_value(
        s.node
            .sighting(&p, &id, &r.seen_at, r.count, &r.note)
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct NetworkQuery {
    topic: Option<String>,
    /// RFC 3339 (or YYYY-MM-DD): items created at or after.
    since: Option<String>,
    /// Items created before.
    until: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/analytics/network", params(NetworkQuery),
    description = "The cooperation network formed by the audiences of the items you may see: partners, weighted edges, degree centralization (1.0 = hub-and-spokes), a strength-weighted variant, density, triangular exchange, and the monthly trend.",
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
async fn network_view(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<NetworkQuery>,
) -> R<Json<V>> {
    let f = entente_node::analytics::NetworkFilter {
        topic: q.topic,
        since: q.since,
        until: q.until,
    };
    Ok(to_value(s.node.network(&p, f).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchParams {
    /// Words to find in titles and texts (all of them; quotes for a phrase).
    q: Option<String>,
    format: Option<String>,
    topic: Option<String>,
    /// Originating partner.
    partner: Option<String>,
    kind: Option<String>,
    tlp: Option<String>,
    /// YYYY-MM.
    period: Option<String>,
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/search", params(SearchParams),
    description = "Full-text search over the items, STIX objects, actions and statements you may see, with facet counts (format, topic, partner, kind, tlp, period) over those only.",
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
async fn search(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<SearchParams>,
) -> R<Json<V>> {
    let r = entente_node::search::SearchRequest {
        q: q.q.unwrap_or_default(),
        format: q.format,
        topic: q.topic,
        partner: q.partner,
        kind: q.kind,
        tlp: q.tlp,
        period: q.period,
        limit: q.limit,
    };
    Ok(to_value(s.node.search(&p, r).await?))
}
