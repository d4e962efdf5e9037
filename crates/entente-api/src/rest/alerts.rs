//! Crisis alerts over REST: list, raise, overdue, get, acknowledge.

use super::*;

#[utoipa::path(get, path = "/api/v1/alerts", description = "Alerts you may see, newest first, each with the per-partner delivered/acknowledged/overdue board.",
    responses((status = 200, body = Vec<Object>)))]
pub(super) async fn list_alerts(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> R<Json<Vec<entente_node::alerts::AlertView>>> {
    Ok(Json(s.node.alerts(&p).await?))
}

#[utoipa::path(post, path = "/api/v1/alerts", request_body = NewAlertRequest,
    responses((status = 201, body = Object), (status = 422, body = ErrorBody)))]
pub(super) async fn raise_alert(
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
pub(super) async fn overdue_alerts(
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
pub(super) async fn get_alert(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
) -> R<Json<entente_node::alerts::AlertView>> {
    Ok(Json(s.node.alert(&p, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", params(("id" = String, Path)), request_body = AckRequest,
    description = "Acknowledge for your partner (officers of a recipient partner).",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)))]
pub(super) async fn ack_alert(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<AckRequest>,
) -> R<Json<entente_node::alerts::AlertView>> {
    Ok(Json(s.node.acknowledge_alert(&p, &id, &r.note).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct NewAlertRequest {
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
pub(super) struct AckRequest {
    #[serde(default)]
    note: String,
}
