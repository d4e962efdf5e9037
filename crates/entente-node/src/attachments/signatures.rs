//! Scanning again when the scanner learns more: on a sync tick (at most every ten minutes) the
//! node asks `clamd` which signature database it runs, and when that differs from the one the
//! last complete scan of every held file ran under, it starts such a scan itself, so a file
//! that arrived clean before a signature update is held aside once the update knows it. What
//! the last complete scan ran under is kept in the data directory (`scanner-signatures`), so
//! an update while the node was down counts too; a node that has no such record yet takes the
//! current database as its starting point (its files were scanned on arrival).

use super::*;
use std::time::{Duration, Instant};

/// How often a node asks its scanner which signatures it runs.
const EVERY: Duration = Duration::from_secs(600);

/// The file in the data directory that names the signatures of the last complete scan.
const RECORD: &str = "scanner-signatures";

/// When this node last asked (`Node::ext`).
#[derive(Default)]
pub(super) struct Watch {
    last: std::sync::Mutex<Option<Instant>>,
}

impl Watch {
    /// Whether a check is due now (it then counts as done).
    fn due(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

/// On a sync tick: a check in a task of its own when one is due and the node has a scanner.
pub(super) fn tick(node: &Arc<Node>) {
    if node.config().malware_scan.is_none() || !node.ext::<Watch>().due() {
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
    /// whether this started it. A node without a scanner, or one whose scan is running, starts
    /// nothing (the next check tries again).
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
                tracing::info!(
                    before,
                    now,
                    "the scanner's signatures changed: scanning every held file again"
                );
                Ok(self
                    .start_held_scan("(node: scanner signatures updated)")
                    .await?
                    .1)
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
