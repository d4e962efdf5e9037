//! The cooperation-network view of a node: computed only from items the caller may see (an
//! item hidden from the caller never contributes an edge, a weight or a count). A view reads the
//! counts the store keeps by day, topic, audience and readers as it stores items
//! (`entente_store::counts`, issue 18 item 4), filters each row as it would filter the items
//! counted in it, and computes the measures from what is left, so its work grows with the days
//! and distinct audiences (and, for TLP:RED, the distinct sets of readers), not with the items.
//! A filter finer than a day reads the items.

use crate::auth::Principal;
use crate::{Node, NodeError};
use entente_domain::analytics::{NetworkStats, network_counted};
use entente_domain::{Audience, Tlp, policy};
use entente_store::ItemQuery;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Network views by (user, topic, since, until).
type NetworkKey = (String, Option<String>, Option<String>, Option<String>);

/// The last view computed from items for a filter finer than a day, and when its computation
/// started: requests that waited for it reuse it (see `Node::network`).
#[derive(Default)]
struct ScanCache {
    views: std::sync::Mutex<HashMap<NetworkKey, (std::time::Instant, NetworkView)>>,
    /// One lock per key: one reading of every item at a time.
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

/// Items the viewer may see, by month (YYYY-MM) and audience.
type ByMonth = BTreeMap<String, BTreeMap<Audience, u64>>;

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
        // A filter of at most ten bytes (a date, a month, a year) compares with an item's day
        // exactly as with its creation time (`counts::day_of`), so the counts answer it.
        let by_day = |x: &Option<String>| x.as_ref().is_none_or(|s| s.len() <= 10);
        let by_month = if by_day(&f.since) && by_day(&f.until) {
            self.counted(who, &f).await?
        } else {
            match self.scanned(who, &f).await? {
                Ok(by_month) => by_month,
                Err(view) => return Ok(view),
            }
        };
        Ok(view_of(&by_month, f))
    }

    /// The counts of the items the viewer may see, read from the store's counts: a row counts
    /// when an item counted in it would be shown (`policy::may_see` with the row's audience and,
    /// for TLP:RED, its readers).
    async fn counted(&self, who: &Principal, f: &NetworkFilter) -> Result<ByMonth, NodeError> {
        let viewer = who.viewer();
        let rows = self
            .store
            .network_counts(f.topic.as_deref(), f.since.as_deref(), f.until.as_deref())
            .await?;
        let mut by_month = ByMonth::new();
        for r in rows {
            let seen = match r.readers.as_deref() {
                None => policy::may_see(&viewer, &r.audience, Tlp::Green, "", &[]),
                Some([author, named @ ..]) => {
                    policy::may_see(&viewer, &r.audience, Tlp::Red, author, named)
                }
                Some([]) => false,
            };
            if seen {
                *by_month
                    .entry(r.day.get(..7).unwrap_or_default().to_owned())
                    .or_default()
                    .entry(r.audience)
                    .or_default() += r.n;
            }
        }
        Ok(by_month)
    }

    /// The same from every item, for a filter finer than a day. One reading at a time per user
    /// and filter: requests that arrive while one runs wait for it and reuse its view if it
    /// started after they arrived (it saw every write they could have seen). `Err` is that view.
    async fn scanned(
        &self,
        who: &Principal,
        f: &NetworkFilter,
    ) -> Result<Result<ByMonth, NetworkView>, NodeError> {
        let viewer = who.viewer();
        let arrived = std::time::Instant::now();
        let key = (
            viewer.user.clone(),
            f.topic.clone(),
            f.since.clone(),
            f.until.clone(),
        );
        let state = self.ext::<ScanCache>();
        let flight = Arc::clone(
            state
                .flights
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key.clone())
                .or_default(),
        );
        let _one = flight.lock().await;
        if let Some((started, view)) = state
            .views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            && *started >= arrived
        {
            return Ok(Err(view.clone()));
        }
        let started = std::time::Instant::now();
        let mut by_month = ByMonth::new();
        let mut q = ItemQuery {
            topic: f.topic.clone(),
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
                if !policy::user_may_see_item(&viewer, &it)
                    || f.since
                        .as_deref()
                        .is_some_and(|s| it.created_at.as_str() < s)
                    || f.until
                        .as_deref()
                        .is_some_and(|u| it.created_at.as_str() >= u)
                {
                    continue;
                }
                *by_month
                    .entry(it.created_at.get(..7).unwrap_or_default().to_owned())
                    .or_default()
                    .entry(it.audience)
                    .or_default() += 1;
            }
            if done {
                break;
            }
        }
        let view = view_of(&by_month, f.clone());
        let mut cache = state.views.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= 1024 {
            cache.clear();
            state
                .flights
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, f| Arc::strong_count(f) > 1);
        }
        cache.insert(key, (started, view));
        Ok(Ok(by_month))
    }
}

/// The measures over every month and month by month.
fn view_of(by_month: &ByMonth, filter: NetworkFilter) -> NetworkView {
    let mut all: BTreeMap<&Audience, u64> = BTreeMap::new();
    for auds in by_month.values() {
        for (a, n) in auds {
            *all.entry(a).or_default() += n;
        }
    }
    NetworkView {
        network: network_counted(all),
        trend: by_month
            .iter()
            .map(|(m, auds)| {
                (
                    m.clone(),
                    network_counted(auds.iter().map(|(a, n)| (a, *n))),
                )
            })
            .collect(),
        filter,
    }
}
