//! The serving side of federation: authenticating a peer's signed request and answering it with
//! the logs and entries the peer may see.

use super::*;

impl Node {
    /// Authenticate a signed federation request; returns the calling partner.
    pub fn fed_authenticate(&self, req: &SignedRequest<'_>) -> Result<PartnerCode, NodeError> {
        let r = self.fed_authenticate_inner(req);
        if let Err(NodeError::PeerAuth(e)) = &r {
            self.metrics.fed_refused(e.reason());
        }
        r
    }

    pub(super) fn fed_authenticate_inner(
        &self,
        req: &SignedRequest<'_>,
    ) -> Result<PartnerCode, NodeError> {
        let now = self.clock.now().unix_timestamp();
        let skew = self.cfg.sync.max_clock_skew;
        let v = fed::verify_request(req, self.partner(), now, skew, |p| {
            // Only configured peers may call; our own key is not a peer key.
            if p == self.partner() {
                None
            } else {
                // A suspended (or removed) peer's key still verifies what it signed before, but
                // it may no longer call.
                self.peer(p)
                    .filter(|x| x.record.state == "active")
                    .map(|x| x.key)
            }
        })?;
        // Over TLS the channel names its partner too (the client certificate is bound to a
        // pinned node key): it must be the one that signed.
        if let fed::Channel::Tls { client } = &req.channel {
            match client {
                Some(c) if c == v.partner.as_str() => {}
                _ => return Err(crate::error::PeerAuthError::TlsIdentity.into()),
            }
        }
        // A request is accepted once: a captured one replayed within the window is refused
        // before it costs the peer's budget.
        match self
            .replay
            .check(&v.partner, v.date, v.nonce, now, skew.as_secs() as i64)
        {
            Ok(()) => {}
            Err(crate::replay::Refusal::Replayed) => {
                return Err(crate::error::PeerAuthError::Replayed.into());
            }
            Err(crate::replay::Refusal::Full) => {
                return Err(NodeError::RateLimited { retry_after: 1 });
            }
        }
        // Charged once the signature verified: nobody can drain a peer's budget for it.
        self.charge("peer", v.partner.as_str())?;
        Ok(v.partner)
    }

    /// The logs `caller` may receive from this node: every held log, own or forwarded,
    /// whose audience contains the caller.
    pub async fn fed_logs(&self, caller: &PartnerCode) -> Result<LogsResponse, NodeError> {
        let logs = self
            .store
            .logs()
            .await?
            .into_iter()
            .filter(|l| policy::may_forward(self.partner(), caller, &l.audience))
            .map(|l| RemoteLog {
                log_id: l.log_id,
                origin: l.origin,
                audience: l.audience,
                head_seq: l.head_seq,
            })
            .collect();
        Ok(LogsResponse {
            partner: self.partner().clone(),
            logs,
        })
    }

    /// A page of a log for `caller`. A log the caller is not in the audience of is reported
    /// exactly like a log that does not exist.
    pub async fn fed_entries(
        &self,
        caller: &PartnerCode,
        log_id: &str,
        after: u64,
        limit: u32,
    ) -> Result<fed::EntriesResponse, NodeError> {
        let log: LogInfo = self
            .store
            .log(log_id)
            .await?
            .ok_or(NodeError::NotFound("log"))?;
        if !policy::may_forward(self.partner(), caller, &log.audience) {
            return Err(NodeError::NotFound("log"));
        }
        let limit = limit.clamp(1, self.cfg.sync.page_size.max(1));
        let mut entries = self.store.entries_after(log_id, after, limit).await?;
        // Cap a page's size too: entries carrying STIX envelopes can be large.
        let mut bytes = 0usize;
        if let Some(cut) = entries.iter().position(|e| {
            bytes += e.body.len();
            bytes > 16 * 1024 * 1024
        }) {
            entries.truncate(cut.max(1));
        }
        Ok(fed::EntriesResponse {
            log_id: log_id.to_owned(),
            entries,
        })
    }

    /// A peer says it has something new: pull from it soon.
    pub fn fed_notify(&self, caller: &PartnerCode) {
        let _ = self.wake_tx.try_send(caller.clone());
    }

    pub async fn forks(&self) -> Result<Vec<entente_store::ForkEvidence>, NodeError> {
        Ok(self.store.forks().await?)
    }
}
