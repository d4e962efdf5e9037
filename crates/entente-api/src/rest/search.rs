//! The cooperation network and full-text search over REST (only what the caller may see).

use super::*;

#[utoipa::path(get, path = "/api/v1/analytics/network", params(NetworkQuery),
    description = "The cooperation network formed by the audiences of the items you may see: partners, weighted edges, degree centralization (1.0 = hub-and-spokes), a strength-weighted variant, density, triangular exchange, and the monthly trend.",
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub(super) async fn network_view(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<NetworkQuery>,
) -> R<Json<impl serde::Serialize>> {
    let f = entente_node::analytics::NetworkFilter {
        topic: q.topic,
        since: q.since,
        until: q.until,
    };
    Ok(Json(s.node.network(&p, f).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SearchParams {
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
    /// Only hits of this class: item, stix, action or statement.
    what: Option<String>,
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/search", params(SearchParams),
    description = "Full-text search over the items, STIX objects, actions and statements you may see, with facet counts (format, topic, partner, kind, tlp, period) over those only.",
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub(super) async fn search(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<SearchParams>,
) -> R<Json<impl serde::Serialize>> {
    let r = entente_node::search::SearchRequest {
        q: q.q.unwrap_or_default(),
        format: q.format,
        topic: q.topic,
        partner: q.partner,
        kind: q.kind,
        tlp: q.tlp,
        period: q.period,
        what: q.what,
        limit: q.limit,
    };
    Ok(Json(s.node.search(&p, r).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct NetworkQuery {
    topic: Option<String>,
    /// RFC 3339 (or YYYY-MM-DD): items created at or after.
    since: Option<String>,
    /// Items created before.
    until: Option<String>,
}
