//! Users, passwords, sessions and tokens of a node: adding users, signing in (limited per
//! name and address, argon2 off the async workers), tokens and sessions, and authenticating them.

use super::*;

impl Node {
    pub async fn add_user(
        &self,
        username: &str,
        role: Role,
        password: &str,
    ) -> Result<UserRecord, NodeError> {
        auth::validate_username(username)?;
        auth::validate_password(password)?;
        let user = UserRecord {
            username: username.to_owned(),
            role,
            password_hash: auth::hash_password(password)?,
            created_at: self.now(),
            disabled: false,
            settings: Default::default(),
        };
        match self.store.create_user(&user).await {
            Err(StoreError::Conflict(c)) => Err(NodeError::Conflict(format!("{c} already exists"))),
            r => {
                r?;
                self.audit(
                    "admin",
                    "user_add",
                    &format!("{username} as {}", role.as_str()),
                )
                .await;
                Ok(user)
            }
        }
    }

    pub(crate) fn principal(&self, u: &UserRecord) -> Principal {
        Principal {
            username: u.username.clone(),
            role: u.role,
            partner: self.partner().clone(),
        }
    }

    /// Charge one request to `key` under the limit `what` ("user", "peer" or "login").
    pub(crate) fn charge(&self, what: &'static str, key: &str) -> Result<(), NodeError> {
        let Some((_, limiter)) = self.limits.iter().find(|(w, _)| *w == what) else {
            return Ok(());
        };
        limiter
            .take(key, std::time::Instant::now())
            .map_err(|retry_after| {
                *self
                    .metrics
                    .rate_limited
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(what)
                    .or_default() += 1;
                NodeError::RateLimited { retry_after }
            })
    }

