//! The browser UI of a node: server-rendered pages (askama), htmx for a few partial updates,
//! every asset embedded in the binary. It owns HTML shapes, sessions in cookies and CSRF
//! tokens; it must not decide releasability (every page asks the node, which asks the policy
//! module) and must not need JavaScript for a page to be read or a form to be sent.

// Handlers answer with a response on both paths (a page, or a redirect/error page); boxing the
// error side would only add an allocation per request.
#![allow(clippy::result_large_err)]

mod escape;
mod forms;
mod i18n;
mod login;
mod messages;
mod pages;
mod svg;
mod zone;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use entente_node::Node;
use entente_node::NodeError;
use entente_node::auth::{Principal, TokenKind};
use sha2::Digest;
use std::collections::BTreeMap;
use std::sync::Arc;

pub use forms::FormData;

/// The cookie names of one node (L8). Browsers keep cookies per host, not per port, so two
/// partners' nodes on one host (the demo) would overwrite each other's sessions under one name;
/// each partner's cookies carry its code. Over HTTPS the `__Host-` prefix makes the browser
/// refuse a cookie that is not `Secure`, has a `Domain` or another path (so a sibling host
/// cannot plant one); the sign-in cookie of single sign-on has its own path and takes
/// `__Secure-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieNames {
    pub session: String,
    pub login: String,
    pub sso: String,
}

pub fn cookie_names(partner: &str, secure: bool) -> CookieNames {
    let p = partner.to_ascii_lowercase();
    let (host, sec) = if secure {
        ("__Host-", "__Secure-")
    } else {
        ("", "")
    };
    CookieNames {
        session: format!("{host}entente_session_{p}"),
        login: format!("{host}entente_login_{p}"),
        sso: format!("{sec}entente_sso_{p}"),
    }
}

/// What every handler gets: the node and whether cookies must be `Secure`.
#[derive(Debug, Clone)]
pub struct WebState {
    pub node: Arc<Node>,
    /// Set when the node is reached over HTTPS (its public URL says so): browsers then send the
    /// session cookie only over TLS. Over plain HTTP (the loopback demo) a `Secure` cookie would
    /// never be stored, so it is left off there.
    pub secure_cookies: bool,
    /// The node's identity provider client, when `[oidc]` is configured.
    pub oidc: Option<Arc<entente_oidc::Client>>,
    pub cookies: Arc<CookieNames>,
}

/// The UI routes under `/ui`, and `/` redirecting there.
pub fn router(node: Arc<Node>) -> Router {
    let secure_cookies = node.config().public_url.starts_with("https://");
    // The server validated these settings at start-up (the same constructor); a failure here
    // leaves single sign-on off and local accounts working.
    let oidc = node.config().oidc.clone().and_then(|o| {
        entente_oidc::Client::new(o)
            .map_err(|e| tracing::error!(error = %e, "single sign-on is off"))
            .ok()
            .map(Arc::new)
    });
    let cookies = Arc::new(cookie_names(node.partner().as_str(), secure_cookies));
    pages::routes()
        .merge(login::routes())
        .layer(axum::middleware::map_request(put_request_line))
        .with_state(WebState {
            node,
            secure_cookies,
            oidc,
            cookies,
        })
}

/// The request's method and path (`GET /ui/alerts/…?…`), set by the server on every UI request
/// (a value the client sent under this name is replaced): the navigation marks the current page
/// with it, and a signed-out GET returns to it after the login.
const REQUEST_LINE: &str = "x-entente-request-line";

async fn put_request_line(mut req: axum::extract::Request) -> axum::extract::Request {
    let line = format!(
        "{} {}",
        req.method(),
        req.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    match HeaderValue::from_str(&line) {
        Ok(v) => req.headers_mut().insert(REQUEST_LINE, v),
        Err(_) => req.headers_mut().remove(REQUEST_LINE),
    };
    req
}

/// Where a login may send the browser next: a page of this UI (never another site, `//host`,
/// or the login itself), else the dashboard.
pub(crate) fn safe_next(next: &str) -> &str {
    let ok = next.starts_with("/ui/")
        && !next.starts_with("/ui/login")
        && next.len() <= 2000
        && !next.contains("//")
        && !next.contains('\\')
        // A Location header holds visible ASCII only (a query arrives percent-encoded; a
        // posted form field decoded may not be).
        && next.bytes().all(|b| b.is_ascii_graphic());
    if ok { next } else { "/ui/" }
}

/// What the layout needs on every page.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    pub partner: String,
    pub user: Option<String>,
    pub admin: bool,
    pub csrf: String,
    pub notice: Option<String>,
    /// The path of this page (`/ui/items`), for `aria-current` in the navigation.
    pub path: String,
    /// The highest marking of what the page shows, for the banner at its top and bottom.
    pub marking: Option<entente_domain::Tlp>,
    /// The navigation's counters: alerts awaiting our acknowledgement, statements awaiting
    /// our stance.
    pub counts: NavCounts,
    /// The zone this user reads times in (their setting, else the node's), UTC beside.
    pub zone: zone::Zone,
    /// The language this user reads the UI in (their setting, else the browser's).
    pub lang: i18n::Lang,
}

