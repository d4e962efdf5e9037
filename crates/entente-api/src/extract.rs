//! Extractors that turn every kind of bad input into a stable error code: JSON bodies,
//! query strings, bearer tokens and signed federation requests.

use crate::AppState;
use crate::error::{ApiError, ErrorCode};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use entente_domain::PartnerCode;
use entente_node::auth::Principal;
use entente_node::auth::TokenKind;
use entente_node::fed::{self, SignedRequest};
use serde::de::DeserializeOwned;

/// A JSON body: 415 unless `application/json`, 413 over the size limit, 400 when it does
/// not parse, 422 when it parses but has the wrong shape.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the body as application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn body_rejection(r: axum::extract::rejection::BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            "request body too large",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedJson,
            r.body_text(),
        )
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationFailed,
                e.to_string(),
            ),
            _ => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MalformedJson,
                e.to_string(),
            ),
        }
    })
}

/// A query string, 400 `invalid_query` when it does not parse.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded_from_str(q)
            .map(ApiQuery)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery, e))
    }
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(q: &str) -> Result<T, String> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{q}")
            .parse()
            .map_err(|_| "bad query".to_string())?,
    )
    .map(|axum::extract::Query(t)| t)
    .map_err(|e| e.body_text())
}

/// The authenticated user, from `Authorization: Bearer <token>`.
#[derive(Debug)]
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::Unauthorized,
                    "a bearer token is required",
                )
            })?;
        let (p, kind) = state.node.authenticate_token(token).await?;
        require_scope(kind, &parts.method)?;
        Ok(Auth(p))
    }
}

/// A read-only token may read (GET, HEAD) and nothing else, whatever the route. Checked here,
/// once for every authenticated route, so no handler can forget it.
pub fn require_scope(kind: TokenKind, method: &Method) -> Result<(), ApiError> {
    if kind.read_only() && !matches!(*method, Method::GET | Method::HEAD) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::InsufficientScope,
            "this token may only read (GET); create a read-write token to change anything",
        ));
    }
    Ok(())
}

/// A federation request whose signature verified: the calling partner and the raw body.
#[derive(Debug)]
pub struct FedCaller {
    pub partner: PartnerCode,
    pub body: Bytes,
}

impl FromRequest<AppState> for FedCaller {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let uri = OriginalUri::from_request_parts(&mut parts, state)
            .await
            .map(|u| u.0)
            .unwrap_or(parts.uri.clone());
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(body_rejection)?;
        let h = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let signed = SignedRequest {
            partner: h(fed::H_PARTNER),
            date: h(fed::H_DATE),
            nonce: h(fed::H_NONCE),
            signature: h(fed::H_SIGNATURE),
            method: parts.method.as_str(),
            path_and_query: &path_and_query,
            body: &bytes,
            channel: parts
                .extensions
                .get::<fed::Channel>()
                .cloned()
                .unwrap_or_default(),
        };
        let partner = state.node.fed_authenticate(&signed)?;
        Ok(FedCaller {
            partner,
            body: bytes,
        })
    }
}
