//! The cooperation-network view of a node: computed only from items the caller may see (an
//! item hidden from the caller never contributes an edge, a weight or a count), from counts per
//! month and audience that each view keeps and brings up to date by reading only the items
//! received since (issue 18 item 4).

use crate::auth::Principal;
use crate::{Node, NodeError};
use entente_domain::analytics::{NetworkStats, network_counted};
use entente_domain::{Audience, policy};
use entente_log::ParsedEntry;
use entente_store::{ItemQuery, Projection};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Network views by (user, topic, since, until).
type NetworkKey = (String, Option<String>, Option<String>, Option<String>);

/// What one view has counted: the items it may show, by month and audience, read up to
/// `cursor` (the last item read, in the order this node received items), with the store's and
/// this process's state when it was brought up to date. The measures are computed from these
/// counts, whose size grows with the months and distinct audiences, not with the items.
#[derive(Clone, Default)]
struct Counted {
    by_month: BTreeMap<String, BTreeMap<Audience, u64>>,
    cursor: Option<String>,
    /// Entries held (sum of the log heads), entries this process committed, and item revisions
    /// this process committed, when last brought up to date.
    held: u64,
    local: u64,
    revisions: u64,
    /// The view computed from these counts, and when that computation started.
    view: Option<(std::time::Instant, NetworkView)>,
}

/// This instrument's state on the node (`Node::ext`).
#[derive(Default)]
struct NetworkCache {
    views: std::sync::Mutex<HashMap<NetworkKey, Counted>>,
    /// One lock per key: one computation at a time (see `Node::network`).
    flights: std::sync::Mutex<HashMap<NetworkKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Entries committed by this process, and how many of them revised or retracted an item
    /// (a change to what is already counted: its topics, its marking, who may see it).
    local: AtomicU64,
    revisions: AtomicU64,
}

/// Keeps [`NetworkCache`]'s tallies as entries are committed (registered in `Node::new`).
pub(crate) struct NetworkHook;

impl crate::node::Hook for NetworkHook {
    fn committed(&self, node: &Node, projections: &mut Vec<Projection>, entries: &[ParsedEntry]) {
        let state = node.ext::<NetworkCache>();
        let changed = projections
            .iter()
            .filter(
                |p| matches!(p, Projection::Item(it) if it.revision > 1 || it.retracted.is_some()),
            )
            .count() as u64;
        if changed > 0 {
            state.revisions.fetch_add(changed, Ordering::SeqCst);
        }
        state
            .local
            .fetch_add(entries.len() as u64, Ordering::SeqCst);
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetworkFilter {
    pub topic: Option<String>,
    /// RFC 3339 or a date: items created at or after.
    pub since: Option<String>,
    /// Items created before.
    pub until: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkView {
    pub filter: NetworkFilter,
    pub network: NetworkStats,
    /// The same measures month by month (YYYY-MM), for the trend.
    pub trend: Vec<(String, NetworkStats)>,
}

impl Node {
    pub async fn network(
        &self,
        who: &Principal,
        f: NetworkFilter,
    ) -> Result<NetworkView, NodeError> {
        if let Some(t) = &f.topic
            && !entente_domain::taxonomy::is_topic(t)
        {
            return Err(entente_domain::DomainError::UnknownTopic(t.clone()).into());
        }
        let viewer = who.viewer();
        let arrived = std::time::Instant::now();
        let key = (
            viewer.user.clone(),
            f.topic.clone(),
            f.since.clone(),
            f.until.clone(),
        );
        // One computation at a time per user and filter: requests that arrive while one runs
        // wait for it, then reuse its view if it started after they arrived (it saw every write
        // they could have seen); otherwise they read only what arrived after it counted.
        let state = self.ext::<NetworkCache>();
        let flight = Arc::clone(
            state
                .flights
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key.clone())
                .or_default(),
        );
        let _one = flight.lock().await;
        // Counting goes on from where this view stopped: only the items received since are
        // read. That holds while nothing already counted changed: no item was revised or
        // retracted here, and no other process appended (the entries held grew by exactly what
        // this process committed). Otherwise every item is read again. This process's tallies
        // are read before the store's: a commit between the reads makes them disagree, which
        // only costs a full count.
        let kept = state
            .views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some((started, view)) = kept.as_ref().and_then(|c| c.view.as_ref())
            && *started >= arrived
        {
            return Ok(view.clone());
        }
        let started = std::time::Instant::now();
        let revisions = state.revisions.load(Ordering::SeqCst);
        let local = state.local.load(Ordering::SeqCst);
        let held: u64 = self.store.logs().await?.iter().map(|l| l.head_seq).sum();
        if let Some(c) = &kept
            && (c.held, c.local, c.revisions) == (held, local, revisions)
            && let Some((_, view)) = &c.view
        {
            return Ok(view.clone());
        }
        let mut counted = kept
            .filter(|c| {
                c.revisions == revisions && held.checked_sub(c.held) == local.checked_sub(c.local)
            })
            .unwrap_or_default();
        let mut q = ItemQuery {
            topic: f.topic.clone(),
            after: counted.cursor.clone(),
            limit: 5000,
            ..Default::default()
        };
        loop {
            let page = self.store.items(&q).await?;
            let done = page.len() < q.limit as usize;
            if let Some(last) = page.last() {
                q.after = Some(last.item_id.clone());
            }
            for it in page {
                if !policy::user_may_see_item(&viewer, &it) {
                    continue;
                }
                if f.since
                    .as_deref()
                    .is_some_and(|s| it.created_at.as_str() < s)
                    || f.until
                        .as_deref()
                        .is_some_and(|u| it.created_at.as_str() >= u)
                {
                    continue;
                }
                *counted
                    .by_month
                    .entry(it.created_at.get(..7).unwrap_or_default().to_owned())
                    .or_default()
                    .entry(it.audience)
                    .or_default() += 1;
            }
            if done {
                break;
            }
        }
        counted.cursor = q.after;
        (counted.held, counted.local, counted.revisions) = (held, local, revisions);
        let mut all: BTreeMap<&Audience, u64> = BTreeMap::new();
        for auds in counted.by_month.values() {
            for (a, n) in auds {
                *all.entry(a).or_default() += n;
            }
        }
        let view = NetworkView {
            network: network_counted(all),
            trend: counted
                .by_month
                .iter()
                .map(|(m, auds)| {
                    (
                        m.clone(),
                        network_counted(auds.iter().map(|(a, n)| (a, *n))),
                    )
                })
                .collect(),
            filter: f,
        };
        let mut cache = state.views.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= 1024 {
            cache.clear();
            state
                .flights
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, f| Arc::strong_count(f) > 1);
        }
        counted.view = Some((started, view.clone()));
        cache.insert(key, counted);
        Ok(view)
    }
}
