//! User roles. Ordered: each role may do what the roles below it may.

use crate::DomainError;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    Analyst,
    Officer,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role, DomainError> {
        match s {
            "reader" => Ok(Role::Reader),
            "analyst" => Ok(Role::Analyst),
            "officer" => Ok(Role::Officer),
            "admin" => Ok(Role::Admin),
            _ => Err(DomainError::UnknownRole(s.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Analyst => "analyst",
            Role::Officer => "officer",
            Role::Admin => "admin",
        }
    }

    /// Analysts and above post and revise content; readers only read.
    pub fn can_post(self) -> bool {
        self >= Role::Analyst
    }

    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }
}
