//! Sign-in through the partner's identity provider (OIDC): the web crate runs the protocol
//! (`entente-oidc`) and hands the node the identity it established; the node provisions or
//! updates the user and opens a session. It does not speak OIDC itself.
//!
//! A provider-managed user has no password: its `password_hash` is a marker naming the
//! provider and subject, which no password verifies. The marker binds the user name to that
//! subject, so a provider that later gives the same name to another person does not sign them
//! in as the first; and a local account (the break-glass admin) is never taken over by the
//! provider, whatever name its claims carry.

use crate::auth;
use crate::{Node, NodeError};
use entente_domain::Role;
use entente_store::{StoreError, UserRecord};

const MARKER: &str = "sso:";

/// The stored marker of a provider-managed user.
pub fn marker(issuer: &str, subject: &str) -> String {
    format!("{MARKER}{issuer}#{subject}")
}

/// Whether a user is managed by an identity provider (has no password on this node).
pub fn is_sso_user(u: &UserRecord) -> bool {
    u.password_hash.starts_with(MARKER)
}

impl Node {
    /// Open a session for a user the identity provider vouched for, with the role its claims
    /// map to (updated at every sign-in: the provider is the authority for provider-managed
    /// users). A disabled user stays out: revocation on this node wins over the provider.
    pub async fn login_sso(
        &self,
        issuer: &str,
        subject: &str,
        username: &str,
        role: Role,
    ) -> Result<(String, String), NodeError> {
        auth::validate_username(username)?;
        let want = marker(issuer, subject);
        let refused = |why: &str| NodeError::Conflict(why.to_owned());
        match self.store.user(username).await? {
            None => {
                let user = UserRecord {
                    username: username.to_owned(),
                    role,
                    password_hash: want,
                    created_at: self.now(),
                    disabled: false,
                    settings: Default::default(),
                };
                match self.store.create_user(&user).await {
                    // Created at the same moment by a parallel sign-in: checked again below.
                    Err(StoreError::Conflict(_)) => {
                        return Box::pin(self.login_sso(issuer, subject, username, role)).await;
                    }
                    r => r?,
                }
                self.audit(
                    &format!("{username}@{}", self.partner()),
                    "user_add_sso",
                    &format!("{username} as {} from {issuer}", role.as_str()),
                )
                .await;
            }
            Some(u) if !is_sso_user(&u) => {
                return Err(refused(
                    "a local account has this user name; the identity provider cannot sign in as it",
                ));
            }
            Some(u) if u.password_hash != want => {
                return Err(refused(
                    "this user name belongs to another identity at the provider",
                ));
            }
            Some(u) if u.disabled => return Err(refused("this user is disabled on this node")),
            Some(u) => {
                if u.role != role {
                    self.store.update_user(username, Some(role), None).await?;
                    self.audit(
                        &format!("{username}@{}", self.partner()),
                        "user_change_sso",
                        &format!("{username}: role {} from {issuer}", role.as_str()),
                    )
                    .await;
                }
            }
        }
        self.audit(
            &format!("{username}@{}", self.partner()),
            "login_sso",
            issuer,
        )
        .await;
        self.open_session(username).await
    }
}
