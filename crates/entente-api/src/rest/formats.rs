//! Formats over REST: list, create (by hand or from a template), join, leave, close; STIX and
//! MISP export of a format.

use super::*;

#[utoipa::path(get, path = "/api/v1/formats", responses((status = 200, body = Vec<FormatView>)))]
pub(super) async fn list_formats(
    State(s): State<AppState>,
    _auth: Auth,
) -> R<Json<Vec<FormatView>>> {
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
pub(super) async fn create_format(
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
pub(super) async fn create_from_template(
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
pub(super) async fn get_format(
    State(s): State<AppState>,
    _auth: Auth,
    Path(id): Path<String>,
) -> R<Json<FormatView>> {
    Ok(Json(s.node.format(&id).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/formats/{id}/join", params(("id" = String, Path)), request_body = JoinRequest,
    description = "The convener admits a partner; the new member receives the format from this entry.",
    responses((status = 200, body = FormatView), (status = 403, body = ErrorBody)))]
pub(super) async fn join_format(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<JoinRequest>,
) -> R<Json<FormatView>> {
    Ok(Json(s.node.join_format(&p, &id, &r.partner).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/formats/{id}/leave", params(("id" = String, Path)),
    responses((status = 200, body = FormatView), (status = 403, body = ErrorBody)))]
pub(super) async fn leave_format(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<FormatView>> {
    Ok(Json(s.node.leave_format(&p, &id).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/formats/{id}/close", params(("id" = String, Path)), request_body = ReasonRequest,
    responses((status = 200, body = FormatView), (status = 403, body = ErrorBody)))]
pub(super) async fn close_format(
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
pub(super) async fn export_stix(
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
pub(super) async fn export_misp(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<serde_json::Value>> {
    Ok(Json(s.node.export_misp_event(&p, &id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ReleaseQuery {
    /// The partner admitted since, to release to.
    to: String,
    topic: Option<String>,
    /// An item kind (report, incident, note, best-practice, lesson-learned, …).
    kind: Option<String>,
    /// Created on or after this day (YYYY-MM-DD).
    from: Option<String>,
    /// Created on or before this day (YYYY-MM-DD).
    until: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/formats/{id}/release", params(("id" = String, Path), ReleaseQuery),
    description = "Review what this partner could release to a member admitted since: its own items of the format the member may not see (never TLP:RED), not released to it before, narrowed by topic, kind and period. Nothing is released by listing.",
    responses((status = 200, body = Vec<ItemView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn release_candidates(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ReleaseQuery>,
) -> R<Json<Vec<ItemView>>> {
    let f = entente_node::release::ReleaseFilter {
        format_id: id,
        to: q.to,
        topic: q.topic,
        kind: q.kind,
        from: q.from,
        until: q.until,
    };
    Ok(Json(
        s.node
            .release_candidates(&p, &f)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct ReleaseRequest {
    /// The partner to release to.
    to: String,
    /// The chosen items (each must be among those the review lists).
    items: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/formats/{id}/release", params(("id" = String, Path)), request_body = ReleaseRequest,
    description = "Release the chosen items to a member admitted since: each becomes a new item in its original audience plus that member, naming the original entry (its id and hash); the originals are unchanged.",
    responses((status = 201, body = Vec<ItemView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn release_items(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<ReleaseRequest>,
) -> R<(StatusCode, Json<Vec<ItemView>>)> {
    let out = s.node.release_items(&p, &id, &r.to, &r.items).await?;
    Ok((
        StatusCode::CREATED,
        Json(out.into_iter().map(Into::into).collect()),
    ))
}
