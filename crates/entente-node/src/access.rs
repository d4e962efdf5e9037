//! Taking access away (M5): disabling, deleting and re-roling users, listing and revoking
//! tokens and sessions, suspending and removing peers. Every change is audited and takes
//! effect on the next request on every surface (REST, TAXII, UI, `entente api`): tokens and
//! users are read from the store on each request, and the TAXII password cache re-reads the
//! user. What the node owns; the routes and commands that call it live in the API and CLI.

use crate::auth::Principal;
use crate::{Node, NodeError};
use entente_domain::{DomainError, PartnerCode, Role};
use entente_store::TokenRecord;
use serde::{Deserialize, Serialize};

/// A token (or session) as listed: never its secret or full hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    /// The first 16 hex digits of the token's hash: enough to name it for revocation, useless
    /// to authenticate with (the secret is 256 random bits; the hash is of the secret).
    pub id: String,
    pub username: String,
    pub label: String,
    /// `session`, `api` or `api_read`.
    pub kind: String,
    pub created_at: String,
    pub expires_at: Option<String>,
}

const TOKEN_ID_LEN: usize = 16;

fn view(t: &TokenRecord) -> TokenView {
    TokenView {
        id: t.token_hash[..TOKEN_ID_LEN.min(t.token_hash.len())].to_owned(),
        username: t.username.clone(),
        label: t.label.clone(),
        kind: t.kind.as_str().to_owned(),
        created_at: t.created_at.clone(),
        expires_at: t.expires_at.clone(),
    }
}

/// A change to a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserChange {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

impl Node {
    fn clear_password_cache(&self) {
        self.basic_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Change a user's role and/or disable (or enable) it. An admin cannot change or disable
    /// itself, so a node always keeps the admin who is making changes.
    pub async fn change_user(
        &self,
        who: &Principal,
        username: &str,
        change: UserChange,
    ) -> Result<(), NodeError> {
        who.require(Role::Admin, "change users")?;
        if username == who.username {
            return Err(NodeError::Conflict(
                "an admin cannot change or disable itself; ask another admin".into(),
            ));
        }
        let role = change.role.as_deref().map(Role::parse).transpose()?;
        if role.is_none() && change.disabled.is_none() {
            return Err(DomainError::invalid("role", "give a role, disabled, or both").into());
        }
        if !self
            .store
            .update_user(username, role, change.disabled)
            .await?
        {
            return Err(NodeError::NotFound("user"));
        }
        self.clear_password_cache();
        let mut what = vec![];
        if let Some(r) = role {
            what.push(format!("role {}", r.as_str()));
        }
        match change.disabled {
            Some(true) => what.push("disabled".into()),
            Some(false) => what.push("enabled".into()),
            None => {}
        }
        self.audit(
            &who.user_id(),
            "user_change",
            &format!("{username}: {}", what.join(", ")),
        )
        .await;
        Ok(())
    }

    /// Delete a user and every token and session it holds. What it authored stays signed in
    /// the logs under its name.
    pub async fn delete_user(&self, who: &Principal, username: &str) -> Result<(), NodeError> {
        who.require(Role::Admin, "delete users")?;
        if username == who.username {
            return Err(NodeError::Conflict(
                "an admin cannot delete itself; ask another admin".into(),
            ));
        }
        if !self.store.delete_user(username).await? {
            return Err(NodeError::NotFound("user"));
        }
        self.clear_password_cache();
        self.audit(&who.user_id(), "user_delete", username).await;
        Ok(())
    }

    /// Tokens and sessions: an admin sees everyone's (or one user's), anyone else their own.
    pub async fn list_tokens(
        &self,
        who: &Principal,
        username: Option<&str>,
    ) -> Result<Vec<TokenView>, NodeError> {
        let user = match (who.role >= Role::Admin, username) {
            (true, u) => u,
            (false, Some(u)) if u != who.username => {
                return Err(NodeError::Forbidden("list another user's tokens"));
            }
            (false, _) => Some(who.username.as_str()),
        };
        let mut out: Vec<TokenView> = self.store.tokens(user).await?.iter().map(view).collect();
        // A stable order for people (and snapshots): by user, then age, label and kind.
        out.sort_by(|a, b| {
            (&a.username, &a.created_at, &a.label, &a.kind).cmp(&(
                &b.username,
                &b.created_at,
                &b.label,
                &b.kind,
            ))
        });
        Ok(out)
    }

    /// Revoke a token or end a session by its id (from [`Node::list_tokens`]): an admin any,
    /// anyone else their own. It stops working on the next request.
    pub async fn revoke_token(&self, who: &Principal, id: &str) -> Result<TokenView, NodeError> {
        if id.len() != TOKEN_ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DomainError::invalid("id", "a token id: 16 hex digits").into());
        }
        let scope = (who.role < Role::Admin).then_some(who.username.as_str());
        let matching: Vec<TokenRecord> = self
            .store
            .tokens(scope)
            .await?
            .into_iter()
            .filter(|t| t.token_hash.starts_with(id))
            .collect();
        let [t] = matching.as_slice() else {
            return Err(NodeError::NotFound("token"));
        };
        self.store.delete_token(&t.token_hash).await?;
        self.audit(
            &who.user_id(),
            "token_revoke",
            &format!("{id} of {} ({})", t.username, t.label),
        )
        .await;
        Ok(view(t))
    }

    /// Suspend (`suspended`), re-admit (`active`) or remove (`removed`) a peer. A suspended or
    /// removed peer is neither called nor answered; its key stays, so the logs it signed
    /// still verify and stay served to whoever is in their audience.
    pub async fn set_peer_state(
        &self,
        who: &Principal,
        partner: &str,
        state: &str,
    ) -> Result<(), NodeError> {
        who.require(Role::Admin, "change peers")?;
        if !matches!(state, "active" | "suspended" | "removed") {
            return Err(DomainError::invalid("state", "active, suspended or removed").into());
        }
        let p = PartnerCode::parse(partner)
            .map_err(|e| DomainError::invalid("partner", e.to_string()))?;
        if !self.store.set_peer_state(&p, state).await? {
            return Err(NodeError::NotFound("peer"));
        }
        self.reload_peers().await?;
        self.audit(&who.user_id(), "peer_state", &format!("{p}: {state}"))
            .await;
        Ok(())
    }
}
