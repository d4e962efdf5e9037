//! What lets the instruments live outside the core: state a feature keeps on the node without
//! the core naming its type (`Extensions`), and work the core runs after it commits entries,
//! after each sync round and on each tick of the sync loop (`Hook`), registered by whoever
//! assembles the node. The core calls no instrument; it calls the hooks it was given.

use super::*;
use std::any::{Any, TypeId};

/// Feature state keyed by its type, each created (`Default`) on first use.
#[derive(Default)]
pub(crate) struct Extensions(std::sync::RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl Extensions {
    fn get<T: Any + Send + Sync + Default>(&self) -> Arc<T> {
        let key = TypeId::of::<T>();
        let held = self
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let any = match held {
            Some(v) => v,
            None => Arc::clone(
                self.0
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(key)
                    .or_insert_with(|| Arc::new(T::default())),
            ),
        };
        // Stored under its own TypeId, so the downcast cannot fail; a fresh value is the
        // answer that keeps the node running should that ever not hold.
        any.downcast::<T>().unwrap_or_default()
    }
}

/// Work run by the core at fixed points. Every method has a default that does nothing.
#[async_trait::async_trait]
pub trait Hook: Send + Sync {
    /// Entries were committed (a local publish or a received page), with the projections they
    /// changed. The projections are handed over: a hook that keeps some takes them out of the
    /// vector (the search index takes them all); the core drops what is left. Runs on the
    /// write path: it must not block.
    fn committed(
        &self,
        _node: &Node,
        _projections: &mut Vec<Projection>,
        _entries: &[ParsedEntry],
    ) {
    }

    /// Entries received from a peer were committed (after `committed`, without the write lock).
    async fn received(&self, _node: &Node, _entries: &[ParsedEntry]) {}

    /// A sync round with every peer finished (also the first one at start).
    async fn round_done(&self, _node: &Node) {}

    /// A tick of the periodic sync loop, before its round.
    fn tick(&self, _node: &Arc<Node>) {}
}

impl Node {
    /// A feature's state on this node (created empty on first use).
    pub(crate) fn ext<T: Any + Send + Sync + Default>(&self) -> Arc<T> {
        self.ext.get::<T>()
    }

    /// Register work the core runs at its fixed points (see [`Hook`]).
    pub fn add_hook(&self, hook: Arc<dyn Hook>) {
        self.hooks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(hook);
    }

    fn hook_list(&self) -> Vec<Arc<dyn Hook>> {
        self.hooks.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn run_committed(&self, mut projections: Vec<Projection>, entries: &[ParsedEntry]) {
        for h in self.hook_list() {
            h.committed(self, &mut projections, entries);
        }
    }

    pub(crate) async fn run_received(&self, entries: &[ParsedEntry]) {
        for h in self.hook_list() {
            h.received(self, entries).await;
        }
    }

    pub(crate) async fn run_round_done(&self) {
        for h in self.hook_list() {
            h.round_done(self).await;
        }
    }

    pub(crate) fn run_tick(self: &Arc<Self>) {
        for h in self.hook_list() {
            h.tick(self);
        }
    }
}
