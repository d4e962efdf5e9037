//! The cooperation-network view of a node: computed only from items the caller may see (an
//! item hidden from the caller never contributes an edge, a weight or a count).

use crate::auth::Principal;
use crate::{Node, NodeError};
use entente_domain::analytics::{NetworkStats, network};
use entente_domain::policy;
use entente_store::ItemQuery;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Network views by (user, topic, since, until).
type NetworkKey = (String, Option<String>, Option<String>, Option<String>);

/// This instrument's state on the node (`Node::ext`).
#[derive(Default)]
struct NetworkCache {
    /// Each view with the entries held when it was computed and when its computation started.
    views: std::sync::Mutex<HashMap<NetworkKey, (u64, std::time::Instant, NetworkView)>>,
    /// One lock per key: one computation at a time (see `Node::network`).
    flights: std::sync::Mutex<HashMap<NetworkKey, Arc<tokio::sync::Mutex<()>>>>,
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
        // wait for it, then reuse a view whose computation started after they arrived (it saw
        // every write they could have seen) instead of each reading every item again.
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
        // Otherwise the view is recomputed only when the store has changed since it was cached
        // (the number of entries held grows with every append, any process).
        let held: u64 = self.store.logs().await?.iter().map(|l| l.head_seq).sum();
        if let Some((at, started, view)) = state
            .views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            && (*at == held || *started >= arrived)
        {
            return Ok(view.clone());
        }
        let started = std::time::Instant::now();
        let mut q = ItemQuery {
            topic: f.topic.clone(),
            limit: 5000,
            ..Default::default()
        };
        let mut visible = vec![];
        loop {
            let page = self.store.items(&q).await?;
            let done = page.len() < q.limit as usize;
            q.after = page.last().map(|i| i.item_id.clone());
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
                visible.push((it.created_at[..7].to_owned(), it.audience));
            }
            if done {
                break;
            }
        }
        let mut by_month: BTreeMap<String, Vec<entente_domain::Audience>> = BTreeMap::new();
        for (m, a) in &visible {
            by_month.entry(m.clone()).or_default().push(a.clone());
        }
        let view = NetworkView {
            network: network(visible.iter().map(|(_, a)| a)),
            trend: by_month
                .into_iter()
                .map(|(m, auds)| (m, network(&auds)))
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
        cache.insert(key, (held, started, view.clone()));
        Ok(view)
    }
}
