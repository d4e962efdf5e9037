//! Signing in and out: the password form (local accounts, the break-glass path that works
//! when the identity provider is down), single sign-on through the partner's OpenID Connect
//! provider, and logout. The protocol is `entente-oidc`'s; users and sessions are the node's.

use crate::pages::{Page, fail, posted, required, see_other, session};
use crate::{Ctx, Errors, FormData, WebState, render};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use entente_node::NodeError;

/// Holds the browser's secret of a sign-in in progress at the identity provider. `Lax`, not
/// `Strict`: the browser comes back from the provider's site, and a `Strict` cookie would not
/// be sent on that navigation. Scoped to the sign-in paths and gone after ten minutes.
const SSO_PATH: &str = "/ui/login/sso";

/// Signing in and out.
pub(crate) fn routes() -> axum::Router<WebState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/login/sso", get(sso_start))
        .route("/ui/login/sso/callback", get(sso_callback))
        .route("/ui/logout", post(logout))
}

fn sso_cookie(s: &WebState, value: &str, max_age: i64) -> HeaderValue {
    let name = &s.cookies.sso;
    let mut c =
        format!("{name}={value}; Path={SSO_PATH}; HttpOnly; SameSite=Lax; Max-Age={max_age}");
    if s.secure_cookies {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub username: String,
    /// "Sign in with …" when the node has an identity provider.
    pub sso_label: Option<String>,
    /// The page to go to after signing in (a deep link that led here).
    pub next: String,
}

impl LoginPage {
    /// The single sign-on link, carrying the deep link so the provider's round trip keeps it.
    pub fn sso_href(&self) -> String {
        if self.next == "/ui/" {
            return "/ui/login/sso".into();
        }
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &self.next)
            .finish();
        format!("/ui/login/sso?{q}")
    }
}

/// The SSO cookie holds the browser's secret of the sign-in and the page to return to
/// (hex, so no character of a path can end the cookie value); both live 10 minutes.
fn sso_cookie_value(secret: &str, next: &str) -> String {
    // Browsers drop a cookie over 4,096 bytes, and with it the sign-in: a deep link longer than
    // 1,000 bytes (2,000 in hex) leads to the dashboard instead.
    let next = if next.len() > 1000 { "/ui/" } else { next };
    format!("{secret}.{}", hex::encode(next))
}

/// (browser secret, the page to return to) from the SSO cookie; the page is checked again
/// (`safe_next`), so a forged cookie can only lead to a page of this UI.
fn sso_cookie_parts(value: &str) -> (String, String) {
    let (secret, next) = value.split_once('.').unwrap_or((value, ""));
    let next = hex::decode(next)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    (secret.to_owned(), crate::safe_next(&next).to_owned())
}

async fn login_page(State(s): State<WebState>, h: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let q = FormData::parse(q.as_deref().unwrap_or_default().as_bytes());
    let next = crate::safe_next(q.get("next")).to_owned();
    if session(&s, &h).await.is_ok() {
        return see_other(&next);
    }
    login_form(
        &s,
        browser_lang(&h),
        Errors::default(),
        String::new(),
        &next,
        StatusCode::OK,
    )
}

/// The language of a reader not signed in: the browser's.
fn browser_lang(h: &HeaderMap) -> crate::i18n::Lang {
    crate::i18n::Lang::choose(None, crate::accept_language(h))
}

/// The login form with a fresh pre-session token (a double-submit cookie), so a login cannot
/// be forged from another site either.
fn login_form(
    s: &WebState,
    lang: crate::i18n::Lang,
    errors: Errors,
    username: String,
    next: &str,
    status: StatusCode,
) -> Response {
    let nonce = entente_node::auth::random_hex(16).unwrap_or_default();
    let ctx = Ctx {
        partner: s.node.partner().to_string(),
        csrf: crate::csrf_for(&nonce),
        lang,
        ..Default::default()
    };
    let mut r = render(
        status,
        &LoginPage {
            ctx,
            errors,
            username,
            sso_label: s.oidc.as_ref().map(|o| o.settings().label.clone()),
            next: next.to_owned(),
        },
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        crate::set_cookie(&s.cookies.login, &nonce, s.secure_cookies, Some(1800)),
    );
    r
}

