//! The authorization-code flow with PKCE: discovery (cached), the sign-ins in progress (each
//! state used once, bound to the browser that started it, ten minutes at most), the code
//! exchange and the userinfo call. ID-token checks live in `token`.

use crate::token::{self, Keys};
use crate::{Identity, OidcError, Settings};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a started sign-in may take at the provider.
const FLOW_TTL: Duration = Duration::from_secs(600);
/// Sign-ins in progress kept at once; the oldest is dropped first (a flood of started sign-ins
/// costs memory only up to this).
const MAX_FLOWS: usize = 10_000;
/// How long the discovery document and keys are reused before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Provider answers larger than this are refused (a token response or JWKS is a few KB).
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// What the browser is sent to, and the secret the browser keeps in a cookie until it comes
/// back (so a callback URL carried to another browser signs no one in there).
#[derive(Debug, Clone)]
pub struct Start {
    pub url: String,
    pub browser_secret: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
}

struct Flow {
    created: Instant,
    browser_hash: [u8; 32],
    nonce: String,
    verifier: String,
}

#[derive(Default)]
struct Flows {
    by_state: HashMap<String, Flow>,
    order: VecDeque<String>,
}

struct Cached {
    fetched: Instant,
    meta: Metadata,
    keys: Keys,
}

/// One node's OpenID Connect client.
pub struct Client {
    settings: Settings,
    http: reqwest::Client,
    cached: tokio::sync::Mutex<Option<Cached>>,
    flows: Mutex<Flows>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn random_b64(bytes: usize) -> Result<String, OidcError> {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).map_err(|e| OidcError::Config(e.to_string()))?;
    Ok(B64.encode(b))
}

fn provider_err(what: &str, e: impl std::fmt::Display) -> OidcError {
    OidcError::Provider(format!("{what}: {e}"))
}

