//! The local audit log: reads of TLP:AMBER and above, releases, exports, logins, token
//! creation and admin actions, each record chained to the previous one by SHA-256, so that
//! `entente verify --audit` detects any alteration, deletion or insertion.

use crate::metrics::SyncCounters;
use crate::{Clock, Node, NodeError};
use entente_store::{AuditRecord, Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// One audit record waiting for the audit lock.
pub(crate) struct AuditJob {
    actor: String,
    action: String,
    detail: String,
    reply: tokio::sync::oneshot::Sender<()>,
}

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub fn audit_hash(
    prev: &str,
    seq: u64,
    at: &str,
    actor: &str,
    action: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    // Length-prefixed fields, so no two different records hash alike.
    for f in [prev, &seq.to_string(), at, actor, action, detail] {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditReport {
    pub records: u64,
    pub problems: Vec<String>,
}

impl Node {
    /// Append an audit record. Failure to audit is logged loudly and counted; it does not undo
    /// the action (which is already durable), and the gap is visible to `verify --audit` as
    /// missing work.
    ///
    /// Group commit, as for publishes: records queue up while one caller holds the audit lock;
    /// the next to take it chains every queued record and writes them in one transaction. One
    /// record per transaction made the audit lock the bottleneck of posting under load (each
    /// waited for the round trips of every record before it: on PostgreSQL, 200 ms of a 330 ms
    /// post at saturation).
    pub async fn audit(&self, actor: &str, action: &str, detail: &str) {
        // Bounded: some fields echo what a client sent (M1: 500 KB user names once went in).
        let (actor, action, detail) = (bounded(actor), bounded(action), bounded(detail));
        let (reply, mut done) = tokio::sync::oneshot::channel();
        self.audit_queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(AuditJob {
                actor: actor.to_string(),
                action: action.to_string(),
                detail: detail.to_string(),
                reply,
            });
        // Answered by an earlier holder's run (most records are, under load): return at once
        // instead of waiting for a turn at the lock only to find the record written.
        let guard = tokio::select! {
            biased;
            r = &mut done => {
                if r.is_err() {
                    self.audit_lost(&action);
                }
                return;
            }
            guard = Arc::clone(&self.audit_lock).lock_owned() => guard,
        };
        match done.try_recv() {
            // A previous holder of the lock wrote it.
            Ok(()) => return,
            // Taken by a writer that panicked before answering. Not queued again: the panic
            // may have come after its commit, and a record is never written twice.
            Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                return self.audit_lost(&action);
            }
            // Still queued: every writer holds the lock until it has answered, so while we
            // hold it our job can only be in the queue. Write the queue.
            Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
        }
        let jobs = std::mem::take(&mut *self.audit_queue.lock().unwrap_or_else(|e| e.into_inner()));
        let writer = AuditWriter {
            store: Arc::clone(&self.store),
            clock: Arc::clone(&self.clock),
            counters: Arc::clone(&self.metrics),
        };
        // The write runs in a task of its own that keeps the lock until it has answered every
        // job: a caller cancelled mid-write (a client that hung up) must not cut the run short
        // after its commit, or the other callers would queue their records again and they would
        // be written twice.
        let task = tokio::spawn(async move {
            writer.write(jobs).await;
            drop(guard);
        });
        let _ = task.await;
        if done.try_recv().is_err() {
            self.audit_lost(&action);
        }
    }

    /// A record whose writer panicked before answering: counted and logged, not written again.
    fn audit_lost(&self, action: &str) {
        self.metrics
            .audit_failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::error!(
            action,
            "an audit record's writer failed; the record may be missing"
        );
    }

    /// Recompute the chain over every audit record.
    pub async fn verify_audit(&self) -> Result<AuditReport, NodeError> {
        let mut report = AuditReport::default();
        let (mut seq, mut prev) = (0u64, GENESIS.to_owned());
        loop {
            let page = self.store.audit_records(seq, 5000).await?;
            if page.is_empty() {
                break;
            }
            for r in page {
                report.records += 1;
                if r.seq != seq + 1 {
                    report.problems.push(format!(
                        "audit record {} is missing (found {} next)",
                        seq + 1,
                        r.seq
                    ));
                } else if r.prev != prev {
                    report.problems.push(format!(
                        "audit record {}: does not continue the chain",
                        r.seq
                    ));
                } else if r.hash
                    != audit_hash(&r.prev, r.seq, &r.at, &r.actor, &r.action, &r.detail)
                {
                    report
                        .problems
                        .push(format!("audit record {}: altered (hash mismatch)", r.seq));
                }
                seq = r.seq;
                prev = r.hash.clone();
            }
        }
        Ok(report)
    }
}

/// What writes a run of queued audit records, owned so that the write can outlive a cancelled
/// caller.
struct AuditWriter {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    counters: Arc<SyncCounters>,
}

impl AuditWriter {
    /// Write the jobs' records as one run; if the store refuses the run, one by one, so a record
    /// it cannot take does not take the others with it. Then answer every job.
    async fn write(&self, jobs: Vec<AuditJob>) {
        use std::sync::atomic::Ordering::Relaxed;
        if !self.write_run(&jobs).await {
            let single = jobs.len() == 1;
            for job in &jobs {
                if single || !self.write_run(std::slice::from_ref(job)).await {
                    self.counters.audit_failures.fetch_add(1, Relaxed);
                }
            }
        }
        for job in jobs {
            let _ = job.reply.send(());
        }
    }

    /// Chain records after the stored head and append them in one transaction (the caller
    /// holds the audit lock); again from a fresh head if another process appended first.
    /// Whether they were written (a failure is logged).
    async fn write_run(&self, jobs: &[AuditJob]) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        for _ in 0..5 {
            let head = match self.store.audit_head().await {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(%e, records = jobs.len(), "audit log unavailable");
                    return false;
                }
            };
            let (mut seq, mut prev) = head
                .map(|h| (h.seq, h.hash))
                .unwrap_or((0, GENESIS.to_owned()));
            // One time for the run, so times never go backwards along the chain.
            let at = self.clock.now_rfc3339();
            let run: Vec<AuditRecord> = jobs
                .iter()
                .map(|j| {
                    seq += 1;
                    let hash = audit_hash(&prev, seq, &at, &j.actor, &j.action, &j.detail);
                    AuditRecord {
                        seq,
                        at: at.clone(),
                        actor: j.actor.clone(),
                        action: j.action.clone(),
                        detail: j.detail.clone(),
                        prev: std::mem::replace(&mut prev, hash.clone()),
                        hash,
                    }
                })
                .collect();
            match self.store.append_audit(&run).await {
                Ok(()) => {
                    self.counters.audit_commits.fetch_add(1, Relaxed);
                    self.counters
                        .audit_records
                        .fetch_add(run.len() as u64, Relaxed);
                    return true;
                }
                // Another process sharing the store appended first.
                Err(StoreError::HeadMoved { .. }) => continue,
                Err(e) => {
                    tracing::error!(%e, records = jobs.len(), "could not write the audit log");
                    return false;
                }
            }
        }
        tracing::error!(
            records = jobs.len(),
            "the audit head kept moving; records not written"
        );
        false
    }
}

/// Longest audit field kept, in bytes; longer ones are cut at a character boundary and marked.
const AUDIT_FIELD_MAX: usize = 256;

fn bounded(s: &str) -> std::borrow::Cow<'_, str> {
    // PostgreSQL refuses NUL in text; one refused record would cost a run's every other record
    // a second attempt.
    if s.contains('\0') {
        return bounded(&s.replace('\0', "\u{fffd}")).into_owned().into();
    }
    if s.len() <= AUDIT_FIELD_MAX {
        return s.into();
    }
    let mut end = AUDIT_FIELD_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len()).into()
}