/// Whether the answer to this request shows the navigation: a page viewed (GET, not an htmx
/// fragment) or the navigation fragment itself. Counting reads every alert and statement, so
/// form posts (which redirect) and the fragments polled every few seconds skip it.
fn shows_navigation(method: &str, path: &str, headers: &HeaderMap) -> bool {
    method == "GET" && (path == "/ui/nav" || !headers.contains_key("hx-request"))
}

/// What waits for the signed-in user's partner, counted for the navigation.
#[derive(Debug, Clone, Copy, Default)]
pub struct NavCounts {
    pub alerts: usize,
    pub stances: usize,
    /// Posts by others in discussions the user has not read.
    pub unread: usize,
}

impl NavCounts {
    /// Count what waits for `who`'s partner. A failure to count leaves the counters empty
    /// rather than failing the page: they are a convenience.
    async fn of(s: &WebState, who: &entente_node::auth::Principal) -> NavCounts {
        let me = s.node.partner();
        let alerts = match s.node.alerts(who).await {
            Ok(v) => v.iter().filter(|a| a.awaiting_our_ack).count(),
            Err(_) => 0,
        };
        let stances = match s.node.statements(who).await {
            Ok(v) => v.iter().filter(|v| v.awaits_stance_from(me)).count(),
            Err(_) => 0,
        };
        let unread = s.node.unread_posts(who).await.unwrap_or(0);
        NavCounts {
            alerts,
            stances,
            unread,
        }
    }
}

/// The catalogue key of what a marking means (unmarked reads as CLEAR's "no limit" only
/// where nothing on the page is marked).
fn tlp_meaning_key(tlp: Option<entente_domain::Tlp>) -> &'static str {
    use entente_domain::Tlp;
    match tlp {
        Some(Tlp::Red) => "tlp-meaning-red",
        Some(Tlp::AmberStrict) => "tlp-meaning-amber-strict",
        Some(Tlp::Amber) => "tlp-meaning-amber",
        Some(Tlp::Green) => "tlp-meaning-green",
        Some(Tlp::Clear) | None => "tlp-meaning-clear",
    }
}

impl Ctx {
    /// The UI message `key` in this reader's language (`{{ ctx.t("key") }}` in templates).
    pub fn t(&self, key: &str) -> String {
        self.lang.t(key)
    }

    /// A message the node or a form raised in English, in this reader's language
    /// (`messages.rs`).
    pub fn msg(&self, english: &str) -> String {
        self.lang.message(english)
    }

    /// The UI message `key` that counts `n` (Fluent chooses the plural form).
    pub fn t_n(&self, key: &str, n: usize) -> String {
        self.lang.t_n(key, n)
    }

    /// This context with the banner for the highest of `markings` (none when the page shows
    /// nothing marked).
    pub fn marked(&self, markings: impl IntoIterator<Item = entente_domain::Tlp>) -> Ctx {
        Ctx {
            marking: markings.into_iter().max(),
            ..self.clone()
        }
    }

    /// What a TLP marking (`AMBER+STRICT`) means, beside its choice on the item form.
    pub fn tlp_meaning(&self, tlp: &str) -> String {
        self.t(tlp_meaning_key(entente_domain::Tlp::parse(tlp).ok()))
    }

    /// What the banner's marking means for whoever reads the page.
    pub fn marking_meaning(&self) -> String {
        self.t(tlp_meaning_key(self.marking))
    }

    /// A progress report's marking in words, in the reader's language (the exports keep the
    /// English of `ReportMarking::words`, the partners' common working language).
    pub fn report_marking(&self, m: &entente_domain::coord::ReportMarking) -> String {
        let join = |v: &[entente_domain::PartnerCode]| {
            v.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
        };
        if m.releasable_to.is_empty() {
            return self.t("report-marking-nobody");
        }
        let to = ("to", join(&m.releasable_to));
        if m.not_to.is_empty() {
            self.lang.t_args("report-marking-members", &[to])
        } else {
            self.lang
                .t_args("report-marking-not", &[to, ("not", join(&m.not_to))])
        }
    }

