//! TAXII 2.1 endpoints (OASIS TAXII 2.1): discovery, one API root, collections, objects,
//! object, versions, manifest and status, with the exact media types, HTTP Basic auth and
//! the TAXII error shape. Every answer is built from what the node lets the caller see.

use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::extract::body_rejection;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use entente_node::auth::Principal;
use entente_node::taxii::{ObjectsPage, TaxiiFilter};
use serde_json::json;

pub const TAXII: &str = "application/taxii+json;version=2.1";
pub const STIX: &str = "application/stix+json;version=2.1";
pub const ROOT: &str = "/taxii2/entente/";
/// The largest envelope a client may POST.
pub const MAX_CONTENT_LENGTH: usize = 16 * 1024 * 1024;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/taxii2/", get(discovery))
        .route(ROOT, get(api_root))
        .route("/taxii2/entente/collections/", get(collections))
        .route("/taxii2/entente/collections/{c}/", get(collection))
        .route(
            "/taxii2/entente/collections/{c}/objects/",
            get(objects).post(add_objects),
        )
        .route(
            "/taxii2/entente/collections/{c}/objects/{o}/",
            get(object).delete(delete_object),
        )
        .route(
            "/taxii2/entente/collections/{c}/objects/{o}/versions/",
            get(versions),
        )
        .route("/taxii2/entente/collections/{c}/manifest/", get(manifest))
        .route("/taxii2/entente/status/{s}/", get(status))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_CONTENT_LENGTH))
}

/// An error in the TAXII error shape.
#[derive(Debug)]
pub struct TaxiiError(ApiError);

impl From<ApiError> for TaxiiError {
    fn from(e: ApiError) -> Self {
        TaxiiError(e)
    }
}

impl From<entente_node::NodeError> for TaxiiError {
    fn from(e: entente_node::NodeError) -> Self {
        TaxiiError(e.into())
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let body = json!({
            "title": e.status.canonical_reason().unwrap_or("Error"),
            "description": e.message,
            "error_code": e.code.as_str(),
            "http_status": e.status.as_u16().to_string(),
        });
        let mut r = (e.status, body.to_string()).into_response();
        e.add_headers(&mut r);
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII));
        if e.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"entente\""),
            );
        }
        r
    }
}

type R<T> = Result<T, TaxiiError>;

fn taxii_err(status: StatusCode, code: ErrorCode, msg: &str) -> TaxiiError {
    TaxiiError(ApiError::new(status, code, msg))
}

/// An authenticated TAXII caller whose Accept header allows the TAXII media type.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = TaxiiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> R<Self> {
        let accept = parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !accepts_taxii(accept) {
            return Err(taxii_err(
                StatusCode::NOT_ACCEPTABLE,
                ErrorCode::NotAcceptable,
                "send Accept: application/taxii+json;version=2.1",
            ));
        }
        let unauthorized = || {
            taxii_err(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "HTTP Basic credentials are required",
            )
        };
        let creds = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(unauthorized)?;
        let (user, secret) = creds.split_once(':').ok_or_else(unauthorized)?;
        let client = parts
            .extensions
            .get::<entente_node::auth::ClientAddr>()
            .map(|c| c.0);
        let (p, kind) = match state.node.authenticate_basic(user, secret, client).await {
            Ok(ok) => ok,
            // A limit, or a failure of the node (its database busy or down), is answered as
            // such; only credentials that do not sign anyone in are a 401.
            Err(
                e @ (entente_node::NodeError::RateLimited { .. }
                | entente_node::NodeError::Store(_)
                | entente_node::NodeError::Internal(_)),
            ) => return Err(e.into()),
            Err(_) => return Err(unauthorized()),
        };
        crate::extract::require_scope(kind, &parts.method)?;
        Ok(Caller(p))
    }
}

fn accepts_taxii(accept: &str) -> bool {
    accept.split(',').any(|m| {
        let mut parts = m.split(';').map(str::trim);
        let ty = parts.next().unwrap_or("");
        let params: Vec<&str> = parts.collect();
        ty.eq_ignore_ascii_case("application/taxii+json")
            && params.iter().all(|p| {
                !p.to_ascii_lowercase().starts_with("version=")
                    || p.eq_ignore_ascii_case("version=2.1")
            })
    })
}

fn taxii_json(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut r = (status, body.into()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII));
    r
}

async fn discovery(State(s): State<AppState>, _c: Caller) -> Response {
    let body = json!({
        "title": format!("Entente node of {}", s.node.partner()),
        "description": "TAXII 2.1 server of an Entente node: one collection per format your partner is a member of.",
        "default": ROOT,
        "api_roots": [ROOT],
    });
    taxii_json(StatusCode::OK, body.to_string())
}

async fn api_root(State(s): State<AppState>, _c: Caller) -> Response {
    let body = json!({
        "title": format!("Entente — {}", s.node.partner()),
        "versions": [TAXII],
        "max_content_length": MAX_CONTENT_LENGTH,
    });
    taxii_json(StatusCode::OK, body.to_string())
}

async fn collections(State(s): State<AppState>, Caller(p): Caller) -> R<Response> {
    let cs = s.node.taxii_collections(&p).await?;
    let body = if cs.is_empty() {
        json!({})
    } else {
        json!({ "collections": cs })
    };
    Ok(taxii_json(StatusCode::OK, body.to_string()))
}

