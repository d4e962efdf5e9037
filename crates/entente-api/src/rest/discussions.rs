//! Discussions over REST: threads in a format or on an object, replies, edits and retractions
//! of one's own posts, and the caller's read marks.

use super::*;
use entente_domain::coord::{NewPost, NewThread, ThreadState, ThreadSummary, ThreadView};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ThreadQuery {
    /// Only threads of this format.
    format: Option<String>,
    /// Only threads about this object, as `kind:id` (e.g. `item:0192…`).
    subject: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/threads", params(ThreadQuery),
    description = "Discussions you may see, the most recently active first, with the posts by others you have not read.",
    responses((status = 200, body = Vec<ThreadSummary>)))]
pub(super) async fn list_threads(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ThreadQuery>,
) -> R<Json<Vec<ThreadSummary>>> {
    let f = entente_node::discussions::ThreadFilter {
        format_id: q.format,
        subject: q.subject,
    };
    Ok(Json(s.node.threads(&p, &f).await?))
}

#[utoipa::path(post, path = "/api/v1/threads", request_body = NewThread,
    description = "Start a discussion in a format or on an object of it. Its audience (the object's, the format's members, or a subset named in releasable_to) is fixed: every reply inherits it. `@name@PARTNER` in the text mentions a user of a partner in the audience.",
    responses((status = 201, body = ThreadState), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn start_thread(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiJson(r): ApiJson<NewThread>,
) -> R<(StatusCode, Json<ThreadState>)> {
    Ok((StatusCode::CREATED, Json(s.node.start_thread(&p, r).await?)))
}

#[utoipa::path(get, path = "/api/v1/threads/{id}", params(("id" = String, Path)),
    description = "A discussion, with the posts new since you last marked it read.",
    responses((status = 200, body = ThreadView), (status = 404, body = ErrorBody)))]
pub(super) async fn get_thread(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<ThreadView>> {
    Ok(Json(s.node.thread(&p, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/threads/{id}/posts", params(("id" = String, Path)), request_body = NewPost,
    description = "Reply in a discussion (released to the discussion's audience), optionally quoting an earlier post.",
    responses((status = 201, body = ThreadState), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn reply_thread(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<NewPost>,
) -> R<(StatusCode, Json<ThreadState>)> {
    Ok((StatusCode::CREATED, Json(s.node.reply(&p, &id, r).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct EditPost {
    /// The post's new text; the earlier one stays in its history.
    body: String,
}

#[utoipa::path(put, path = "/api/v1/threads/{id}/posts/{post_id}", params(("id" = String, Path), ("post_id" = String, Path)), request_body = EditPost,
    description = "Edit your own post (an officer may edit any post of this partner): a new signed version.",
    responses((status = 200, body = ThreadState), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn edit_post(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, post_id)): Path<(String, String)>,
    ApiJson(r): ApiJson<EditPost>,
) -> R<Json<ThreadState>> {
    Ok(Json(s.node.edit_post(&p, &id, &post_id, r.body).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct RetractPost {
    #[serde(default)]
    reason: String,
}

#[utoipa::path(post, path = "/api/v1/threads/{id}/posts/{post_id}/retract", params(("id" = String, Path), ("post_id" = String, Path)), request_body = RetractPost,
    description = "Retract your own post: its text leaves every partner's view and search; the signed entries keep it.",
    responses((status = 200, body = ThreadState), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn retract_post(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, post_id)): Path<(String, String)>,
    ApiJson(r): ApiJson<RetractPost>,
) -> R<Json<ThreadState>> {
    Ok(Json(
        s.node.retract_post(&p, &id, &post_id, &r.reason).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/threads/{id}/read", params(("id" = String, Path)),
    description = "Mark every post of the discussion as read by you (kept on this node only).",
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub(super) async fn mark_thread_read(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<StatusCode> {
    s.node.mark_read(&p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