impl Client {
    /// A client for `settings`; the provider is not contacted until the first sign-in (an
    /// unreachable provider must not keep the node from starting: local accounts still work).
    pub fn new(settings: Settings) -> Result<Client, OidcError> {
        let extra = settings.check()?;
        let mut roots = rustls::RootCertStore::empty();
        // A system without CA certificates can still trust a provider given by `ca_file`.
        let native = rustls_native_certs::load_native_certs();
        for c in native.certs {
            let _ = roots.add(c);
        }
        if let Some(extra) = extra {
            roots.extend(extra.roots.iter().cloned());
        }
        let tls = rustls::ClientConfig::builder_with_provider(entente_tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| OidcError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .http1_only()
            .build()
            .map_err(|e| OidcError::Config(e.to_string()))?;
        Ok(Client {
            settings,
            http,
            cached: tokio::sync::Mutex::new(None),
            flows: Mutex::new(Flows::default()),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<T, OidcError> {
        if !crate::acceptable_url(url, self.settings.allow_plain_loopback) {
            return Err(provider_err(what, format!("{url:?} is not https://")));
        }
        let mut req = self.http.get(url);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let resp = req.send().await.map_err(|e| provider_err(what, e))?;
        let status = resp.status();
        let body = read_bounded(resp)
            .await
            .map_err(|e| provider_err(what, e))?;
        if !status.is_success() {
            return Err(provider_err(what, format!("HTTP {}", status.as_u16())));
        }
        serde_json::from_slice(&body).map_err(|e| provider_err(what, e))
    }

    /// The discovery document and keys, fetched when missing or older than an hour, or when
    /// `refresh_keys` asks for it (a token signed with a key not seen yet: the provider rotated).
    async fn metadata(&self, refresh_keys: bool) -> Result<(Metadata, Keys), OidcError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            let fresh = c.fetched.elapsed() < METADATA_TTL;
            // A key refresh at most once a minute, so a flood of tokens with made-up key ids
            // does not become a flood of requests to the provider.
            let refresh = refresh_keys && c.fetched.elapsed() > Duration::from_secs(60);
            if fresh && !refresh {
                return Ok((c.meta.clone(), c.keys.clone()));
            }
        }
        let issuer = self.settings.issuer.trim_end_matches('/');
        let meta: Metadata = self
            .get_json(
                "discovery",
                &format!("{issuer}/.well-known/openid-configuration"),
                None,
            )
            .await?;
        if meta.issuer != self.settings.issuer {
            return Err(OidcError::Provider(format!(
                "discovery names issuer {:?}, not {:?}",
                meta.issuer, self.settings.issuer
            )));
        }
        let keys: Keys = self.get_json("keys", &meta.jwks_uri, None).await?;
        *cached = Some(Cached {
            fetched: Instant::now(),
            meta: meta.clone(),
            keys: keys.clone(),
        });
        Ok((meta, keys))
    }

    /// Start a sign-in: the provider URL to send the browser to, and the browser's secret.
    pub async fn begin(&self) -> Result<Start, OidcError> {
        let (meta, _) = self.metadata(false).await?;
        let state = random_b64(32)?;
        let nonce = random_b64(32)?;
        let verifier = random_b64(32)?;
        let browser_secret = random_b64(32)?;
        let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
        let mut url = url::Url::parse(&meta.authorization_endpoint)
            .map_err(|e| provider_err("authorization_endpoint", e))?;
        if !crate::acceptable_url(url.as_str(), self.settings.allow_plain_loopback) {
            return Err(provider_err("authorization_endpoint", "not https://"));
        }
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &self.settings.redirect_url)
            .append_pair("scope", &self.settings.scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let mut flows = self.flows.lock().unwrap_or_else(|p| p.into_inner());
        while flows.order.len() >= MAX_FLOWS {
            if let Some(old) = flows.order.pop_front() {
                flows.by_state.remove(&old);
            }
        }
        flows.order.push_back(state.clone());
        flows.by_state.insert(
            state,
            Flow {
                created: Instant::now(),
                browser_hash: Sha256::digest(browser_secret.as_bytes()).into(),
                nonce,
                verifier,
            },
        );
        Ok(Start {
            url: url.into(),
            browser_secret,
        })
    }

    /// Drop a sign-in in progress (the provider answered with an error): its state can no
    /// longer be used.
    pub fn forget(&self, state: &str) {
        let mut flows = self.flows.lock().unwrap_or_else(|p| p.into_inner());
        if flows.by_state.remove(state).is_some() {
            flows.order.retain(|s| s != state);
        }
    }

    /// Finish a sign-in from the provider's callback. The state is consumed whatever the
    /// outcome: a callback replayed, or carried to another browser, signs no one in.
    pub async fn finish(
        &self,
        state: &str,
        code: &str,
        browser_secret: &str,
    ) -> Result<Identity, OidcError> {
        let flow = {
            let mut flows = self.flows.lock().unwrap_or_else(|p| p.into_inner());
            flows.by_state.remove(state)
        }
        .ok_or(OidcError::UnknownState)?;
        self.forget(state);
        if flow.created.elapsed() > FLOW_TTL {
            return Err(OidcError::UnknownState);
        }
        let presented: [u8; 32] = Sha256::digest(browser_secret.as_bytes()).into();
        // Both sides are hashes of secrets: comparing them leaks nothing usable by timing.
        if presented != flow.browser_hash {
            return Err(OidcError::OtherBrowser);
        }
        let (meta, _) = self.metadata(false).await?;
        if !crate::acceptable_url(&meta.token_endpoint, self.settings.allow_plain_loopback) {
            return Err(provider_err("token_endpoint", "not https://"));
        }
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.settings.redirect_url),
            ("code_verifier", &flow.verifier),
        ];
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        // client_secret_basic: the id and secret are form-encoded before Basic (RFC 6749 2.3.1).
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let resp = self
            .http
            .post(&meta.token_endpoint)
            .basic_auth(
                enc(&self.settings.client_id),
                Some(enc(&self.settings.client_secret)),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| provider_err("token", e))?;
        let status = resp.status();
        let bytes = read_bounded(resp)
            .await
            .map_err(|e| provider_err("token", e))?;
        let tokens: TokenResponse = if status.is_success() {
            serde_json::from_slice(&bytes).map_err(|e| provider_err("token", e))?
        } else {
            let e: ErrorResponse = serde_json::from_slice(&bytes).unwrap_or_default();
            return Err(OidcError::Refused {
                code: entente_domain::text::cut(
                    &e.error
                        .unwrap_or_else(|| format!("HTTP {}", status.as_u16())),
                    64,
                ),
                description: entente_domain::text::cut(
                    &e.error_description.unwrap_or_default(),
                    200,
                ),
            });
        };
        let mut claims = self.validate(&tokens.id_token, &flow.nonce).await?;
        let s = &self.settings;
        if (!claims.contains_key(&s.username_claim) || !claims.contains_key(&s.roles_claim))
            && let (Some(ui), Some(at)) = (&meta.userinfo_endpoint, &tokens.access_token)
        {
            let info: serde_json::Map<String, serde_json::Value> =
                self.get_json("userinfo", ui, Some(at)).await?;
            // Userinfo about someone else must not add to this user's claims (OIDC Core 5.3.2).
            if info.get("sub") != claims.get("sub") {
                return Err(OidcError::IdToken(
                    "userinfo names another subject than the ID token".into(),
                ));
            }
            for (k, v) in info {
                claims.entry(k).or_insert(v);
            }
        }
        token::identity(s, &claims)
    }

    /// The ID token's signature and claims, with the keys refreshed once if its key is new.
    async fn validate(
        &self,
        id_token: &str,
        nonce: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, OidcError> {
        let (_, keys) = self.metadata(false).await?;
        match token::validate(&self.settings, &keys, id_token, nonce) {
            Err(token::Invalid::UnknownKey) => {
                let (_, keys) = self.metadata(true).await?;
                token::validate(&self.settings, &keys, id_token, nonce)
                    .map_err(|e| OidcError::IdToken(e.to_string()))
            }
            r => r.map_err(|e| OidcError::IdToken(e.to_string())),
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: String,
    #[serde(default)]
    access_token: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorResponse {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

async fn read_bounded(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if out.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!("answer larger than {MAX_RESPONSE_BYTES} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
