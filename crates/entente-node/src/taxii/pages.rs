//! Rendered TAXII object pages: the envelope built from stored JSON text without re-parsing
//! it, and a cache of rendered pages on disk, so a collection read again by the same user with
//! the same query costs a file read instead of a store query, a policy check per object and a
//! render (issue 18: the read path near what a static file server does). It owns the bytes of a
//! page; what a page holds stays `read.rs`'s business.
//!
//! What keeps a cached page right:
//! - Its key is the user, their role, the collection and the exact query (the paging token is
//!   in it, and tokens are MACs bound to user and collection), so a page is only ever served to
//!   the user it was rendered for, asking the same question.
//! - Every request still passes the collection's access check (membership, the role may read)
//!   before the cache is consulted, and authentication happened before that.
//! - Its generation is the sum of every log's head sequence in the store: every change that
//!   alters a page (a STIX object added, revised or deleted, an item revised or retracted) is an
//!   appended entry, in this process or another sharing the database, so a page rendered before
//!   is never served after. The generation is read before the page is rendered, so a page
//!   rendered from newer data is at worst labelled older and dropped early.
//! - Reads of AMBER and above are audited on a hit as on a render.
//! - The files live under the node's data directory (which holds the database itself), in a
//!   directory of this process's own (two processes may share a database and a directory), all
//!   removed when a process first uses the cache, and take at most [`BUDGET`] bytes (the
//!   oldest go first). Every page is written under a name of its own, never over another file,
//!   so a reader never sees a page half written; a file that cannot be read is a miss.

use super::*;
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;

/// Disk the cache may use: a million objects' pages are about 500 MB.
pub const BUDGET: u64 = 1 << 30;
/// Pages larger than this are not cached (a page is at most 1,000 objects; this is a guard).
const MAX_PAGE_BYTES: usize = 64 << 20;

/// A page as sent: the envelope's bytes and the first and last `date_added` for the headers.
#[derive(Debug, Clone)]
pub struct RenderedPage {
    pub body: Vec<u8>,
    pub first_added: Option<String>,
    pub last_added: Option<String>,
    /// Whether it came from the cache (for tests and metrics).
    pub cached: bool,
}

/// The envelope of a page: stored JSON text joined, with the releasability marking and
/// extension definitions that the page's objects reference included once.
pub fn envelope_body(page: &ObjectsPage) -> String {
    let mut out =
        String::with_capacity(page.rows.iter().map(|r| r.raw.len() + 1).sum::<usize>() + 128);
    out.push_str(&format!("{{\"more\":{}", page.more));
    if let Some(n) = &page.next {
        out.push_str(&format!(",\"next\":{}", serde_json::json!(n)));
    }
    if !page.rows.is_empty() {
        out.push_str(",\"objects\":[");
        let mut definitions = BTreeSet::new();
        // A page's rows share few audiences: each audience's marking id (a UUIDv5, so a SHA-1)
        // and its searcher are made once per page, not once per object.
        let mut finders: BTreeMap<&Audience, memchr::memmem::Finder<'static>> = BTreeMap::new();
        for (i, r) in page.rows.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&r.raw);
            if definitions.contains(&r.audience) {
                continue;
            }
            let finder = finders.entry(&r.audience).or_insert_with(|| {
                memchr::memmem::Finder::new(stix::releasability_marking_id(&r.audience).as_bytes())
                    .into_owned()
            });
            if finder.find(r.raw.as_bytes()).is_some() {
                definitions.insert(r.audience.clone());
            }
        }
        if !definitions.is_empty() {
            out.push(',');
            out.push_str(&stix::releasability_extension_definition().to_string());
            for a in definitions {
                out.push(',');
                out.push_str(&stix::releasability_marking(&a).to_string());
            }
        }
        out.push(']');
    }
    out.push('}');
    out
}

struct Entry {
    generation: u64,
    path: PathBuf,
    size: u64,
    first_added: Option<String>,
    last_added: Option<String>,
    /// Objects at AMBER or above on the page, audited on every read.
    sensitive: usize,
}

#[derive(Default)]
struct Inner {
    /// The cache directory, set (and emptied) on first use.
    dir: Option<PathBuf>,
    entries: HashMap<[u8; 32], Entry>,
    /// Keys in the order they were stored, oldest first.
    order: VecDeque<[u8; 32]>,
    bytes: u64,
    budget: u64,
    /// Numbers the files, so no two writes share a name.
    written: u64,
}

/// The node's page cache (a node extension: `Node::ext`).
#[derive(Default)]
pub(crate) struct PageCache(std::sync::Mutex<Inner>);

impl PageCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// Drop entries (and their files) until `incoming` more bytes fit in the budget.
    fn make_room(&mut self, incoming: u64) {
        while self.bytes + incoming > self.budget {
            let Some(k) = self.order.pop_front() else {
                break;
            };
            if let Some(e) = self.entries.remove(&k) {
                self.bytes -= e.size;
                let _ = std::fs::remove_file(&e.path);
            }
        }
    }

    fn remove(&mut self, k: &[u8; 32]) {
        if let Some(e) = self.entries.remove(k) {
            self.bytes -= e.size;
            let _ = std::fs::remove_file(&e.path);
            self.order.retain(|x| x != k);
        }
    }
}

