//! The replay cache of signed federation requests: every (peer, nonce) accepted within the
//! clock-skew window, so a captured request cannot be sent again while its date is still
//! accepted. Entries older than the window are forgotten (the date check refuses those).
//! Held in memory per process: a node of several processes behind one address would need a
//! shared cache (see ARCHITECTURE.md, "Not yet").

use entente_domain::PartnerCode;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

/// The most nonces remembered per peer. At the default peer rate limit (6,000 requests a
/// minute) and skew (120 s) a peer sends at most ~12,000 in a window; past this bound new
/// requests are refused rather than memory grown.
const MAX_PER_PEER: usize = 100_000;

#[derive(Debug, Default)]
struct PeerNonces {
    seen: HashSet<[u8; 16]>,
    /// (date, nonce) in arrival order, to forget what falls out of the window.
    order: VecDeque<(i64, [u8; 16])>,
}

#[derive(Debug, Default)]
pub struct ReplayCache {
    peers: Mutex<HashMap<PartnerCode, PeerNonces>>,
}

/// Why a nonce was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Replayed,
    Full,
}

impl ReplayCache {
    /// Accept `nonce` from `peer` once. `date` is the request's signed date, `now` the node's
    /// clock, `window` the accepted skew in seconds.
    pub fn check(
        &self,
        peer: &PartnerCode,
        date: i64,
        nonce: [u8; 16],
        now: i64,
        window: i64,
    ) -> Result<(), Refusal> {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let p = peers.entry(peer.clone()).or_default();
        // Dates arrive roughly in order; anything signed before now - window is refused by
        // the date check already, so it need not be remembered.
        while let Some(&(d, n)) = p.order.front() {
            if d >= now - window {
                break;
            }
            p.order.pop_front();
            p.seen.remove(&n);
        }
        if p.seen.contains(&nonce) {
            return Err(Refusal::Replayed);
        }
        if p.seen.len() >= MAX_PER_PEER {
            return Err(Refusal::Full);
        }
        p.seen.insert(nonce);
        p.order.push_back((date, nonce));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entente_domain::partner::code;

    #[test]
    fn a_nonce_is_accepted_once_per_peer_within_the_window() {
        let c = ReplayCache::default();
        let n = [7u8; 16];
        assert_eq!(c.check(&code("EU"), 1000, n, 1000, 120), Ok(()));
        assert_eq!(
            c.check(&code("EU"), 1000, n, 1001, 120),
            Err(Refusal::Replayed)
        );
        // Another peer's nonce space is its own.
        assert_eq!(c.check(&code("JPN"), 1000, n, 1001, 120), Ok(()));
        // Once the date is out of the window the entry is forgotten (the date check refuses
        // such a request before it gets here).
        assert_eq!(c.check(&code("EU"), 1200, [8u8; 16], 1200, 120), Ok(()));
        assert_eq!(c.check(&code("EU"), 1200, n, 1200, 120), Ok(()));
    }
}
