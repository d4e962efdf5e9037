//! Uploads never attached: a file an analyst uploaded and no item, post, meeting or paper came
//! to reference is dropped a day after its upload (on a sync tick, at most once an hour), so
//! abandoned uploads neither fill the disk nor stay on it; so are the chunks of an upload cut
//! off before the file was whole (a client gone, the node stopped), a day after they were
//! written. Not files any object references, checked or quarantined ones (the store's
//! `drop_abandoned_blobs` keeps those), nor a file still arriving from a peer.

use super::*;
use std::time::Duration;

/// How long an upload may wait for the item, post, meeting or paper that references it.
pub const UPLOAD_KEPT: time::Duration = time::Duration::hours(24);

/// How often a node looks for abandoned uploads.
const EVERY: Duration = Duration::from_secs(3600);

/// When this node last looked (`Node::ext`).
#[derive(Default)]
pub(super) struct Collector(LastRun);

/// On a sync tick: a pass in a task of its own when one is due.
pub(super) fn tick(node: &Arc<Node>) {
    if !node.ext::<Collector>().0.due(EVERY) {
        return;
    }
    let weak = Arc::downgrade(node);
    tokio::spawn(async move {
        let Some(node) = weak.upgrade() else { return };
        match node.drop_abandoned_uploads().await {
            Ok(gone) if !gone.is_empty() => {
                tracing::info!(files = gone.len(), "uploads never attached dropped");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "abandoned uploads not dropped"),
        }
    });
}

impl Node {
    /// Drop the files uploaded more than [`UPLOAD_KEPT`] ago that nothing references, and the
    /// chunks of uploads cut off that long ago; their hashes.
    pub async fn drop_abandoned_uploads(&self) -> Result<Vec<String>, NodeError> {
        let cut = crate::clock::rfc3339(self.clock().now() - UPLOAD_KEPT);
        let mut gone = vec![];
        loop {
            let page = self.store.drop_abandoned_blobs(&cut, 100).await?;
            let done = page.len() < 100;
            gone.extend(page);
            if done {
                return Ok(gone);
            }
        }
    }
}
