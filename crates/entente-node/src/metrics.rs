//! The node's counters (what sync applied and rejected, refused requests and connections),
//! read by the metrics endpoint. Every part of the node counts here; this module knows none.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

/// Counters of what sync applied and rejected, by reason.
#[derive(Debug, Default)]
pub struct SyncCounters {
    pub applied: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: std::sync::Mutex<BTreeMap<String, u64>>,
    /// Requests refused by a rate limit, by what was limited: user, peer or login.
    pub rate_limited: std::sync::Mutex<BTreeMap<&'static str, u64>>,
    /// Connections the HTTP server closed because the client took too long to send a
    /// request's headers (slow-loris).
    pub header_timeouts: AtomicU64,
    /// Signed federation requests refused, by reason (replayed, stale, bad_signature, …).
    pub fed_refused: std::sync::Mutex<BTreeMap<&'static str, u64>>,
    /// Connections the listener closed before serving them, by reason (connection caps,
    /// TLS handshake failures and timeouts).
    pub connections_refused: std::sync::Mutex<BTreeMap<&'static str, u64>>,
    /// `accept` failures (out of file descriptors and the like).
    pub accept_errors: AtomicU64,
    /// Files received from peers that the malware scanner flagged (held aside).
    pub attachments_quarantined: AtomicU64,
    /// Audit records written, and the transactions that wrote them (group commit: several
    /// records per transaction under load).
    pub audit_records: AtomicU64,
    pub audit_commits: AtomicU64,
    /// Audit records that could not be written (the store failed; logged as errors).
    pub audit_failures: AtomicU64,
}

impl SyncCounters {
    pub(crate) fn reject(&self, reason: &str) {
        *self
            .rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason.to_owned())
            .or_default() += 1;
    }

    pub(crate) fn fed_refused(&self, reason: &'static str) {
        *self
            .fed_refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason)
            .or_default() += 1;
    }

    /// Count a connection the listener closed before serving it.
    pub fn connection_refused(&self, reason: &'static str) {
        *self
            .connections_refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason)
            .or_default() += 1;
    }

    pub fn rate_limited(&self) -> BTreeMap<&'static str, u64> {
        self.rate_limited
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn rejected(&self) -> BTreeMap<String, u64> {
        self.rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