    /// A topic of the taxonomy by its slug, in the reader's language (`topic-…`), else its
    /// English name.
    pub fn topic(&self, slug: &str, english: &str) -> String {
        self.lang.t_or(&format!("topic-{slug}"), english)
    }

    /// Topics by their slugs, named in the reader's language and joined ("Maritime security
    /// and maritime issues, Cybercrime"), never as slugs.
    pub fn topics(&self, slugs: &[String]) -> String {
        slugs
            .iter()
            .map(|slug| {
                let english = entente_domain::taxonomy::TOPICS
                    .iter()
                    .find(|(s, _)| s == slug)
                    .map_or(slug.as_str(), |(_, name)| name);
                self.topic(slug, english)
            })
            .collect::<Vec<_>>()
            .join(&self.t("list-separator"))
    }

    /// A fixed label of the program (a status, a severity: "in progress", "high") in the
    /// reader's language (`label-…` in the catalogues); the English label where none is
    /// catalogued, so a new status never shows as a bare key.
    pub fn label(&self, english: &str) -> String {
        let key = format!(
            "label-{}",
            english
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                })
                .collect::<String>()
        );
        self.lang.t_or(&key, english)
    }

    /// The navigation's section of this page (`/ui/items` for `/ui/items/…`): what the
    /// navigation, refreshed in place, is asked to mark. Never the full path, so a page shows
    /// nothing of the address asked for (a withheld item's 404 is the same as a missing one's).
    pub fn section(&self) -> &'static str {
        const SECTIONS: [&str; 11] = [
            "/ui/formats",
            "/ui/items",
            "/ui/actions",
            "/ui/statements",
            "/ui/alerts",
            "/ui/exercises",
            "/ui/projects",
            "/ui/search",
            "/ui/network",
            "/ui/released",
            "/ui/admin",
        ];
        SECTIONS
            .into_iter()
            .find(|s| self.current(s))
            .unwrap_or("/ui/")
    }

    /// Whether the navigation link `href` is the current page or its section (`/ui/items`
    /// for `/ui/items/…`).
    pub fn current(&self, href: &str) -> bool {
        self.path == href
            || (href != "/ui/"
                && self
                    .path
                    .strip_prefix(href)
                    .is_some_and(|rest| rest.starts_with('/')))
    }
}

/// Messages for form fields, shown beside the field they concern (`_form`: above the form).
#[derive(Debug, Clone, Default)]
pub struct Errors(pub BTreeMap<String, String>);

