//! A node's behaviour, independent of transport and backend: publishing to signed logs,
//! formats and items, users and tokens, applying and verifying what peers send, the sync
//! and push-notification client, and the federation request signatures. It talks to
//! storage only through `dyn Store` and names no concrete backend; it defines no routes.

pub mod access;
pub mod alerts;
pub mod analytics;
pub mod audit;
pub mod auth;
pub mod checkpoints;

pub mod clock;
pub mod config;
pub mod coord;
pub mod error;
pub mod fed;
pub mod invite;
mod node;
pub mod provenance;
pub mod ratelimit;
pub mod replay;

pub mod search;
pub mod sso;
pub mod statements;
pub mod sync;
pub mod taxii;
pub mod transport;

pub use clock::{Clock, SystemClock};
pub use config::NodeConfig;
pub use error::NodeError;
pub use node::*;
