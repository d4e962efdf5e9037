//! Publishing to the node's own logs: signing chains of entries, folding and committing them
//! together, announcing to peers; and the bulk publisher of imports.

use super::*;

impl Node {
    /// Append entries to this node's own log for `audience`, signed, with their projections,
    /// in one durable transaction. Returns once the write is committed.
    pub async fn publish(
        &self,
        audience: &Audience,
        payloads: &[Payload],
    ) -> Result<Vec<ParsedEntry>, NodeError> {
        let jsons: Vec<(&'static str, String)> =
            payloads.iter().map(|p| (p.kind(), p.to_json())).collect();
        self.publish_json(audience, jsons).await
    }

    /// [`Node::publish`] of payloads already serialised: (kind, JSON) pairs.
    ///
    /// Group commit: concurrent publishes queue up while one holds the write lock; the next to
    /// take the lock writes every queued publish to the same log as one signed run of entries in
    /// one transaction (one commit, one fsync), and answers each with its own entries.
    pub(crate) async fn publish_json(
        &self,
        audience: &Audience,
        payloads: Vec<(&'static str, String)>,
    ) -> Result<Vec<ParsedEntry>, NodeError> {
        let me = self
            .me
            .get()
            .and_then(std::sync::Weak::upgrade)
            .ok_or_else(|| NodeError::Internal("the node is shutting down".into()))?;
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let id = self
            .publish_ids
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.publish_queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(PublishJob {
                id,
                audience: audience.clone(),
                payloads,
                reply: tx,
            });
        // The lock is taken and the queue written by a task of its own, which holds the lock
        // until it has answered every job it took. A caller cancelled mid-write (a client that
        // hung up drops the handler's future at any await) must not cut a write short after its
        // commit: the jobs it took would go unanswered, their callers would queue them again,
        // and their entries would be signed and stored twice.
        let mut task = tokio::spawn(async move {
            let guard = me.lock_writes().await?;
            let jobs =
                std::mem::take(&mut *me.publish_queue.lock().unwrap_or_else(|e| e.into_inner()));
            me.commit_jobs(jobs).await;
            drop(guard);
            Ok::<(), NodeError>(())
        });
        // The caller returns as soon as its job is answered, by whichever writer took it: most
        // jobs are written by an earlier writer's run, and waiting for this task's own turn at
        // the lock as well (it then finds the queue empty) cost 15 % of posts per second at
        // saturation. The task is not aborted when its handle is dropped.
        let done = tokio::select! {
            biased;
            r = &mut rx => return r.unwrap_or_else(|_| Err(unanswered())),
            done = &mut task => done,
        };
        let failed = match done {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(e) => Some(NodeError::Internal(format!("publish writer: {e}"))),
        };
        if let Some(e) = failed {
            // The lock could not be taken (or the writer panicked). Withdraw the job if it is
            // still queued; if a writer took it, its answer is the one that counts.
            if self.withdraw_publish(id) {
                return Err(e);
            }
            return rx.await.unwrap_or(Err(e));
        }
        // Every writer answers the jobs it took before it lets the lock go, and this task has
        // had the lock, so the job has been answered, unless the writer that took it panicked.
        // That job is not queued again: the panic may have come after its commit (in a hook),
        // and a publish is never signed twice; the caller is told it failed.
        rx.try_recv().unwrap_or_else(|_| Err(unanswered()))
    }

    /// Take a publish out of the queue; false if a writer has taken it already.
    fn withdraw_publish(&self, id: u64) -> bool {
        let mut q = self.publish_queue.lock().unwrap_or_else(|e| e.into_inner());
        let before = q.len();
        q.retain(|j| j.id != id);
        q.len() < before
    }

    /// Write queued publishes (the caller holds the write lock): one run of entries per log,
    /// in queue order; each job is answered as soon as its log's run commits. If a run fails,
    /// its jobs are written one by one, so each gets its own answer.
    pub(super) async fn commit_jobs(&self, jobs: Vec<PublishJob>) {
        let mut groups: Vec<(Audience, Vec<PublishJob>)> = Vec::new();
        for job in jobs {
            match groups.iter_mut().find(|(a, _)| *a == job.audience) {
                Some((_, g)) => g.push(job),
                None => groups.push((job.audience.clone(), vec![job])),
            }
        }
        for (audience, group) in groups {
            let payloads: Vec<(&'static str, &str)> = group
                .iter()
                .flat_map(|j| j.payloads.iter().map(|(k, p)| (*k, p.as_str())))
                .collect();
            match self.append_run(&audience, &payloads).await {
                Ok(mut entries) => {
                    for job in group {
                        let rest = entries.split_off(job.payloads.len());
                        let _ = job.reply.send(Ok(std::mem::replace(&mut entries, rest)));
                    }
                }
                Err(e) if group.len() == 1 => {
                    if let Some(job) = group.into_iter().next() {
                        let _ = job.reply.send(Err(e));
                    }
                }
                Err(_) => {
                    for job in group {
                        let payloads: Vec<(&'static str, &str)> =
                            job.payloads.iter().map(|(k, p)| (*k, p.as_str())).collect();
                        let r = self.append_run(&audience, &payloads).await;
                        let _ = job.reply.send(r);
                    }
                }
            }
        }
    }

    /// Sign, fold and append payloads as the next entries of this node's log for `audience`,
    /// in one transaction (the caller holds the write lock).
    pub(super) async fn append_run(
        &self,
        audience: &Audience,
        payloads: &[(&'static str, &str)],
    ) -> Result<Vec<ParsedEntry>, NodeError> {
        let desc = LogDescriptor::new(self.partner().clone(), audience.clone());
        for _attempt in 0..5 {
            let head = self.log_head(&desc.log_id).await?;
            let entries = self.sign_chain(&desc, head, payloads.iter().copied())?;
            let projections = self.fold(&entries).await?;
            match self.store.append(&desc, head, &entries, &projections).await {
                Ok(()) => {
                    self.run_committed(projections, &entries);
                    let last = entries.last().map(|e| e.header.seq).unwrap_or(head.seq);
                    self.announce(&desc, last, None);
                    return Ok(entries);
                }
                // Another process sharing the store wrote first: re-read the head and re-sign.
                Err(StoreError::HeadMoved { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(NodeError::Internal(
            "the log head kept moving; try again".into(),
        ))
    }

    /// The stored head of a log (empty if this node holds none of it).
    pub(crate) async fn log_head(&self, log_id: &str) -> Result<LogHead, NodeError> {
        Ok(self
            .store
            .log(log_id)
            .await?
            .map(|l| l.head())
            .unwrap_or(LogHead::EMPTY))
    }

    /// Sign payloads as the next entries of `desc`'s log after `head`.
    pub(super) fn sign_chain<'p>(
        &self,
        desc: &LogDescriptor,
        head: LogHead,
        payloads: impl IntoIterator<Item = (&'p str, &'p str)>,
    ) -> Result<Vec<ParsedEntry>, NodeError> {
        let ts = self.now();
        let mut h = head;
        let mut entries = Vec::new();
        for (kind, json) in payloads {
            let e = sign_entry(&self.key, &desc.origin, &desc.audience, h, &ts, kind, json)?;
            h = LogHead {
                seq: e.header.seq,
                hash: e.hash,
            };
            entries.push(e);
        }
        Ok(entries)
    }

    /// A publisher for bulk imports; see [`BulkPublisher`].
    pub(crate) async fn bulk_publisher(&self) -> Result<BulkPublisher<'_>, NodeError> {
        Ok(BulkPublisher {
            node: self,
            _guard: self.lock_writes().await?,
            heads: HashMap::new(),
            inflight: None,
        })
    }

    /// Exclude every other fold-and-append of this node: of this process (a mutex) and of the
    /// node's other processes sharing the store (the store's lock; a no-op for SQLite).
    pub(crate) async fn lock_writes(&self) -> Result<WriteGuard<'_>, NodeError> {
        let local = self.write_lock.lock().await;
        let shared = self.store.lock_writes().await?;
        Ok(WriteGuard {
            _shared: shared,
            _local: local,
        })
    }

    pub(crate) fn announce(&self, desc: &LogDescriptor, head_seq: u64, from: Option<PartnerCode>) {
        // Best effort: if the queue is full, the periodic pull still delivers.
        let _ = self.appended_tx.try_send(Appended {
            log_id: desc.log_id.clone(),
            audience: desc.audience.clone(),
            origin: desc.origin.clone(),
            head_seq,
            from,
        });
    }
}

/// Bulk publishing for imports: batch N+1 is signed and folded while batch N is being written,
/// so the CPU work and the database overlap. Only for STIX objects, whose fold reads nothing
/// from the store (the batch before may not be committed yet). Holds the write lock until
/// dropped; every batch is durable once [`BulkPublisher::finish`] (or the next `push`) returns.
pub(crate) struct BulkPublisher<'a> {
    node: &'a Node,
    _guard: WriteGuard<'a>,
    heads: HashMap<String, LogHead>,
    inflight: Option<InFlight>,
}

type AppendTask = tokio::task::JoinHandle<(Vec<ParsedEntry>, Result<(), StoreError>)>;

struct InFlight {
    desc: LogDescriptor,
    task: AppendTask,
}

impl BulkPublisher<'_> {
    /// Publish `payloads` to `audience`'s log, returning once the batch before is durable.
    pub(crate) async fn push(
        &mut self,
        audience: &Audience,
        payloads: &[(&str, String)],
    ) -> Result<(), NodeError> {
        if !payloads.iter().all(|(kind, _)| *kind == "stix.objects") {
            return Err(NodeError::Internal(
                "bulk publishing is for STIX objects only".into(),
            ));
        }
        let node = self.node;
        let desc = LogDescriptor::new(node.partner().clone(), audience.clone());
        let head = match self.heads.get(&desc.log_id) {
            Some(h) => *h,
            None => node.log_head(&desc.log_id).await?,
        };
        let prepared =
            match node.sign_chain(&desc, head, payloads.iter().map(|(k, j)| (*k, j.as_str()))) {
                Ok(entries) => node.fold(&entries).await.map(|p| (entries, p)),
                Err(e) => Err(e),
            };
        // The batch in flight settles first, even if this one failed to prepare.
        let moved = self.settle().await?;
        let (mut entries, mut projections) = prepared?;
        let mut base = head;
        if moved && let Some(h) = self.heads.get(&desc.log_id).copied().filter(|h| *h != head) {
            // The batch before was re-signed on a moved head: follow it.
            entries = node.sign_chain(&desc, h, entries_kind_payload(&entries))?;
            projections = node.fold(&entries).await?;
            base = h;
        }
        if let Some(h) = head_after(&entries) {
            self.heads.insert(desc.log_id.clone(), h);
        }
        let store = node.store.clone();
        let d = desc.clone();
        let task = tokio::spawn(async move {
            let r = store.append(&d, base, &entries, &projections).await;
            (entries, r)
        });
        self.inflight = Some(InFlight { desc, task });
        Ok(())
    }

    /// Wait for every batch to be durable.
    pub(crate) async fn finish(mut self) -> Result<(), NodeError> {
        self.settle_all().await
    }

    /// Wait for every batch pushed so far to be durable, keeping the publisher.
    pub(crate) async fn settle_all(&mut self) -> Result<(), NodeError> {
        self.settle().await.map(|_| ())
    }

    /// Wait for the batch in flight. If another process moved its log's head meanwhile, re-sign
    /// it on the new head and append it again (returns true: the head this publisher holds for
    /// that log changed).
    async fn settle(&mut self) -> Result<bool, NodeError> {
        let Some(InFlight { desc, task }) = self.inflight.take() else {
            return Ok(false);
        };
        let node = self.node;
        let (mut entries, mut result) = task
            .await
            .map_err(|e| NodeError::Internal(format!("append task: {e}")))?;
        let mut moved = false;
        for _attempt in 0..5 {
            match result {
                Ok(()) => {
                    let last = entries.last().map(|e| e.header.seq).unwrap_or(0);
                    node.announce(&desc, last, None);
                    if let Some(h) = head_after(&entries) {
                        self.heads.insert(desc.log_id.clone(), h);
                    }
                    return Ok(moved);
                }
                Err(StoreError::HeadMoved { .. }) => {
                    moved = true;
                    let head = node.log_head(&desc.log_id).await?;
                    entries = node.sign_chain(&desc, head, entries_kind_payload(&entries))?;
                    let projections = node.fold(&entries).await?;
                    result = node.store.append(&desc, head, &entries, &projections).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(NodeError::Internal(
            "the log head kept moving; try again".into(),
        ))
    }
}

/// (kind, payload) of signed entries, to sign them again on another head.
pub(super) fn entries_kind_payload(entries: &[ParsedEntry]) -> Vec<(&str, &str)> {
    entries
        .iter()
        .map(|e| (e.header.kind.as_str(), e.payload()))
        .collect()
}

/// The head of a log after `entries` (its last entry), if there are any.
pub(super) fn head_after(entries: &[ParsedEntry]) -> Option<LogHead> {
    entries.last().map(|e| LogHead {
        seq: e.header.seq,
        hash: e.hash,
    })
}

/// The answer to a publish whose writer failed before answering it.
fn unanswered() -> NodeError {
    NodeError::Internal("the publish was not answered (its writer failed)".into())
}