    /// Check a user name and password (REST and UI login, TAXII Basic). Limited per client
    /// address over all names and per (name, address) before argon2 runs; a name that cannot
    /// exist is refused without it; an unknown user is checked against a dummy hash so timing
    /// does not tell; every failure is audited (with the name only when it is a valid one).
    pub(crate) async fn check_password(
        &self,
        username: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
        surface: &str,
    ) -> Result<entente_store::UserRecord, NodeError> {
        let addr = client.map_or_else(|| "local".to_owned(), |a| a.to_string());
        self.charge("login_addr", &addr)?;
        if auth::validate_username(username).is_err() || password.len() > 1024 {
            self.audit("(invalid user name)", "login_failed", surface)
                .await;
            return Err(NodeError::Unauthorized);
        }
        self.charge("login", &format!("{username} {addr}"))?;
        let user = self.store.user(username).await?;
        let hash = user
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |u| u.password_hash.clone());
        let ok = self.verify_password(password, hash).await? && user.is_some();
        match user.filter(|u| ok && !u.disabled) {
            Some(u) => Ok(u),
            None => {
                self.audit(username, "login_failed", surface).await;
                Err(NodeError::Unauthorized)
            }
        }
    }

    /// argon2 on a blocking thread, at most [`ARGON_AT_ONCE`] at a time and at most
    /// [`ARGON_QUEUE`] waiting; beyond that the caller is told to retry (429).
    pub(super) async fn verify_password(
        &self,
        password: &str,
        hash: String,
    ) -> Result<bool, NodeError> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.argon_waiting.fetch_add(1, SeqCst) >= ARGON_QUEUE {
            self.argon_waiting.fetch_sub(1, SeqCst);
            return Err(NodeError::RateLimited { retry_after: 1 });
        }
        let permit = self.argon_slots.acquire().await;
        self.argon_waiting.fetch_sub(1, SeqCst);
        let _permit = permit.map_err(|e| NodeError::Internal(e.to_string()))?;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
            .await
            .map_err(|e| NodeError::Internal(e.to_string()))
    }

    /// Password login: returns a session token and its expiry. `client` is the address the
    /// request came from, if known.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<(String, String), NodeError> {
        let user = self.check_password(username, password, client, "").await?;
        self.audit(
            &format!("{}@{}", user.username, self.partner()),
            "login",
            "",
        )
        .await;
        self.open_session(&user.username).await
    }

    /// A new login session for `username` (password or identity-provider sign-in): the
    /// secret, and when it expires.
    pub(crate) async fn open_session(&self, username: &str) -> Result<(String, String), NodeError> {
        let secret = auth::new_token_secret()?;
        let expires = crate::clock::rfc3339(self.clock.now() + self.cfg.session_ttl);
        self.store
            .create_token(&TokenRecord {
                token_hash: auth::token_hash(&secret),
                username: username.to_owned(),
                label: "session".into(),
                kind: TokenKind::Session,
                created_at: self.now(),
                expires_at: Some(expires.clone()),
            })
            .await?;
        Ok((secret, expires))
    }

    /// Create a long-lived API token for the caller: `TokenKind::Api` (everything the user's
    /// role allows) or `TokenKind::ApiRead` (reading only). Sessions come from login only.
    pub async fn create_token(
        &self,
        who: &Principal,
        label: &str,
        kind: TokenKind,
    ) -> Result<String, NodeError> {
        let label = label.trim();
        if label.is_empty() || label.len() > 100 {
            return Err(
                entente_domain::DomainError::invalid("label", "1 to 100 characters").into(),
            );
        }
        if kind == TokenKind::Session {
            return Err(entente_domain::DomainError::invalid(
                "scope",
                "an API token is \"read\" or \"write\"",
            )
            .into());
        }
        let secret = auth::new_token_secret()?;
        self.store
            .create_token(&TokenRecord {
                token_hash: auth::token_hash(&secret),
                username: who.username.clone(),
                label: label.to_owned(),
                kind,
                created_at: self.now(),
                expires_at: (!self.cfg.api_token_ttl.is_zero())
                    .then(|| crate::clock::rfc3339(self.clock.now() + self.cfg.api_token_ttl)),
            })
            .await?;
        self.audit(
            &who.user_id(),
            "token_create",
            &format!("{label} ({})", kind.as_str()),
        )
        .await;
        Ok(secret)
    }

    /// Create a token for a user by name (CLI and demo; the caller is the operator).
    /// End a session (logout): its token stops working at once.
    pub async fn revoke_session(&self, secret: &str) -> Result<(), NodeError> {
        let p = self.authenticate(secret).await?;
        self.store.delete_token(&auth::token_hash(secret)).await?;
        self.audit(&p.user_id(), "logout", "").await;
        Ok(())
    }

    pub async fn create_token_for(
        &self,
        username: &str,
        label: &str,
        kind: TokenKind,
    ) -> Result<String, NodeError> {
        let user = self
            .store
            .user(username)
            .await?
            .ok_or(NodeError::NotFound("user"))?;
        self.create_token(&self.principal(&user), label, kind).await
    }

    /// A short-lived session token for a local user, for operator commands run on the node
    /// itself (`entente api`); it expires after five minutes.
    pub async fn session_for(&self, username: &str) -> Result<String, NodeError> {
        let user = self
            .store
            .user(username)
            .await?
            .ok_or(NodeError::NotFound("user"))?;
        let secret = auth::new_token_secret()?;
        self.store
            .create_token(&TokenRecord {
                token_hash: auth::token_hash(&secret),
                username: user.username,
                label: "cli".into(),
                kind: TokenKind::Session,
                created_at: self.now(),
                expires_at: Some(crate::clock::rfc3339(
                    self.clock.now() + std::time::Duration::from_secs(300),
                )),
            })
            .await?;
        Ok(secret)
    }

    /// The principal of a local user by name (for operator commands run on the node itself).
    pub async fn principal_for(&self, username: &str) -> Result<Principal, NodeError> {
        let user = self
            .store
            .user(username)
            .await?
            .ok_or(NodeError::NotFound("user"))?;
        Ok(self.principal(&user))
    }

    pub async fn authenticate(&self, secret: &str) -> Result<Principal, NodeError> {
        Ok(self.authenticate_token(secret).await?.0)
    }

    /// [`Node::authenticate`], also saying what kind of token it was: the API lets a
    /// read-only token read and nothing else; the web UI accepts only session tokens.
    pub async fn authenticate_token(
        &self,
        secret: &str,
    ) -> Result<(Principal, TokenKind), NodeError> {
        let (p, kind) = self.authenticate_uncharged(secret).await?;
        self.charge("user", &p.user_id())?;
        Ok((p, kind))
    }

    /// [`Node::authenticate_token`] without charging the user's rate limit.
    pub(crate) async fn authenticate_uncharged(
        &self,
        secret: &str,
    ) -> Result<(Principal, TokenKind), NodeError> {
        let t = self
            .store
            .token(&auth::token_hash(secret))
            .await?
            .ok_or(NodeError::Unauthorized)?;
        if let Some(exp) = &t.expires_at
            && exp.as_str() <= self.now().as_str()
        {
            return Err(NodeError::Unauthorized);
        }
        let user = self
            .store
            .user(&t.username)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(NodeError::Unauthorized)?;
        Ok((self.principal(&user), t.kind))
    }

    pub async fn users(&self, who: &Principal) -> Result<Vec<UserRecord>, NodeError> {
        who.require(Role::Admin, "list users")?;
        Ok(self.store.users().await?)
    }
}

