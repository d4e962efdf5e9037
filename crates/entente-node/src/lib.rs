//! A node's behaviour, independent of transport and backend: publishing to signed logs,
//! formats and items, users and tokens, applying and verifying what peers send, the sync
//! and push-notification client, and the federation request signatures. It talks to
//! storage only through `dyn Store` and names no concrete backend; it defines no routes.

pub mod access;
pub mod alerts;
pub mod analytics;
pub mod attachments;
pub mod auth;
pub mod checkpoints;

pub mod clock;
pub mod config;
pub mod coord;
pub mod discussions;
pub mod error;
pub mod file_text;
pub mod invite;
pub mod meetings;
pub mod metrics;
mod node;
pub mod papers;
pub mod provenance;
pub mod ratelimit;
pub mod release;
pub mod replay;

pub mod notify;
pub mod search;
pub mod sso;
pub mod statements;
pub mod sync;
pub mod taxii;
pub mod transport;
pub mod zone;

pub use clock::{Clock, SystemClock};
pub use config::NodeConfig;
/// A user's display preferences (time zone, language), as `Node::user_settings` returns them.
pub use entente_store::UserSettings;
/// The federation wire protocol (its own crate, re-exported under its old path).
pub use entente_wire as fed;
pub use error::NodeError;
/// The tamper-evident audit trail (part of the core: users, items and formats write to it).
pub use node::audit;
pub use node::*;

impl Node {
    /// Open a node over a store with this crate's instruments attached to the core's hooks
    /// (alert receipts and escalation). The crate root is where the node is assembled: the
    /// core (`node`, `sync`) calls no instrument, it runs the hooks it is given.
    pub async fn new(
        cfg: NodeConfig,
        key: entente_log::NodeKey,
        store: std::sync::Arc<dyn entente_store::Store>,
        clock: std::sync::Arc<dyn Clock>,
    ) -> Result<std::sync::Arc<Node>, NodeError> {
        let node = Node::open_core(cfg, key, store, clock).await?;
        node.add_hook(std::sync::Arc::new(alerts::AlertHooks));
        node.add_hook(std::sync::Arc::new(attachments::AttachmentHooks));
        attachments::start(&node);
        node.start_notifier().await?;
        Ok(node)
    }
}