async fn collection(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(c): Path<String>,
) -> R<Response> {
    let (_, col) = s.node.taxii_collection(&p, &c).await?;
    Ok(taxii_json(
        StatusCode::OK,
        serde_json::to_string(&col).unwrap_or_default(),
    ))
}

/// Parse the query string into a filter (the grammar lives with the node's TAXII behaviour).
fn filter(query: Option<&str>) -> R<TaxiiFilter> {
    TaxiiFilter::parse_query(query.unwrap_or("")).map_err(TaxiiError::from)
}

fn date_headers(h: &mut HeaderMap, page: &ObjectsPage) {
    if let (Some(first), Some(last)) = (page.rows.first(), page.rows.last())
        && let (Ok(a), Ok(b)) = (
            HeaderValue::from_str(&first.date_added),
            HeaderValue::from_str(&last.date_added),
        )
    {
        h.insert("x-taxii-date-added-first", a);
        h.insert("x-taxii-date-added-last", b);
    }
}

/// An envelope built from stored JSON text without re-parsing it (`envelope_body`).
fn envelope(page: &ObjectsPage) -> Response {
    let mut r = taxii_json(StatusCode::OK, entente_node::taxii::envelope_body(page));
    date_headers(r.headers_mut(), page);
    r
}

async fn objects(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(c): Path<String>,
    req: Request,
) -> R<Response> {
    let query = req.uri().query().unwrap_or("");
    let f = filter(Some(query))?;
    // Rendered pages are cached per user and query (`taxii/pages.rs` in the node).
    let page = s.node.taxii_objects_rendered(&p, &c, query, f).await?;
    let mut r = taxii_json(StatusCode::OK, page.body);
    for (name, v) in [
        ("x-taxii-date-added-first", page.first_added),
        ("x-taxii-date-added-last", page.last_added),
    ] {
        if let Some(v) = v.and_then(|v| HeaderValue::from_str(&v).ok()) {
            r.headers_mut().insert(name, v);
        }
    }
    Ok(r)
}

async fn object(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((c, o)): Path<(String, String)>,
    req: Request,
) -> R<Response> {
    let f = filter(req.uri().query())?;
    let page = s.node.taxii_objects(&p, &c, Some(&o), f).await?;
    if page.rows.is_empty() {
        return Err(taxii_err(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no such object",
        ));
    }
    Ok(envelope(&page))
}

async fn delete_object(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((c, o)): Path<(String, String)>,
) -> R<Response> {
    s.node.taxii_delete(&p, &c, &o).await?;
    Ok(taxii_json(StatusCode::OK, String::new()))
}

async fn versions(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path((c, o)): Path<(String, String)>,
    req: Request,
) -> R<Response> {
    let mut f = filter(req.uri().query())?;
    f.versions = vec!["all".into()];
    let page = s.node.taxii_objects(&p, &c, Some(&o), f).await?;
    if page.rows.is_empty() {
        return Err(taxii_err(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no such object",
        ));
    }
    let mut vs: Vec<&str> = page.rows.iter().map(|r| r.version.as_str()).collect();
    vs.sort();
    let mut body = json!({"more": page.more, "versions": vs});
    if let Some(n) = &page.next {
        body["next"] = json!(n);
    }
    let mut r = taxii_json(StatusCode::OK, body.to_string());
    date_headers(r.headers_mut(), &page);
    Ok(r)
}

async fn manifest(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(c): Path<String>,
    req: Request,
) -> R<Response> {
    let f = filter(req.uri().query())?;
    let page = s.node.taxii_objects(&p, &c, None, f).await?;
    let objs: Vec<_> = page
        .rows
        .iter()
        .map(|r| json!({"id": r.stix_id, "date_added": r.date_added, "version": r.version, "media_type": STIX}))
        .collect();
    let mut body = json!({"more": page.more});
    if let Some(n) = &page.next {
        body["next"] = json!(n);
    }
    if !objs.is_empty() {
        body["objects"] = json!(objs);
    }
    let mut r = taxii_json(StatusCode::OK, body.to_string());
    date_headers(r.headers_mut(), &page);
    Ok(r)
}

async fn status(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> R<Response> {
    let st = s.node.taxii_status(&p, &id).await?;
    Ok(taxii_json(
        StatusCode::OK,
        serde_json::to_string(&st).unwrap_or_default(),
    ))
}

/// The POST body: TAXII media type only.
pub struct TaxiiBody(pub Bytes);

impl FromRequest<AppState> for TaxiiBody {
    type Rejection = TaxiiError;

    async fn from_request(req: Request<Body>, state: &AppState) -> R<Self> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let norm: String = ct
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if norm != TAXII {
            return Err(taxii_err(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the envelope as application/taxii+json;version=2.1",
            ));
        }
        let b = Bytes::from_request(req, state)
            .await
            .map_err(|e| TaxiiError(body_rejection(e)))?;
        Ok(TaxiiBody(b))
    }
}

async fn add_objects(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(c): Path<String>,
    TaxiiBody(body): TaxiiBody,
) -> R<Response> {
    let st = s.node.taxii_add(&p, &c, &body).await?;
    Ok(taxii_json(
        StatusCode::ACCEPTED,
        serde_json::to_string(&st).unwrap_or_default(),
    ))
}
