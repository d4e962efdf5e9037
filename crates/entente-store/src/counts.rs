//! The counts behind the cooperation-network view (issue 18 item 4): items by topic, day of
//! creation, audience and readers, which every backend keeps in the transaction that stores the
//! items, so a view is a read of a small table rather than of every item. This module owns
//! which keys an item is counted under and the change a run of item states makes to them; the
//! backends only store the sums. Not here: the measures (entente-domain's analytics) and who
//! may see a row (the node filters each row with `policy::may_see`, as it filters items).

use crate::codec::corrupt;
use crate::{Result, StoreError};
use entente_domain::{Audience, ItemState, Tlp};
use std::collections::{BTreeMap, HashMap};

/// One row of counts, as a view reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkCount {
    /// The first ten bytes of the items' `created_at` (YYYY-MM-DD).
    pub day: String,
    pub audience: Audience,
    /// For TLP:RED items, who may read them (their author, then the users named); None for
    /// every other marking, which any user of a partner in the audience may read.
    pub readers: Option<Vec<String>>,
    pub n: u64,
}

/// Where an item is counted. `topic` is "" for the row that counts every item, so a view
/// without a topic reads one row per (day, audience, readers), not one per topic. Every part of
/// the key is bounded, whatever a peer sends (PostgreSQL refuses index entries over ~2.7 kB,
/// which would stop the log from applying): topics only from the taxonomy, the day at most ten
/// bytes, the readers by their hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountKey {
    pub topic: String,
    pub day: String,
    /// `Audience::key`.
    pub audience: String,
    /// "" when not TLP:RED, otherwise the hex SHA-256 of `readers`.
    pub readers_key: String,
    /// "" when not TLP:RED, otherwise the JSON array of the readers (kept beside the key).
    pub readers: String,
}

/// The day an item counts under: the first ten bytes of `created_at` (cut back to a character
/// boundary). A filter of at most ten bytes compares with the day exactly as with the whole
/// `created_at` whenever the first ten bytes are whole characters — always for the RFC 3339
/// times nodes sign —, which is what lets a view filter by date on the counts; a longer filter
/// needs the items.
pub fn day_of(created_at: &str) -> &str {
    let mut end = created_at.len().min(10);
    while !created_at.is_char_boundary(end) {
        end -= 1;
    }
    &created_at[..end]
}

/// Where an item is counted, borrowed from its state: (topic, day, audience, for TLP:RED its
/// author and named users). A run of items is summed under these and only the distinct keys
/// become [`CountKey`]s, so storing a run allocates per key, not per item.
type Borrowed<'a> = (
    &'a str,
    &'a str,
    &'a Audience,
    Option<(&'a str, &'a [String])>,
);

fn borrowed_keys(it: &ItemState) -> impl Iterator<Item = Borrowed<'_>> {
    let day = day_of(&it.created_at);
    let readers = (it.tlp == Tlp::Red).then_some((it.author.as_str(), it.named_users.as_slice()));
    // A topic outside the taxonomy cannot be asked for (the view refuses it), so it is counted
    // only in the row of all items.
    let mut topics: Vec<&str> = it
        .topics
        .iter()
        .map(String::as_str)
        .filter(|t| entente_domain::taxonomy::is_topic(t))
        .collect();
    topics.sort_unstable();
    topics.dedup();
    std::iter::once("")
        .chain(topics)
        .map(move |topic| (topic, day, &it.audience, readers))
}

fn owned(k: Borrowed<'_>) -> CountKey {
    use sha2::Digest;
    let (topic, day, audience, readers) = k;
    let readers = readers.map_or_else(String::new, |(author, named)| {
        let r: Vec<&str> = std::iter::once(author)
            .chain(named.iter().map(String::as_str))
            .collect();
        serde_json::to_string(&r).expect("strings serialise")
    });
    CountKey {
        topic: topic.to_owned(),
        day: day.to_owned(),
        audience: audience.key(),
        readers_key: if readers.is_empty() {
            String::new()
        } else {
            hex::encode(sha2::Sha256::digest(readers.as_bytes()))
        },
        readers,
    }
}

/// The keys one stored item state counts under: once for all items and once per distinct topic.
pub fn count_keys(it: &ItemState) -> Vec<CountKey> {
    borrowed_keys(it).map(owned).collect()
}

/// Whether a projected item state may replace one already stored: a revision or a retraction.
/// A first revision comes only from the entry that publishes the item, which the fold applies
/// once and refuses for an id already held, so it never replaces a stored state; a backend
/// reads the stored states of the others only.
pub fn may_be_stored(it: &ItemState) -> bool {
    it.revision > 1 || it.retracted.is_some()
}

/// The change to the counts made by storing `items` in order over `stored` (the states already
/// held of those among them that [`may_be_stored`], by item id). Keys whose change is zero are
/// left out, so a revision that moves nothing writes nothing.
pub fn count_changes<'s, 'a: 's>(
    stored: &'s HashMap<String, ItemState>,
    items: impl IntoIterator<Item = &'a ItemState>,
) -> BTreeMap<CountKey, i64> {
    let mut current: HashMap<&'s str, &'s ItemState> =
        stored.iter().map(|(id, it)| (id.as_str(), it)).collect();
    let mut change: HashMap<Borrowed<'s>, i64> = HashMap::new();
    for it in items {
        if let Some(old) = current.insert(&it.item_id, it) {
            for k in borrowed_keys(old) {
                *change.entry(k).or_default() -= 1;
            }
        }
        for k in borrowed_keys(it) {
            *change.entry(k).or_default() += 1;
        }
    }
    change
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(k, n)| (owned(k), n))
        .collect()
}

/// Every key of every item, for filling the counts from items stored before they were kept.
pub fn count_all<'a>(items: impl IntoIterator<Item = &'a ItemState>) -> BTreeMap<CountKey, i64> {
    count_changes(&HashMap::new(), items)
}

/// A stored row read back; one that does not decode is a corrupt store.
pub fn decode_row(day: String, audience: &str, readers: &str, n: i64) -> Result<NetworkCount> {
    let audience = Audience::parse_key(audience).map_err(|e| corrupt("counted audience", e))?;
    let readers = if readers.is_empty() {
        None
    } else {
        Some(serde_json::from_str(readers).map_err(|e| corrupt("counted readers", e))?)
    };
    let n = u64::try_from(n)
        .map_err(|_| StoreError::Corrupt(format!("a negative count ({n}) for {day}")))?;
    Ok(NetworkCount {
        day,
        audience,
        readers,
        n,
    })
}
