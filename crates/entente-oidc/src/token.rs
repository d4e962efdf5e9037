//! ID-token checks (OIDC Core 3.1.3.7): an asymmetric signature by a key of the provider's
//! JWKS, the issuer, this client as audience (and authorised party), not expired, the nonce of
//! this sign-in; then the user name and role from the claims.

use crate::{Identity, OidcError, Settings};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde_json::{Map, Value};

pub(crate) type Keys = jsonwebtoken::jwk::JwkSet;

/// Only asymmetric algorithms: an HS256 token would be "signed" with the client secret, which
/// the client itself holds, and `none` is no signature at all.
const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[derive(Debug, thiserror::Error)]
pub(crate) enum Invalid {
    #[error("signed with a key the provider does not publish")]
    UnknownKey,
    #[error("the token is not for this node (wrong audience)")]
    Audience,
    #[error("the token has expired")]
    Expired,
    #[error("the token was issued by another provider (wrong issuer)")]
    Issuer,
    #[error("the signature does not verify")]
    Signature,
    #[error("the token does not belong to this sign-in (wrong nonce)")]
    Nonce,
    #[error("the token names another authorised party")]
    AuthorisedParty,
    #[error("signature algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("malformed token: {0}")]
    Malformed(String),
}

pub(crate) fn validate(
    s: &Settings,
    keys: &Keys,
    token: &str,
    nonce: &str,
) -> Result<Map<String, Value>, Invalid> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| Invalid::Malformed(e.to_string()))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(Invalid::Algorithm(format!("{:?}", header.alg)));
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        // Without a key id the provider must publish exactly one key.
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or(Invalid::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| Invalid::Malformed(e.to_string()))?;
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[&s.issuer]);
    v.set_audience(&[&s.client_id]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v.leeway = s.clock_skew.as_secs();
    v.validate_exp = true;
    v.validate_nbf = true;
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &v).map_err(|e| match e
        .kind()
    {
        ErrorKind::InvalidAudience => Invalid::Audience,
        ErrorKind::ExpiredSignature => Invalid::Expired,
        ErrorKind::InvalidIssuer => Invalid::Issuer,
        ErrorKind::InvalidSignature => Invalid::Signature,
        ErrorKind::InvalidAlgorithm => Invalid::Algorithm(format!("{:?}", header.alg)),
        _ => Invalid::Malformed(e.to_string()),
    })?;
    let claims = data.claims;
    // With several audiences the token must say it was issued to this client (3.1.3.7 item 4–5).
    let several = matches!(claims.get("aud"), Some(Value::Array(a)) if a.len() > 1);
    match claims.get("azp") {
        Some(Value::String(azp)) if *azp != s.client_id => return Err(Invalid::AuthorisedParty),
        None if several => return Err(Invalid::AuthorisedParty),
        _ => {}
    }
    if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
        return Err(Invalid::Nonce);
    }
    Ok(claims)
}

/// The user name and role from validated claims (the ID token's, completed from userinfo).
pub(crate) fn identity(s: &Settings, claims: &Map<String, Value>) -> Result<Identity, OidcError> {
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OidcError::IdToken("no subject".into()))?;
    let username = claims
        .get(&s.username_claim)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OidcError::NoUsername(s.username_claim.clone()))?;
    // Groups come as a list (Keycloak, oidc-provider, Entra ID) or one space-separated string.
    let groups: Vec<String> = match claims.get(&s.roles_claim) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(g)) => g.split_whitespace().map(str::to_owned).collect(),
        _ => vec![],
    };
    let role = crate::role_for(&s.roles, &groups).ok_or(OidcError::NoRole)?;
    Ok(Identity {
        issuer: s.issuer.clone(),
        subject: subject.to_owned(),
        username: username.to_owned(),
        role,
    })
}
