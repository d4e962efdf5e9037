//! A store for tests that passes every call to another store and can hold an append after it
//! has committed: the window in which a write is durable but its caller has not heard yet. A
//! caller cancelled in that window must not make anyone write twice; only a double of the store
//! can open the window wide enough to test that. It owns no data and no behaviour of its own.

use async_trait::async_trait;
use entente_domain::{FormatState, ItemState, PartnerCode, Role};
use entente_log::{LogDescriptor, LogHead, ParsedEntry, SignedEntry};
use entente_store::*;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// An append held after its commit: told when it has committed, let go when released.
type Held = (oneshot::Sender<()>, oneshot::Receiver<()>);

/// Every call goes to `inner`; an append can be held after its commit (see
/// [`GatedStore::hold_next_append`]).
pub struct GatedStore {
    inner: Arc<dyn Store>,
    held: Mutex<Option<Held>>,
    held_audit: Mutex<Option<Held>>,
}

/// If a hold is armed: say the write has committed, and wait to be released.
async fn hold(slot: &Mutex<Option<Held>>) {
    let held = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some((committed, release)) = held {
        let _ = committed.send(());
        let _ = release.await;
    }
}

/// Arm a hold; see [`GatedStore::hold_next_append`].
fn arm(slot: &Mutex<Option<Held>>) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
    let (committed_tx, committed_rx) = oneshot::channel();
    let (release_tx, release_rx) = oneshot::channel();
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((committed_tx, release_rx));
    (committed_rx, release_tx)
}

impl GatedStore {
    pub fn new(inner: Arc<dyn Store>) -> GatedStore {
        GatedStore {
            inner,
            held: Mutex::new(None),
            held_audit: Mutex::new(None),
        }
    }

    /// Hold the next append once it has committed. The first half fires when it has (the
    /// entries are durable, the caller not yet answered); the append returns when the second
    /// half is sent or dropped.
    pub fn hold_next_append(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        arm(&self.held)
    }

    /// The same for the next run of audit records.
    pub fn hold_next_audit_run(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        arm(&self.held_audit)
    }
}

#[async_trait]
impl Store for GatedStore {
    async fn append(
        &self,
        log: &LogDescriptor,
        expected: LogHead,
        entries: &[ParsedEntry],
        projections: &[Projection],
    ) -> Result<()> {
        self.inner
            .append(log, expected, entries, projections)
            .await?;
        hold(&self.held).await;
        Ok(())
    }

    async fn lock_writes(&self) -> Result<Box<dyn WriteLock>> {
        self.inner.lock_writes().await
    }

    async fn claim_partner(&self, partner: &PartnerCode) -> Result<()> {
        self.inner.claim_partner(partner).await
    }

    async fn backup_to(&self, path: &std::path::Path) -> Result<()> {
        self.inner.backup_to(path).await
    }

    async fn log(&self, log_id: &str) -> Result<Option<LogInfo>> {
        self.inner.log(log_id).await
    }

    async fn logs(&self) -> Result<Vec<LogInfo>> {
        self.inner.logs().await
    }