async fn login(
    State(s): State<WebState>,
    client: Option<axum::Extension<entente_node::auth::ClientAddr>>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let client = client.map(|c| c.0.0);
    let f = FormData::parse(&body);
    let nonce = crate::cookie(&h, &s.cookies.login).unwrap_or_default();
    if nonce.is_empty() || f.get("csrf") != crate::csrf_for(&nonce) {
        return crate::forbidden_form();
    }
    let username = f.get("username").to_owned();
    let next = crate::safe_next(f.get("next")).to_owned();
    let mut errors = Errors::default();
    required(
        &mut errors,
        &f,
        &[("username", "User name"), ("password", "Password")],
    );
    if !errors.is_empty() {
        return login_form(
            &s,
            browser_lang(&h),
            errors,
            username,
            &next,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    match s.node.login(&username, f.get("password"), client).await {
        Ok((secret, _expires)) => {
            let mut r = see_other(&next);
            let ttl = s.node.config().session_ttl.as_secs() as i64;
            r.headers_mut().append(
                header::SET_COOKIE,
                crate::set_cookie(&s.cookies.session, &secret, s.secure_cookies, Some(ttl)),
            );
            r.headers_mut().append(
                header::SET_COOKIE,
                crate::set_cookie(&s.cookies.login, "", s.secure_cookies, Some(0)),
            );
            r
        }
        Err(NodeError::RateLimited { retry_after }) => {
            let mut e = Errors::default();
            e.add(
                "password",
                format!("Too many sign-in attempts for this name; try again in {retry_after} s."),
            );
            login_form(
                &s,
                browser_lang(&h),
                e,
                username,
                &next,
                StatusCode::TOO_MANY_REQUESTS,
            )
        }
        // The node failed (its database busy or down): said as such, not as a wrong password
        // the user would then try again and again.
        Err(e @ (NodeError::Store(_) | NodeError::Internal(_))) => {
            let ctx = Ctx {
                partner: s.node.partner().to_string(),
                ..Default::default()
            };
            fail(&ctx, e)
        }
        Err(_) => {
            let mut e = Errors::default();
            e.add("password", "User name or password is wrong.");
            login_form(
                &s,
                browser_lang(&h),
                e,
                username,
                &next,
                StatusCode::UNAUTHORIZED,
            )
        }
    }
}

async fn logout(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, _f) = posted(&s, &h, &body).await?;
    if let Err(e) = s.node.revoke_session(&sess.secret).await {
        return Err(fail(&sess.ctx, e));
    }
    let mut r = see_other("/ui/login");
    r.headers_mut().append(
        header::SET_COOKIE,
        crate::set_cookie(&s.cookies.session, "", s.secure_cookies, Some(0)),
    );
    Ok(r)
}

/// `GET /ui/login/sso`: send the browser to the identity provider.
async fn sso_start(State(s): State<WebState>, RawQuery(q): RawQuery) -> Response {
    let q = FormData::parse(q.as_deref().unwrap_or_default().as_bytes());
    let next = crate::safe_next(q.get("next")).to_owned();
    let Some(oidc) = s.oidc.clone() else {
        return sso_failed(&s, "no identity provider is configured on this node".into());
    };
    match oidc.begin().await {
        Ok(start) => {
            let mut r = see_other(&start.url);
            r.headers_mut().append(
                header::SET_COOKIE,
                sso_cookie(&s, &sso_cookie_value(&start.browser_secret, &next), 600),
            );
            r
        }
        Err(e) => {
            s.node
                .audit("sso", "login_sso_refused", &format!("{}: {e}", e.code()))
                .await;
            sso_failed(&s, e.for_the_page())
        }
    }
}

/// `GET /ui/login/sso/callback?code=…&state=…`: the provider sends the browser back here.
async fn sso_callback(State(s): State<WebState>, h: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let Some(oidc) = s.oidc.clone() else {
        return sso_failed(&s, "no identity provider is configured on this node".into());
    };
    let q = FormData::parse(q.unwrap_or_default().as_bytes());
    let (browser, next) = sso_cookie_parts(&crate::cookie(&h, &s.cookies.sso).unwrap_or_default());
    let outcome = if !q.get("error").is_empty() {
        // This sign-in cannot be finished later.
        oidc.forget(q.get("state"));
        Err(entente_oidc::OidcError::Refused {
            code: entente_domain::text::cut(q.get("error"), 64),
            description: entente_domain::text::cut(q.get("error_description"), 200),
        })
    } else {
        oidc.finish(q.get("state"), q.get("code"), &browser).await
    };
    let id = match outcome {
        Ok(id) => id,
        Err(e) => {
            s.node
                .audit("sso", "login_sso_refused", &format!("{}: {e}", e.code()))
                .await;
            return sso_failed(&s, e.for_the_page());
        }
    };
    match s
        .node
        .login_sso(&id.issuer, &id.subject, &id.username, id.role)
        .await
    {
        Ok((secret, _expires)) => {
            // A page, not a redirect: the browser arrived here from the provider's site, and
            // on a redirect chain that started there it would not send the `Strict` session
            // cookie to `/ui/` yet. A refresh from this page is a same-site navigation.
            // `next` passed `safe_next` (a `/ui/` path in visible ASCII); it is escaped for the
            // attribute all the same.
            let to = crate::escape::attr(&next);
            let mut r = (
                StatusCode::OK,
                crate::html_headers(),
                format!(
                    "<!doctype html><meta http-equiv=\"refresh\" content=\"0;url={to}\"><title>Signed in</title><main><h1>Signed in</h1><p><a href=\"{to}\">Continue</a></p></main>"
                ),
            )
                .into_response();
            let ttl = s.node.config().session_ttl.as_secs() as i64;
            r.headers_mut().append(
                header::SET_COOKIE,
                crate::set_cookie(&s.cookies.session, &secret, s.secure_cookies, Some(ttl)),
            );
            r.headers_mut()
                .append(header::SET_COOKIE, sso_cookie(&s, "", 0));
            r
        }
        Err(e) => {
            s.node
                .audit(
                    &format!(
                        "{}@{}",
                        entente_domain::text::cut(&id.username, 64),
                        s.node.partner()
                    ),
                    "login_sso_refused",
                    &e.to_string(),
                )
                .await;
            // A failure of the node itself stays in its log: its text can quote the database.
            if matches!(e, NodeError::Store(_) | NodeError::Internal(_)) {
                tracing::error!(error = %e, "single sign-on failed");
                return sso_failed(&s, "the node could not complete the sign-in".into());
            }
            sso_failed(&s, e.to_string())
        }
    }
}

/// The login page with why single sign-on did not work, and the local form still there.
fn sso_failed(s: &WebState, why: String) -> Response {
    let mut e = Errors::default();
    e.add(
        "_form",
        format!("Single sign-on did not work: {why}. Local accounts can still sign in below."),
    );
    let mut r = login_form(
        s,
        Default::default(),
        e,
        String::new(),
        "/ui/",
        StatusCode::UNAUTHORIZED,
    );
    r.headers_mut()
        .append(header::SET_COOKIE, sso_cookie(s, "", 0));
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sso_cookie_keeps_a_deep_link_short_and_checked() {
        let v = super::sso_cookie_value("s3cret", "/ui/alerts?x=1");
        assert_eq!(
            super::sso_cookie_parts(&v),
            ("s3cret".into(), "/ui/alerts?x=1".into())
        );
        // Too long for a cookie: the dashboard, and the cookie stays small.
        let long = format!("/ui/{}", "a".repeat(2000));
        let v = super::sso_cookie_value("s3cret", &long);
        assert!(v.len() < 100, "{}", v.len());
        assert_eq!(super::sso_cookie_parts(&v).1, "/ui/");
        // A forged cookie naming another site leads to the dashboard.
        let v = format!("s3cret.{}", hex::encode("//evil.example/"));
        assert_eq!(super::sso_cookie_parts(&v).1, "/ui/");
    }
}