impl Node {
    /// The signed-in user's display preferences (defaults for a user the store no longer has:
    /// its session ends at the next authentication anyway).
    pub async fn user_settings(
        &self,
        who: &Principal,
    ) -> Result<entente_store::UserSettings, NodeError> {
        Ok(self
            .store
            .user(&who.username)
            .await?
            .map(|u| u.settings)
            .unwrap_or_default())
    }

    /// Replace the signed-in user's display preferences; an unknown time zone is refused and
    /// changes nothing.
    pub async fn set_user_settings(
        &self,
        who: &Principal,
        settings: entente_store::UserSettings,
    ) -> Result<(), NodeError> {
        if let Some(z) = &settings.time_zone {
            crate::zone::check(z)?;
        }
        // The UI checks the tag against its catalogues; here only its shape (BCP 47-like).
        if let Some(l) = &settings.language
            && (l.is_empty()
                || l.len() > 16
                || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return Err(
                entente_domain::DomainError::invalid("language", "not a language tag").into(),
            );
        }
        if let Some(e) = &settings.email
            && e.parse::<lettre::Address>().is_err()
        {
            return Err(entente_domain::DomainError::invalid(
                "email",
                "an e-mail address such as name@example.org",
            )
            .into());
        }
        for (kind, mode) in &settings.notify {
            if !crate::config::NOTIFY_KINDS.iter().any(|(k, _)| k == kind)
                || !crate::config::NOTIFY_MODES.contains(&mode.as_str())
            {
                return Err(entente_domain::DomainError::invalid(
                    "notify",
                    "for alert, stance, mention and reply: immediately, digest or off",
                )
                .into());
            }
        }
        if self
            .store
            .set_user_settings(&who.username, &settings)
            .await?
        {
            // A kind now wanted at once: what was held for the digest goes out now, not lost
            // and not an hour late.
            let now = self.clock.now_rfc3339();
            for (kind, default) in crate::config::NOTIFY_KINDS {
                let mode = settings.notify.get(kind).map_or(default, |m| m.as_str());
                // The settings are saved: a failure here only leaves the items for the digest.
                if mode == "immediately"
                    && let Err(e) = self
                        .store
                        .undigest_notifications(&who.username, kind, &now)
                        .await
                {
                    tracing::warn!(error = %e, "notifications held for the digest stay there");
                }
            }
            Ok(())
        } else {
            Err(NodeError::NotFound("user"))
        }
    }
}
