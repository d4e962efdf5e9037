//! The UI's pages and form handlers. Each GET renders what the node returns for the signed-in
//! user; each POST checks the session's CSRF token, validates, calls the node once and either
//! redirects (post/redirect/get) or renders the form again with messages beside the fields,
//! having stored nothing.

use crate::svg::{SvgEdge, SvgNode};
use crate::{Ctx, Errors, FormData, Session, WebState, render};
use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use entente_domain::alert::RecipientStatus;
use entente_domain::coord::{ActionState, ExerciseState, ProjectState, Reactions};
use entente_domain::statement::{Stance, StatementStatus};
use entente_domain::{FormatState, ItemKind, ItemState, Role, Tlp};
use entente_node::NodeError;
use entente_node::alerts::AlertView;
use entente_node::auth::TokenKind;
use entente_node::statements::StatementView;
use std::collections::BTreeMap;

mod actions;
mod admin;
mod alerts;
mod attachments;
mod dashboard;
mod discussions;
mod exercises;
mod filters;
mod formats;
mod items;
mod meetings;
mod papers;
mod release;
mod search;
mod settings;
mod shared;
mod statements;

pub(crate) use actions::*;
pub(crate) use admin::*;
pub(crate) use alerts::*;
pub(crate) use dashboard::*;
pub(crate) use discussions::*;
pub(crate) use exercises::*;
pub(crate) use formats::*;
pub(crate) use items::*;
pub(crate) use meetings::*;
pub(crate) use papers::*;
pub(crate) use release::*;
pub(crate) use search::*;
pub(crate) use settings::*;
pub(crate) use shared::*;
pub(crate) use statements::*;

pub(crate) type Page = Result<Response, Response>;

pub(crate) fn routes() -> Router<WebState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/assets/style.css", get(style))
        .route("/ui/assets/htmx.min.js", get(htmx))
        .route("/ui/assets/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
        .route("/ui/", get(dashboard))
        .route("/ui/owed", get(owed_fragment))
        .route("/ui/nav", get(nav_fragment))
        .route("/ui/formats", get(formats).post(create_formats))
        .route("/ui/formats/{id}", get(format_page))
        .route("/ui/formats/{id}/report", get(report_page))
        .route("/ui/formats/{id}/release", get(release).post(release_post))
        .route("/ui/items", get(items).post(new_item_post))
        .route("/ui/items/new", get(new_item))
        .route("/ui/items/{id}", get(item_page))
        .route("/ui/items/{id}/react", post(item_react))
        .route("/ui/items/{id}/retract", post(item_retract))
        .route(
            "/ui/items/{id}/attachments/{sha256}",
            get(attachments::download),
        )
        // The file's size is checked as it streams in (the node's attachment limit), not by
        // the form limit of every other page.
        .route(
            "/ui/items/{id}/attachments",
            post(attachments::attach).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/ui/actions", get(actions).post(create_action))
        .route("/ui/actions/{id}", get(action_page))
        .route("/ui/actions/{id}/progress", post(action_progress))
        .route("/ui/statements", get(statements).post(create_statement))
        .route("/ui/statements/{id}", get(statement_page))
        .route("/ui/statements/{id}/signed", get(statement_signed))
        .route(
            "/ui/statements/{id}/signed.json",
            get(statement_signed_json),
        )
        .route("/ui/statements/{id}/stance", post(statement_stance))
        .route("/ui/statements/{id}/revise", post(statement_revise))
        .route("/ui/alerts", get(alerts).post(raise_alert))
        .route("/ui/alerts/list", get(alerts_list))
        .route("/ui/alerts/{id}", get(alert_page))
        .route("/ui/alerts/{id}/board", get(alert_board))
        .route("/ui/alerts/{id}/ack", post(alert_ack))
        .route("/ui/discussions", get(discussions).post(start_discussion))
        .route("/ui/discussions/{id}", get(discussion))
        .route(
            "/ui/discussions/{id}/reply",
            post(discussion_reply).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/ui/discussions/{id}/posts/{post_id}/attachments/{sha256}",
            get(attachments::download_post_file),
        )
        .route(
            "/ui/meetings/{id}/attachments/{sha256}",
            get(attachments::download_meeting_file),
        )
        .route(
            "/ui/meetings/{id}/attachments/{sha256}/remove",
            post(attachments::remove_meeting_file),
        )
        .route(
            "/ui/papers/{id}/attachments/{sha256}/remove",
            post(attachments::remove_paper_file),
        )
        .route(
            "/ui/meetings/{id}/attachments",
            post(attachments::attach_to_meeting).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/ui/papers/{id}/attachments/{sha256}",
            get(attachments::download_paper_file),
        )
        .route(
            "/ui/papers/{id}/attachments",
            post(attachments::attach_to_paper).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/ui/discussions/{id}/posts/{post_id}/attachments",
            post(attachments::attach_to_post).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/ui/discussions/{id}/posts/{post_id}/{what}",
            post(discussion_post_change),
        )
        .route("/ui/meetings", get(meetings).post(plan_meeting))
        .route("/ui/meetings/{id}", get(meeting))
        .route("/ui/meetings/{id}/{what}", post(meeting_post))
        .route("/ui/papers", get(papers).post(draft_paper))
        .route("/ui/papers/{id}", get(paper))
        .route("/ui/papers/{id}/{what}", post(paper_post))
        .route("/ui/exercises", get(exercises).post(plan_exercise))
        .route("/ui/exercises/{id}", get(exercise_page))
        .route("/ui/exercises/{id}/respond", post(exercise_respond))
        .route("/ui/projects", get(projects).post(register_project))
        .route("/ui/projects/{id}", get(project_page))
        .route("/ui/projects/{id}/interest", post(project_interest))
        .route("/ui/search", get(search))
        .route("/ui/network", get(network))
        .route("/ui/released", get(released))
        .route("/ui/settings", get(settings).post(save_settings))
        .route("/ui/admin", get(admin))
        .route("/ui/admin/{what}", post(admin_post))
}
