//! Attachments over REST: upload a file (raw body), download an item's or a post's file, attach
//! a file to one's post, a meeting's or paper's file attached (and removed) by its convener or
//! penholder and downloaded.

use super::*;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

/// A file uploaded and hashed: attach it to a new item by its `sha256`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadedView {
    pub sha256: String,
    pub size: u64,
    /// Detected from the bytes.
    pub media_type: String,
}

#[utoipa::path(post, path = "/api/v1/attachments",
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The file's bytes, at most the node's `limits.attachment_max_bytes`. With \
            `malware_scan` set, the node's scanner must find nothing in them."),
    responses((status = 201, body = UploadedView),
        (status = 413, body = ErrorBody, description = "Over the node's limit"),
        (status = 422, body = ErrorBody,
            description = "Empty, or the malware scanner found something (`malware_found`)"),
        (status = 503, body = ErrorBody,
            description = "The malware scanner could not scan it (`scanner_unavailable`): not kept")))]
pub(super) async fn upload_attachment(
    State(s): State<AppState>,
    Auth(p): Auth,
    body: Body,
) -> R<(StatusCode, Json<UploadedView>)> {
    let mut up = s.node.begin_upload(&p).await?;
    let mut data = body.into_data_stream();
    while let Some(chunk) = data.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::ValidationFailed,
                "file: the upload was cut off",
            )
        })?;
        if let Err(e) = up.write(&chunk).await {
            return Err(if up.over_limit() {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::PayloadTooLarge,
                    e.to_string(),
                )
            } else {
                e.into()
            });
        }
    }
    let u = up.finish(&s.node).await?;
    Ok((
        StatusCode::CREATED,
        Json(UploadedView {
            sha256: u.sha256,
            size: u.size,
            media_type: u.media_type,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/items/{id}/attachments/{sha256}",
    params(("id" = String, Path), ("sha256" = String, Path)),
    responses((status = 200, description = "The file, as an attachment to save",
        content_type = "application/octet-stream"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody,
            description = "Not here yet, or withheld by the malware scanner")))]
pub(super) async fn download_attachment(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, sha)): Path<(String, String)>,
) -> R<Response> {
    let (d, stream) = s.node.download(&p, &id, &sha).await?;
    file_response(d, Body::from_stream(stream))
}

/// The answer that sends a file to be saved, never shown; no answer at all if one of its
/// headers could not be set (a file must never go out without them).
fn file_response(d: entente_node::attachments::Delivery, body: Body) -> R<Response> {
    let headers = d.header_map()?;
    let mut r = body.into_response();
    r.headers_mut().extend(headers);
    Ok(r)
}

#[utoipa::path(post, path = "/api/v1/threads/{id}/posts/{post_id}/attachments",
    params(("id" = String, Path), ("post_id" = String, Path)),
    request_body = entente_domain::attachment::NewAttachment,
    description = "Attach a file you uploaded to your own post (an officer: to any post of this partner). \
        The post's files go to the discussion's audience only.",
    responses((status = 200, body = entente_domain::coord::ThreadState),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn attach_post_file(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, post_id)): Path<(String, String)>,
    ApiJson(f): ApiJson<entente_domain::attachment::NewAttachment>,
) -> R<Json<entente_domain::coord::ThreadState>> {
    Ok(Json(s.node.attach_post_file(&p, &id, &post_id, f).await?))
}

#[utoipa::path(get, path = "/api/v1/threads/{id}/posts/{post_id}/attachments/{sha256}",
    params(("id" = String, Path), ("post_id" = String, Path), ("sha256" = String, Path)),
    responses((status = 200, description = "The file, as an attachment to save",
        content_type = "application/octet-stream"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody,
            description = "Not here yet, or withheld by the malware scanner")))]
pub(super) async fn download_post_file(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, post_id, sha)): Path<(String, String, String)>,
) -> R<Response> {
    let (d, stream) = s.node.download_post_file(&p, &id, &post_id, &sha).await?;
    file_response(d, Body::from_stream(stream))
}

/// A meeting's or paper's files after one is attached or removed.
type Files = Json<Vec<entente_domain::attachment::AttachmentRef>>;

#[utoipa::path(post, path = "/api/v1/meetings/{id}/attachments", params(("id" = String, Path)),
    request_body = entente_domain::attachment::NewAttachment,
    description = "Attach a file you uploaded to a meeting your partner convenes (agenda papers, \
        slides). It goes to the meeting's participants only.",
    responses((status = 200, body = Vec<entente_domain::attachment::AttachmentRef>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn attach_meeting_file(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<entente_domain::attachment::NewAttachment>,
) -> R<Files> {
    Ok(Json(
        s.node.attach_object_file(&p, "meeting", &id, f).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/papers/{id}/attachments", params(("id" = String, Path)),
    request_body = entente_domain::attachment::NewAttachment,
    description = "Attach a file you uploaded to a concept paper your partner holds the pen of \
        (an annex). It goes to the paper's audience only.",
    responses((status = 200, body = Vec<entente_domain::attachment::AttachmentRef>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub(super) async fn attach_paper_file(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<entente_domain::attachment::NewAttachment>,
) -> R<Files> {
    Ok(Json(s.node.attach_object_file(&p, "paper", &id, f).await?))
}

#[utoipa::path(delete, path = "/api/v1/meetings/{id}/attachments/{sha256}",
    params(("id" = String, Path), ("sha256" = String, Path)),
    description = "Take a file off a meeting your partner convenes: no node lists or serves it \
        for the meeting from then on. A participant that already downloaded it keeps its copy.",
    responses((status = 200, body = Vec<entente_domain::attachment::AttachmentRef>,
            description = "The meeting's files now"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn remove_meeting_file(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, sha)): Path<(String, String)>,
) -> R<Files> {
    Ok(Json(
        s.node.remove_object_file(&p, "meeting", &id, &sha).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/papers/{id}/attachments/{sha256}",
    params(("id" = String, Path), ("sha256" = String, Path)),
    description = "Take a file off a concept paper your partner holds the pen of, before it is \
        circulated for sign-off. A partner that already downloaded it keeps its copy.",
    responses((status = 200, body = Vec<entente_domain::attachment::AttachmentRef>,
            description = "The paper's files now"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The paper is circulated")))]
pub(super) async fn remove_paper_file(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, sha)): Path<(String, String)>,
) -> R<Files> {
    Ok(Json(
        s.node.remove_object_file(&p, "paper", &id, &sha).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/meetings/{id}/attachments/{sha256}",
    params(("id" = String, Path), ("sha256" = String, Path)),
    responses((status = 200, description = "The file, as an attachment to save",
        content_type = "application/octet-stream"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody,
            description = "Not here yet, or withheld by the malware scanner")))]
pub(super) async fn download_meeting_file(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, sha)): Path<(String, String)>,
) -> R<Response> {
    let (d, stream) = s
        .node
        .download_object_file(&p, "meeting", &id, &sha)
        .await?;
    file_response(d, Body::from_stream(stream))
}

#[utoipa::path(get, path = "/api/v1/papers/{id}/attachments/{sha256}",
    params(("id" = String, Path), ("sha256" = String, Path)),
    responses((status = 200, description = "The file, as an attachment to save",
        content_type = "application/octet-stream"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody,
            description = "Not here yet, or withheld by the malware scanner")))]
pub(super) async fn download_paper_file(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path((id, sha)): Path<(String, String)>,
) -> R<Response> {
    let (d, stream) = s.node.download_object_file(&p, "paper", &id, &sha).await?;
    file_response(d, Body::from_stream(stream))
}