    async fn entries_after(
        &self,
        log_id: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<SignedEntry>> {
        self.inner.entries_after(log_id, after_seq, limit).await
    }

    async fn entry_hashes(
        &self,
        log_id: &str,
        from_seq: u64,
        to_seq: u64,
    ) -> Result<Vec<(u64, [u8; 32])>> {
        self.inner.entry_hashes(log_id, from_seq, to_seq).await
    }

    async fn record_fork(&self, fork: &ForkEvidence) -> Result<()> {
        self.inner.record_fork(fork).await
    }

    async fn put_witness(&self, w: &WitnessRecord) -> Result<()> {
        self.inner.put_witness(w).await
    }

    async fn witnesses(&self) -> Result<Vec<WitnessRecord>> {
        self.inner.witnesses().await
    }

    async fn forks(&self) -> Result<Vec<ForkEvidence>> {
        self.inner.forks().await
    }

    async fn format(&self, format_id: &str) -> Result<Option<FormatState>> {
        self.inner.format(format_id).await
    }

    async fn formats(&self) -> Result<Vec<FormatState>> {
        self.inner.formats().await
    }

    async fn item(&self, item_id: &str) -> Result<Option<ItemState>> {
        self.inner.item(item_id).await
    }

    async fn items(&self, q: &ItemQuery) -> Result<Vec<ItemState>> {
        self.inner.items(q).await
    }

    async fn items_by_id(&self, ids: &[String]) -> Result<Vec<ItemState>> {
        self.inner.items_by_id(ids).await
    }

    async fn network_counts(
        &self,
        topic: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<Vec<entente_store::counts::NetworkCount>> {
        self.inner.network_counts(topic, since, until).await
    }

    async fn object(&self, kind: &str, id: &str) -> Result<Option<String>> {
        self.inner.object(kind, id).await
    }

    async fn objects(&self, kind: &str) -> Result<Vec<String>> {
        self.inner.objects(kind).await
    }

    async fn statement(
        &self,
        statement_id: &str,
    ) -> Result<Option<entente_domain::statement::StatementState>> {
        self.inner.statement(statement_id).await
    }

    async fn statements(&self) -> Result<Vec<entente_domain::statement::StatementState>> {
        self.inner.statements().await
    }

    async fn stix_query(&self, q: &StixQuery) -> Result<Vec<StixRow>> {
        self.inner.stix_query(q).await
    }

    async fn stix_owners(
        &self,
        collection: &str,
        ids: &[&str],
    ) -> Result<Vec<(String, PartnerCode)>> {
        self.inner.stix_owners(collection, ids).await
    }

    async fn put_status(&self, status_id: &str, username: &str, json: &str) -> Result<()> {
        self.inner.put_status(status_id, username, json).await
    }

    async fn status(&self, status_id: &str) -> Result<Option<(String, String)>> {
        self.inner.status(status_id).await
    }

    async fn append_audit(&self, run: &[AuditRecord]) -> Result<()> {
        self.inner.append_audit(run).await?;
        hold(&self.held_audit).await;
        Ok(())
    }

    async fn audit_head(&self) -> Result<Option<AuditRecord>> {
        self.inner.audit_head().await
    }

    async fn audit_records(&self, after: u64, limit: u32) -> Result<Vec<AuditRecord>> {
        self.inner.audit_records(after, limit).await
    }

    async fn upsert_peer(&self, peer: &PeerRecord) -> Result<()> {
        self.inner.upsert_peer(peer).await
    }

    async fn peers(&self) -> Result<Vec<PeerRecord>> {
        self.inner.peers().await
    }

    async fn set_peer_status(
        &self,
        partner: &PartnerCode,
        at: &str,
        error: Option<&str>,
    ) -> Result<()> {
        self.inner.set_peer_status(partner, at, error).await
    }

    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        self.inner.create_user(user).await
    }

    async fn user(&self, username: &str) -> Result<Option<UserRecord>> {
        self.inner.user(username).await
    }

    async fn users(&self) -> Result<Vec<UserRecord>> {
        self.inner.users().await
    }

    async fn create_token(&self, token: &TokenRecord) -> Result<()> {
        self.inner.create_token(token).await
    }

    async fn token(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
        self.inner.token(token_hash).await
    }

    async fn delete_token(&self, token_hash: &str) -> Result<()> {
        self.inner.delete_token(token_hash).await
    }

    async fn update_user(
        &self,
        username: &str,
        role: Option<Role>,
        disabled: Option<bool>,
    ) -> Result<bool> {
        self.inner.update_user(username, role, disabled).await
    }

    async fn set_user_settings(&self, username: &str, settings: &UserSettings) -> Result<bool> {
        self.inner.set_user_settings(username, settings).await
    }

    async fn set_read_mark(&self, username: &str, thread_id: &str, seen: &str) -> Result<()> {
        self.inner.set_read_mark(username, thread_id, seen).await
    }

    async fn read_marks(&self, username: &str) -> Result<Vec<(String, String)>> {
        self.inner.read_marks(username).await
    }

    async fn queue_notifications(&self, n: &[NotificationRecord]) -> Result<()> {
        self.inner.queue_notifications(n).await
    }

    async fn due_notifications(&self, now: &str, limit: u32) -> Result<Vec<NotificationRecord>> {
        self.inner.due_notifications(now, limit).await
    }

    async fn update_notification(&self, n: &NotificationRecord) -> Result<()> {
        self.inner.update_notification(n).await
    }

    async fn notifications(&self, limit: u32) -> Result<Vec<NotificationRecord>> {
        self.inner.notifications(limit).await
    }

    async fn notify_cursors(&self) -> Result<Vec<(String, u64)>> {
        self.inner.notify_cursors().await
    }

    async fn set_notify_cursors(&self, cursors: &[(String, u64)]) -> Result<()> {
        self.inner.set_notify_cursors(cursors).await
    }

    async fn prune_notifications(&self, before: &str) -> Result<u64> {
        self.inner.prune_notifications(before).await
    }

    async fn undigest_notifications(
        &self,
        recipient: &str,
        kind: &str,
        due_at: &str,
    ) -> Result<u64> {
        self.inner
            .undigest_notifications(recipient, kind, due_at)
            .await
    }

    async fn delete_user(&self, username: &str) -> Result<bool> {
        self.inner.delete_user(username).await
    }

    async fn tokens(&self, username: Option<&str>) -> Result<Vec<TokenRecord>> {
        self.inner.tokens(username).await
    }

    async fn set_peer_state(&self, partner: &PartnerCode, state: &str) -> Result<bool> {
        self.inner.set_peer_state(partner, state).await
    }

    async fn put_blob_chunk(&self, sha256: &str, index: u32, data: &[u8], at: &str) -> Result<()> {
        self.inner.put_blob_chunk(sha256, index, data, at).await
    }

    async fn blob_chunk(&self, sha256: &str, index: u32) -> Result<Option<Vec<u8>>> {
        self.inner.blob_chunk(sha256, index).await
    }

    async fn blob_chunk_indexes(&self, sha256: &str) -> Result<Vec<u32>> {
        self.inner.blob_chunk_indexes(sha256).await
    }

    async fn drop_blob_chunks(&self, sha256: &str) -> Result<()> {
        self.inner.drop_blob_chunks(sha256).await
    }

    async fn complete_blob(&self, b: &BlobInfo, uploader: Option<&str>) -> Result<()> {
        self.inner.complete_blob(b, uploader).await
    }

    async fn blob(&self, sha256: &str) -> Result<Option<BlobInfo>> {
        self.inner.blob(sha256).await
    }

    async fn blob_uploaded_by(&self, sha256: &str, username: &str) -> Result<bool> {
        self.inner.blob_uploaded_by(sha256, username).await
    }

    async fn put_blob_text(&self, sha256: &str, text: &str) -> Result<()> {
        self.inner.put_blob_text(sha256, text).await
    }

    async fn blob_text(&self, sha256: &str) -> Result<Option<String>> {
        self.inner.blob_text(sha256).await
    }

    async fn verify_blob_for_item(&self, sha256: &str, item_id: &str) -> Result<()> {
        self.inner.verify_blob_for_item(sha256, item_id).await
    }

    async fn blob_for_item(&self, sha256: &str, item_id: &str) -> Result<bool> {
        self.inner.blob_for_item(sha256, item_id).await
    }

    async fn missing_blobs(
        &self,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<(String, String, u64)>> {
        self.inner.missing_blobs(after, limit).await
    }

    async fn quarantine_blob(
        &self,
        sha256: &str,
        item_id: &str,
        finding: &str,
        at: &str,
    ) -> Result<()> {
        self.inner
            .quarantine_blob(sha256, item_id, finding, at)
            .await
    }

    async fn blob_quarantine(&self, sha256: &str, item_id: Option<&str>) -> Result<Option<String>> {
        self.inner.blob_quarantine(sha256, item_id).await
    }
    async fn quarantined_blobs(
        &self,
        sha256: Option<&str>,
        limit: u32,
    ) -> Result<Vec<QuarantineRecord>> {
        self.inner.quarantined_blobs(sha256, limit).await
    }
    async fn release_blob_quarantine(
        &self,
        b: &BlobInfo,
        item_ids: &[String],
        overridden: Option<&str>,
    ) -> Result<Vec<String>> {
        self.inner
            .release_blob_quarantine(b, item_ids, overridden)
            .await
    }
    async fn drop_abandoned_blobs(&self, before: &str, limit: u32) -> Result<Vec<String>> {
        self.inner.drop_abandoned_blobs(before, limit).await
    }
    async fn held_blobs(&self, after: Option<&str>, limit: u32) -> Result<Vec<BlobInfo>> {
        self.inner.held_blobs(after, limit).await
    }
    async fn quarantine_held_blob(
        &self,
        sha256: &str,
        finding: &str,
        at: &str,
    ) -> Result<Vec<String>> {
        self.inner.quarantine_held_blob(sha256, finding, at).await
    }
}
