//! Scanning again when the scanner learns more: on a sync tick (at most every ten minutes) the
//! node asks `clamd` which signature database it runs, and when that differs from the one the
//! last complete scan of every held file ran under, it starts such a scan itself, so a file
//! that arrived clean before a signature update is held aside once the update knows it. What
//! the last complete scan ran under is kept in the data directory (`scanner-signatures`), so
//! an update while the node was down counts too; a node that has no such record yet takes the
//! current database as its starting point (its files were scanned on arrival). A scan in which
//! a file could not be scanned records nothing, so the next one tries again.
//!
//! Such a scan streams every held file out of the store, and signatures change several times a
//! day, so a process starts one by itself at most once a day ([`AUTOMATIC_RESCAN_EVERY`]); an admin
//! can start one at any time. `VERSION` names clamd's official database only (the daily one in
//! practice): third-party or local signatures added to clamd change nothing here.

use super::*;
use std::time::Duration;

/// How often a node asks its scanner which signatures it runs.
const EVERY: Duration = Duration::from_secs(600);

/// The least time between two scans a process starts by itself.
pub const AUTOMATIC_RESCAN_EVERY: Duration = Duration::from_secs(24 * 3600);

/// The file in the data directory that names the signatures of the last complete scan.
const RECORD: &str = "scanner-signatures";

/// When this node last asked (`Node::ext`), and when it last started a scan by itself.
#[derive(Default)]
pub(super) struct Watch {
    asked: LastRun,
    started: LastRun,
}

/// On a sync tick: a check in a task of its own when one is due and the node has a scanner.
pub(super) fn tick(node: &Arc<Node>) {
    if node.config().malware_scan.is_none() || !node.ext::<Watch>().asked.due(EVERY) {
        return;
    }
    let weak = Arc::downgrade(node);
    tokio::spawn(async move {
        let Some(node) = weak.upgrade() else { return };
        if let Err(e) = node.check_scanner_signatures().await {
            tracing::warn!(error = %e, "the scanner's signatures were not checked");
        }
    });
}

impl Node {
    /// Ask the scanner which signatures it runs and, when they changed since the last complete
    /// scan of every held file, start one (in a task of its own, audited as the node's):
    /// whether this started it. A node without a scanner, one whose scan is running, or one
    /// that started such a scan itself less than [`AUTOMATIC_RESCAN_EVERY`] ago starts nothing (a
    /// later check tries again).
    pub async fn check_scanner_signatures(self: &Arc<Self>) -> Result<bool, NodeError> {
        let Some(to) = self.config().malware_scan.clone() else {
            return Ok(false);
        };
        let now = scan::signatures(&to).await?;
        let path = self.config().data_dir.join(RECORD);
        let recorded = match tokio::fs::read_to_string(&path).await {
            Ok(s) => Some(s.trim().to_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(internal(e)),
        };
        match recorded {
            Some(r) if r == now => Ok(false),
            None => {
                record_signatures(&self.config().data_dir, &now).await?;
                Ok(false)
            }
            Some(before) => {
                let watch = self.ext::<Watch>();
                if watch.started.ran_within(AUTOMATIC_RESCAN_EVERY) {
                    return Ok(false);
                }
                let started = self
                    .start_held_scan("(node: scanner signatures updated)")
                    .await?
                    .1;
                if started {
                    tracing::info!(
                        before,
                        now,
                        "the scanner's signatures changed: scanning every held file again"
                    );
                    watch.started.mark();
                }
                Ok(started)
            }
        }
    }
}

/// Record that a complete scan of every held file ran under `signatures` (written whole under
/// another name, then renamed, so a reader never sees half of it).
pub(super) async fn record_signatures(
    data_dir: &std::path::Path,
    signatures: &str,
) -> Result<(), NodeError> {
    let tmp = data_dir.join(format!("{RECORD}.new"));
    tokio::fs::write(&tmp, signatures).await.map_err(internal)?;
    tokio::fs::rename(&tmp, data_dir.join(RECORD))
        .await
        .map_err(internal)
}
