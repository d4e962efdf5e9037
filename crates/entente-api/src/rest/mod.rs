//! REST/JSON handlers under `/api/v1`, and `/healthz`.

use crate::AppState;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::views::*;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use entente_domain::Role;
use entente_node::auth::TokenKind;
use entente_node::{ItemFilter, ItemRevision, NewFormat, NewItem};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

mod admin;
mod alerts;
mod attachments;
mod coord;
mod discussions;
mod formats;
mod items;
mod meetings;
mod papers;
mod reactions;
mod search;
mod statements;

use admin::*;
use alerts::*;
use attachments::*;
use coord::*;
use discussions::*;
use formats::*;
use items::*;
use meetings::*;
use papers::*;
use reactions::*;
use search::*;
use statements::*;

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
        .route(
            "/api/v1/formats/{id}/release",
            get(release_candidates).post(release_items),
        )
        .route("/api/v1/items", get(list_items).post(create_item))
        .route("/api/v1/items/{id}", get(get_item))
        .route("/api/v1/attachments", post(upload_attachment))
        .route(
            "/api/v1/items/{id}/attachments/{sha256}",
            get(download_attachment),
        )
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
        .route("/api/v1/threads", get(list_threads).post(start_thread))
        .route("/api/v1/threads/{id}", get(get_thread))
        .route("/api/v1/threads/{id}/posts", post(reply_thread))
        .route("/api/v1/threads/{id}/posts/{post_id}", put(edit_post))
        .route(
            "/api/v1/threads/{id}/posts/{post_id}/retract",
            post(retract_post),
        )
        .route("/api/v1/threads/{id}/read", post(mark_thread_read))
        .route(
            "/api/v1/threads/{id}/posts/{post_id}/attachments",
            post(attach_post_file),
        )
        .route(
            "/api/v1/threads/{id}/posts/{post_id}/attachments/{sha256}",
            get(download_post_file),
        )
        .route(
            "/api/v1/meetings/{id}/attachments",
            post(attach_meeting_file),
        )
        .route(
            "/api/v1/meetings/{id}/attachments/{sha256}",
            get(download_meeting_file).delete(remove_meeting_file),
        )
        .route("/api/v1/papers/{id}/attachments", post(attach_paper_file))
        .route(
            "/api/v1/papers/{id}/attachments/{sha256}",
            get(download_paper_file).delete(remove_paper_file),
        )
        .route("/api/v1/meetings", get(list_meetings).post(plan_meeting))
        .route("/api/v1/meetings/{id}", get(get_meeting))
        .route("/api/v1/meetings/{id}/minutes", post(draft_minutes))
        .route("/api/v1/meetings/{id}/decisions", post(record_decisions))
        .route("/api/v1/meetings/{id}/next", get(next_meeting))
        .route("/api/v1/papers", get(list_papers).post(draft_paper))
        .route("/api/v1/papers/{id}", get(get_paper))
        .route("/api/v1/papers/{id}/amendments", post(propose_amendment))
        .route(
            "/api/v1/papers/{id}/amendments/{amendment_id}/decision",
            post(decide_amendment),
        )
        .route("/api/v1/papers/{id}/signoff", post(circulate_paper))
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
        join_format, leave_format, close_format, export_stix, export_misp, release_candidates, release_items, list_items, create_item, get_item, upload_attachment, download_attachment, revise_item,
        retract_item, network_view, search, list_actions, create_action, get_action, report_progress, progress_report, list_exercises,
        plan_exercise, get_exercise, respond_exercise, add_lesson, list_projects, register_project, match_projects,
        get_project, express_interest, endorse_item, item_reactions, record_sighting, list_alerts, raise_alert, overdue_alerts, get_alert, ack_alert, list_statements, create_statement, get_statement, revise_statement, take_stance,
        export_statement, statement_diff, list_threads, start_thread, get_thread, reply_thread, edit_post,
        retract_post, mark_thread_read, attach_post_file, download_post_file, attach_meeting_file, download_meeting_file, remove_meeting_file, attach_paper_file, download_paper_file, remove_paper_file, list_meetings, plan_meeting, get_meeting, draft_minutes,
        record_decisions, next_meeting, list_papers, draft_paper, get_paper, propose_amendment,
        decide_amendment, circulate_paper, list_peers, add_peer, sync_now, sync_status, list_users, add_user, create_token
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
