//! Items over REST: list with filters, create, get, revise, retract.

use super::*;

#[utoipa::path(get, path = "/api/v1/items", params(ItemListQuery),
    responses((status = 200, body = ItemPageView), (status = 400, body = ErrorBody)))]
pub(super) async fn list_items(
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
        ..Default::default()
    };
    let page = s.node.items(&p, f).await?;
    Ok(Json(ItemPageView {
        items: page.items.into_iter().map(Into::into).collect(),
        next: page.next,
    }))
}

#[utoipa::path(post, path = "/api/v1/items", request_body = NewItemRequest,
    responses((status = 201, body = ItemView), (status = 422, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub(super) async fn create_item(
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
        attachments: r
            .attachments
            .into_iter()
            .map(|a| entente_node::NewAttachment {
                sha256: a.sha256,
                name: a.name,
            })
            .collect(),
    };
    Ok((
        StatusCode::CREATED,
        Json(s.node.create_item(&p, ni).await?.into()),
    ))
}

#[utoipa::path(get, path = "/api/v1/items/{id}", params(("id" = String, Path)),
    responses((status = 200, body = ItemView), (status = 404, body = ErrorBody)))]
pub(super) async fn get_item(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<ItemView>> {
    Ok(Json(s.node.item(&p, &id).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/items/{id}/revise", params(("id" = String, Path)), request_body = ReviseRequest,
    responses((status = 200, body = ItemView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn revise_item(
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
pub(super) async fn retract_item(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<ReasonRequest>,
) -> R<Json<ItemView>> {
    Ok(Json(s.node.retract_item(&p, &id, &r.reason).await?.into()))
}

pub(super) fn peer_view(p: entente_node::Peer) -> PeerView {
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ItemListQuery {
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
