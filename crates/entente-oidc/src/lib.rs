//! OpenID Connect single sign-on for the web UI: discovery, the authorization-code flow with
//! PKCE, ID-token validation and the mapping of the provider's claims to a role. It owns the
//! protocol and the sign-ins in progress; it must not create users or sessions (the node does,
//! from the [`Identity`] returned here) and must not read configuration files (the server crate
//! validates `[oidc]` into [`Settings`]).

mod client;
mod token;

pub use client::{Client, Start};

use entente_domain::Role;
use std::path::PathBuf;
use std::time::Duration;

/// Validated `[oidc]` settings of one node.
#[derive(Clone)]
pub struct Settings {
    /// The provider's issuer URL, exactly as its discovery document states it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Where the provider sends the browser back: `{public_url}/ui/login/sso/callback`.
    pub redirect_url: String,
    pub scopes: Vec<String>,
    /// The claim that names the user on this node (`preferred_username` by default).
    pub username_claim: String,
    /// The claim that lists the user's groups or roles at the provider (`groups` by default).
    pub roles_claim: String,
    /// Which provider groups grant which role; the highest role with a match wins, and a user
    /// with no match is not signed in.
    pub roles: Vec<(Role, Vec<String>)>,
    /// The button's words: "Sign in with {label}".
    pub label: String,
    /// CA certificates (PEM) trusted for the provider besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Accept `http://` provider URLs on loopback (development and tests only).
    pub allow_plain_loopback: bool,
    /// Clock difference tolerated on `exp` and `iat`.
    pub clock_skew: Duration,
}

impl Settings {
    /// What can be checked without the network: the URLs, and the CA file if one is named
    /// (its certificates are returned). `entente serve` runs this at start-up.
    pub fn check(&self) -> Result<Option<std::sync::Arc<rustls::RootCertStore>>, OidcError> {
        for (what, url) in [
            ("oidc.issuer", &self.issuer),
            ("oidc.redirect_url", &self.redirect_url),
        ] {
            if !acceptable_url(url, self.allow_plain_loopback) {
                return Err(OidcError::Config(format!(
                    "{what}: {url:?} must be an https:// URL"
                )));
            }
        }
        self.ca_file
            .as_ref()
            .map(|p| {
                entente_tls::load_ca_file(p)
                    .map_err(|e| OidcError::Config(format!("oidc.ca_file: {e}")))
            })
            .transpose()
    }
}

impl std::fmt::Debug for Settings {
    // The client secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .field("username_claim", &self.username_claim)
            .field("roles_claim", &self.roles_claim)
            .field("roles", &self.roles)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// Who the provider says signed in, and the role its claims map to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    /// The provider's stable identifier of the user (`sub`).
    pub subject: String,
    pub username: String,
    pub role: Role,
}

/// Why a sign-in did not happen. The message is for the person at the browser and the audit
/// log; none carries a token or a secret.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider cannot be reached or answers wrongly: {0}")]
    Provider(String),
    #[error("this sign-in was already completed, has expired or was never started here")]
    UnknownState,
    #[error("this sign-in was started in another browser")]
    OtherBrowser,
    /// The provider's error code and its description, as the provider (or whoever made the
    /// link the browser followed to the callback) wrote them. The page shows neither as sent:
    /// see [`OidcError::for_the_page`].
    #[error("the identity provider refused the sign-in: {code} {description}")]
    Refused { code: String, description: String },
    #[error("the identity provider's ID token is not acceptable: {0}")]
    IdToken(String),
    #[error("the identity provider names no user ({0} claim missing or not a valid user name)")]
    NoUsername(String),
    #[error("your account at the identity provider grants no role on this node")]
    NoRole,
    #[error("{0}")]
    Config(String),
}

impl OidcError {
    /// A stable code for the audit log and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::Provider(_) => "sso_provider",
            OidcError::UnknownState => "sso_unknown_state",
            OidcError::OtherBrowser => "sso_other_browser",
            OidcError::Refused { .. } => "sso_refused",
            OidcError::IdToken(_) => "sso_id_token",
            OidcError::NoUsername(_) => "sso_no_username",
            OidcError::NoRole => "sso_no_role",
            OidcError::Config(_) => "sso_config",
        }
    }

    /// The text for the sign-in page. A refusal arrives as query parameters of the callback,
    /// which anyone can put in a link to this node, so a description there could make the node's
    /// own page say "call this number"; the page names only an error code that RFC 6749 or
    /// OpenID Connect Core registers, and the description stays in the audit log.
    pub fn for_the_page(&self) -> String {
        match self {
            OidcError::Refused { code, .. } => match REGISTERED_CODES.iter().find(|c| *c == code) {
                Some(c) => format!("the identity provider refused the sign-in ({c})"),
                None => "the identity provider refused the sign-in".into(),
            },
            other => other.to_string(),
        }
    }
}

/// The error codes of an authorization response (RFC 6749 4.1.2.1, OpenID Connect Core
/// 3.1.2.6) and a token response (RFC 6749 5.2).
const REGISTERED_CODES: &[&str] = &[
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
    "invalid_client",
    "invalid_grant",
    "unsupported_grant_type",
];

/// The role the provider's groups map to: the highest with a match.
pub fn role_for(roles: &[(Role, Vec<String>)], groups: &[String]) -> Option<Role> {
    roles
        .iter()
        .filter(|(_, names)| names.iter().any(|n| groups.iter().any(|g| g == n)))
        .map(|(r, _)| *r)
        .max()
}

/// Whether `url` is `https://`, or `http://` on a loopback host when that is allowed.
pub(crate) fn acceptable_url(url: &str, allow_plain_loopback: bool) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    if !allow_plain_loopback {
        return false;
    }
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "http" => match u.host() {
            Some(url::Host::Ipv4(a)) => a.is_loopback(),
            Some(url::Host::Ipv6(a)) => a.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_matching_role_wins_and_no_match_is_none() {
        let roles = vec![
            (Role::Admin, vec!["admins".to_owned()]),
            (Role::Officer, vec!["officers".to_owned()]),
            (Role::Reader, vec!["staff".to_owned()]),
        ];
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            role_for(&roles, &g(&["staff", "officers"])),
            Some(Role::Officer)
        );
        assert_eq!(
            role_for(&roles, &g(&["admins", "staff"])),
            Some(Role::Admin)
        );
        assert_eq!(role_for(&roles, &g(&["visitors"])), None);
        assert_eq!(role_for(&roles, &[]), None);
    }

    #[test]
    fn a_refusal_shows_a_registered_code_and_never_the_description() {
        let e = |code: &str| OidcError::Refused {
            code: code.into(),
            description: "call +1 555 0100".into(),
        };
        assert_eq!(
            e("access_denied").for_the_page(),
            "the identity provider refused the sign-in (access_denied)"
        );
        assert_eq!(
            e("call us").for_the_page(),
            "the identity provider refused the sign-in"
        );
        // The audit log's text keeps both.
        assert!(e("access_denied").to_string().contains("555 0100"));
    }

    #[test]
    fn plain_http_is_accepted_only_on_loopback_when_allowed() {
        assert!(acceptable_url("https://idp.example.eu", false));
        assert!(!acceptable_url("http://127.0.0.1:9000", false));
        assert!(acceptable_url("http://127.0.0.1:9000", true));
        assert!(acceptable_url("http://localhost:9000", true));
        assert!(!acceptable_url("http://idp.example.eu", true));
        assert!(!acceptable_url("http://127.0.0.1.evil.example", true));
    }
}