impl Errors {
    pub fn get(&self, k: &str) -> Option<&String> {
        self.0.get(k)
    }
    pub fn add(&mut self, k: &str, msg: impl Into<String>) {
        self.0.entry(k.to_owned()).or_insert_with(|| msg.into());
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The field a node error concerns, so its message lands beside that field.
    pub fn from_node(e: &NodeError, fields: &[&str]) -> Errors {
        use entente_domain::DomainError as D;
        use entente_domain::PolicyError as P;
        let field = match e {
            NodeError::Domain(D::Invalid { field, .. }) => *field,
            NodeError::Domain(D::UnknownTopic(_)) => "topics",
            NodeError::Domain(D::UnknownTlp(_)) => "tlp",
            NodeError::Domain(D::UnknownItemKind(_)) => "kind",
            NodeError::Domain(D::UnknownRole(_)) => "role",
            NodeError::Domain(D::InvalidPartnerCode(_)) | NodeError::UnknownPartner(_) => {
                "releasable_to"
            }
            NodeError::Policy(P::OutsideFormat(_)) => "releasable_to",
            NodeError::Policy(P::NotAMember(_)) => "format_id",
            _ => "_form",
        };
        let field = if field == "_form" || fields.contains(&field) {
            field
        } else {
            // A field this form names differently (or not at all): show it above the form.
            "_form"
        };
        let mut out = Errors::default();
        out.add(field, e.to_string());
        out
    }
}

pub(crate) fn csrf_for(secret: &str) -> String {
    let d = sha2::Sha256::digest(format!("entente-csrf-v1\n{secret}"));
    hex::encode(&d[..16])
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    secure: bool,
    max_age: Option<i64>,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The browser's `Accept-Language`, for readers who have not chosen a language.
pub(crate) fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

/// The node's default zone (validated at start-up; UTC if it somehow is not known).
pub(crate) fn node_zone(s: &WebState) -> zone::Zone {
    zone::Zone::named(&s.node.config().time_zone).unwrap_or_default()
}

/// A signed-in user: who, and the layout context (with the CSRF token of the session).
pub(crate) struct Session {
    pub who: Principal,
    pub ctx: Ctx,
    secret: String,
}

impl Session {
    /// The signed-in user, or a redirect to the login page.
    pub async fn load(s: &WebState, headers: &HeaderMap) -> Result<Session, Response> {
        let line = headers
            .get(REQUEST_LINE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let (method, target) = line.split_once(' ').unwrap_or(("", ""));
        let path = target.split('?').next().unwrap_or_default().to_owned();
        // A signed-out GET of a page (a link from mail or chat) comes back to it after the
        // login; a form post does not (it would be replayed as a GET).
        let to_login = || {
            let back = safe_next(target);
            if method == "GET" && back != "/ui/" {
                let q = form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", back)
                    .finish();
                Redirect::to(&format!("/ui/login?{q}")).into_response()
            } else {
                Redirect::to("/ui/login").into_response()
            }
        };
        let secret = cookie(headers, &s.cookies.session).ok_or_else(to_login)?;
        // Only a login session signs the UI in: an API token (read-only ones included) set
        // as the cookie by hand must not carry the UI's forms.
        let who = match s.node.authenticate_token(&secret).await {
            Ok((who, TokenKind::Session)) => who,
            Ok(_) | Err(NodeError::Unauthorized) => return Err(to_login()),
            // Only a session that is not (or no longer) valid asks to sign in again. A limit or
            // a failure of the node (its database busy or down) is said as such: the login page
            // would misreport it, and signing in again would not help.
            Err(e) => {
                let ctx = Ctx {
                    partner: s.node.partner().to_string(),
                    ..Default::default()
                };
                return Err(pages::fail(&ctx, e));
            }
        };
        let settings = s.node.user_settings(&who).await.unwrap_or_default();
        let zone = settings
            .time_zone
            .as_deref()
            .and_then(zone::Zone::named)
            .unwrap_or_else(|| node_zone(s));
        let lang = i18n::Lang::choose(settings.language.as_deref(), accept_language(headers));
        let counts = if shows_navigation(method, &path, headers) {
            NavCounts::of(s, &who).await
        } else {
            NavCounts::default()
        };
        Ok(Session {
            ctx: Ctx {
                partner: s.node.partner().to_string(),
                user: Some(who.user_id()),
                admin: who
                    .require(entente_domain::Role::Admin, "administer")
                    .is_ok(),
                csrf: csrf_for(&secret),
                notice: target
                    .split_once('?')
                    .and_then(|(_, q)| pages::Done::from_query(q))
                    .map(|d| d.message(lang)),
                path,
                marking: None,
                counts,
                zone,
                lang,
            },
            who,
            secret,
        })
    }

    /// A seal over what the user reviewed (`what`), keyed by this session's secret, which the
    /// page never sees (the cookie is HttpOnly). Nested, H(k ‖ H(k ‖ m)), so a seal cannot be
    /// extended to cover other text.
    pub fn seal(&self, what: &str) -> String {
        let inner = sha2::Sha256::digest(format!("entente-review-v1\n{}\n{what}", self.secret));
        let mut outer = sha2::Sha256::new();
        outer.update(format!("entente-review-v1\n{}\n", self.secret).as_bytes());
        outer.update(inner);
        hex::encode(&outer.finalize()[..16])
    }

    /// Refuse a form whose CSRF token is not this session's.
    pub fn check(&self, f: &FormData) -> Result<(), Response> {
        if f.get("csrf") == csrf_for(&self.secret) {
            Ok(())
        } else {
            Err(forbidden_form())
        }
    }
}

pub(crate) fn forbidden_form() -> Response {
    (
        StatusCode::FORBIDDEN,
        html_headers(),
        "<!doctype html><title>Form expired</title><main><h1>This form has expired</h1><p>Nothing was saved. Go back, reload the page and send the form again.</p></main>",
    )
        .into_response()
}

/// Headers of every UI page: scripts and styles only from this node, forms only to it.
pub(crate) fn html_headers() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ),
    ]
}

/// Render a page, or a plain 500 page if the template fails.
pub(crate) fn render<T: askama::Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(body) => (status, html_headers(), body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                html_headers(),
                "internal error",
            )
                .into_response()
        }
    }
}

/// Render a template to a string (snapshot tests).
pub fn render_string<T: askama::Template>(t: &T) -> String {
    t.render()
        .unwrap_or_else(|e| format!("template error: {e}"))
}