impl Node {
    /// A page of a collection's objects, rendered, for the TAXII objects endpoint: from the
    /// page cache when this user asked exactly this before and nothing has been appended
    /// since, else rendered by [`Node::taxii_objects`] and kept. `query` is the request's query
    /// string as sent (part of the key); `f` is its parse.
    pub async fn taxii_objects_rendered(
        &self,
        who: &Principal,
        collection: &str,
        query: &str,
        f: TaxiiFilter,
    ) -> Result<RenderedPage, NodeError> {
        // Authorisation on every request, before the cache is consulted.
        let (fmt, _) = self.taxii_collection(who, collection).await?;
        let generation = self.content_generation().await?;
        let key = page_key(who, &fmt.format_id, query);
        let cache = self.ext::<PageCache>();
        let hit = {
            let mut c = cache.lock();
            match c.entries.get(&key) {
                Some(e) if e.generation == generation => Some((
                    e.path.clone(),
                    e.first_added.clone(),
                    e.last_added.clone(),
                    e.sensitive,
                )),
                Some(_) => {
                    c.remove(&key);
                    None
                }
                None => None,
            }
        };
        if let Some((path, first_added, last_added, sensitive)) = hit {
            if let Ok(body) = tokio::fs::read(&path).await {
                self.audit_sensitive_read(who, sensitive, &fmt.format_id)
                    .await;
                return Ok(RenderedPage {
                    body,
                    first_added,
                    last_added,
                    cached: true,
                });
            }
            cache.lock().remove(&key);
        }
        let page = self.taxii_objects(who, collection, None, f).await?;
        let body = envelope_body(&page).into_bytes();
        let first_added = page.rows.first().map(|r| r.date_added.clone());
        let last_added = page.rows.last().map(|r| r.date_added.clone());
        let sensitive = page
            .rows
            .iter()
            .filter(|r| r.tlp >= entente_domain::Tlp::Amber)
            .count();
        if body.len() <= MAX_PAGE_BYTES {
            self.keep_page(
                &cache,
                key,
                Entry {
                    generation,
                    path: PathBuf::new(),
                    size: body.len() as u64,
                    first_added: first_added.clone(),
                    last_added: last_added.clone(),
                    sensitive,
                },
                &body,
            )
            .await;
        }
        Ok(RenderedPage {
            body,
            first_added,
            last_added,
            cached: false,
        })
    }

    /// Write a rendered page to the cache directory and index it; a failure to write only
    /// means the page is not cached.
    async fn keep_page(&self, cache: &PageCache, key: [u8; 32], mut e: Entry, body: &[u8]) {
        let dir = {
            let mut c = cache.lock();
            if c.dir.is_none() {
                let root = self.cfg.data_dir.join("cache").join("taxii-pages");
                // Pages of an earlier run are of an unknown generation: start empty. (Another
                // live process sharing the directory loses its files too: misses, no harm.)
                let _ = std::fs::remove_dir_all(&root);
                let mut own = [0u8; 8];
                // Without randomness the process number names it (unique among live ones).
                if getrandom::fill(&mut own).is_err() {
                    own = u64::from(std::process::id()).to_be_bytes();
                }
                c.dir = Some(root.join(hex::encode(own)));
                if c.budget == 0 {
                    c.budget = BUDGET;
                }
            }
            let Some(dir) = c.dir.clone() else { return };
            if e.size > c.budget {
                return;
            }
            c.make_room(e.size);
            c.written += 1;
            dir.join(format!("{}.{}", hex::encode(key), c.written))
        };
        e.path = dir;
        let written = match tokio::fs::write(&e.path, body).await {
            Ok(()) => true,
            // The directory is made on first write, and again should it have been removed.
            Err(_) => match e.path.parent() {
                Some(d) if tokio::fs::create_dir_all(d).await.is_ok() => {
                    tokio::fs::write(&e.path, body).await.is_ok()
                }
                _ => false,
            },
        };
        if !written {
            let _ = tokio::fs::remove_file(&e.path).await;
            return;
        }
        let mut c = cache.lock();
        // Another request may have stored the same page meanwhile: keep one.
        c.remove(&key);
        c.bytes += e.size;
        c.order.push_back(key);
        c.entries.insert(key, e);
    }

    /// Pages in the cache and their bytes (for tests).
    pub fn taxii_page_cache_stats(&self) -> (usize, u64) {
        let cache = self.ext::<PageCache>();
        let c = cache.lock();
        (c.entries.len(), c.bytes)
    }

    /// Set the cache's disk budget (tests use a small one to see eviction).
    pub fn set_taxii_page_cache_budget(&self, bytes: u64) {
        self.ext::<PageCache>().lock().budget = bytes;
    }
}

/// The cache key: user, role, collection and the query as sent, hashed.
fn page_key(who: &Principal, collection: &str, query: &str) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    for part in [
        who.user_id().as_str(),
        &format!("{:?}", who.role),
        collection,
        query,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}
