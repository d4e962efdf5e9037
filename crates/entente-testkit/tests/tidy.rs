//! The tidy test: ARCHITECTURE.md's invariants as checks over the source tree. Every source file
//! opens with a `//!` line; no source file grows past the size limit; the dependency rules
//! between crates hold (domain, log and the wire protocol do no IO, only the server names a concrete backend,
//! product crates never depend on the test kit); no import cycle among a crate's modules; and
//! applied migrations are never edited (each is pinned by its hash); and the node's core
//! calls no instrument (they attach through `Node::ext` and hooks); and every REST operation
//! the API routes is in its OpenAPI document.
//!
//! Files over the limit and the known module cycles are listed with their size today: a
//! ratchet. A listed file that grows, a new file over the limit, a new cycle or a cycle that
//! takes in another module fails; a listed file that shrinks under the limit must leave the
//! list. The lists empty as issue 17 proceeds.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 800;

/// Files over the limit today, with their line count: they may shrink, not grow.
const OVERSIZED: &[(&str, usize)] = &[];

/// Modules that import each other in a circle today, per crate (issue 17 cuts them): a new
/// circle, or one that takes in another module, fails.
const KNOWN_CYCLES: &[(&str, &[&str])] = &[
    // `item` and `payload` name each other's types; `stix` maps items.
    (
        "entente-domain",
        &["alert", "item", "payload", "statement", "stix"],
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn crates() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    v.sort();
    v
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn rel(p: &Path) -> String {
    let r = p
        .strip_prefix(root())
        .unwrap_or(p)
        .to_string_lossy()
        .to_string();
    r.trim_start_matches("../").to_owned()
}

fn src_files() -> Vec<PathBuf> {
    let mut out = vec![];
    for c in crates() {
        rust_files(&c.join("src"), &mut out);
    }
    out.sort();
    out
}

#[test]
fn every_source_file_opens_with_a_doc_line() {
    let missing: Vec<String> = src_files()
        .into_iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            !first.starts_with("//!")
        })
        .map(|p| rel(&p))
        .collect();
    assert!(
        missing.is_empty(),
        "start these with a `//!` line saying what the module owns: {missing:?}"
    );
}

fn canonical(p: &str) -> String {
    p.trim_start_matches("./").to_owned()
}

#[test]
fn no_source_file_grows_past_the_limit() {
    let listed: BTreeMap<String, usize> =
        OVERSIZED.iter().map(|(p, n)| (canonical(p), *n)).collect();
    let mut problems = vec![];
    for p in src_files() {
        let name = rel(&p);
        let lines = std::fs::read_to_string(&p).unwrap().lines().count();
        match listed.get(&name) {
            Some(&max) if lines > max => problems.push(format!(
                "{name}: {lines} lines, was {max}: split it by concern instead of growing it"
            )),
            Some(_) if lines <= MAX_LINES => problems.push(format!(
                "{name}: {lines} lines, under the limit now: remove it from OVERSIZED"
            )),
            Some(_) => {}
            None if lines > MAX_LINES => problems.push(format!(
                "{name}: {lines} lines, over {MAX_LINES}: split it by concern"
            )),
            None => {}
        }
    }
    for name in listed.keys() {
        if !root().join(name).is_file() {
            problems.push(format!("{name}: gone: remove it from OVERSIZED"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The `[dependencies]` (not dev-dependencies) of a crate, by name.
fn dependencies(krate: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    doc.get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

fn name(krate: &Path) -> String {
    krate.file_name().unwrap().to_string_lossy().to_string()
}

#[test]
fn the_dependency_rules_between_crates_hold() {
    let mut problems = vec![];
    // Crates that exist to test or measure; everything else is product.
    let not_product = ["entente-testkit", "entente-bench"];
    for c in crates() {
        let n = name(&c);
        let deps = dependencies(&c);
        if matches!(
            n.as_str(),
            "entente-domain" | "entente-log" | "entente-wire"
        ) {
            for io in [
                "tokio", "sqlx", "reqwest", "hyper", "axum", "tantivy", "rustls",
            ] {
                if deps.contains(io) {
                    problems.push(format!("{n} depends on {io}: it must do no IO"));
                }
            }
            let mut files = vec![];
            rust_files(&c.join("src"), &mut files);
            for f in files {
                let text = std::fs::read_to_string(&f).unwrap();
                for io in [
                    "std::fs",
                    "std::net",
                    "tokio::",
                    "SystemTime::now",
                    "OffsetDateTime::now",
                ] {
                    if text.contains(io) {
                        problems.push(format!("{}: uses {io}: the crate does no IO", rel(&f)));
                    }
                }
            }
        }
        let backend_ok = matches!(
            n.as_str(),
            "entente-server" | "entente-testkit" | "entente-bench"
        );
        for b in ["entente-store-sqlite", "entente-store-postgres"] {
            if deps.contains(b) && !backend_ok {
                problems.push(format!(
                    "{n} depends on {b}: only the server names a concrete backend"
                ));
            }
        }
        // The wire protocol stands alone: a client needs nothing of the node to speak it.
        if n == "entente-wire" {
            for d in &deps {
                if d.starts_with("entente-")
                    && !matches!(d.as_str(), "entente-domain" | "entente-log")
                {
                    problems.push(format!("entente-wire depends on {d}: it must stand alone"));
                }
            }
        }
        if !not_product.contains(&n.as_str()) {
            for t in not_product {
                if deps.contains(t) {
                    problems.push(format!("{n} (a product crate) depends on {t}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The top-level module a source file belongs to (`lib`/`main` for the root files).
fn module_of(src: &Path, file: &Path) -> String {
    let r = file.strip_prefix(src).unwrap();
    let first = r.components().next().unwrap().as_os_str().to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// `crate::a`, `crate::{a, b::c}` and `use crate::a::…` in `text`: the first segments named.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let before_ok = i == 0
            || !rest[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
        if before_ok {
            if let Some(list) = after.strip_prefix('{') {
                // One level of braces: the first segment of each path in the list.
                let end = list.find('}').unwrap_or(list.len());
                for part in list[..end].split(',') {
                    let seg: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !seg.is_empty() {
                        out.insert(seg);
                    }
                }
            } else {
                let seg: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !seg.is_empty() {
                    out.insert(seg);
                }
            }
        }
        rest = after;
    }
    out
}

/// Modules of one crate and the modules each refers to (names re-exported at the crate root
/// are resolved to the module that defines them).
fn module_graph(krate: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let src = krate.join("src");
    let mut files = vec![];
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(&src, f))
        .filter(|m| m != "lib" && m != "main")
        .collect();
    // Names defined in each module (for `crate::Name` re-exported by a glob at the root).
    let mut defines: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let m = module_of(&src, f);
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines() {
            let l = line.trim_start();
            for kw in [
                "pub struct ",
                "pub enum ",
                "pub fn ",
                "pub trait ",
                "pub type ",
                "pub const ",
                "pub async fn ",
            ] {
                if let Some(r) = l.strip_prefix(kw) {
                    let n: String = r
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    defines.entry(n).or_default().insert(m.clone());
                }
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let m = module_of(&src, f);
        if m == "lib" || m == "main" {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let edges = graph.entry(m.clone()).or_default();
        for r in crate_refs(&text) {
            let targets: Vec<String> = if modules.contains(&r) {
                vec![r]
            } else {
                defines
                    .get(&r)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default()
            };
            for t in targets {
                if t != m {
                    edges.insert(t);
                }
            }
        }
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !g.contains_key(w) {
                continue;
            }
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = BTreeSet::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.insert(w.to_owned());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g: graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on: BTreeSet::new(),
        next: 0,
        out: vec![],
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn no_import_cycle_among_a_crates_modules() {
    let mut problems = vec![];
    for c in crates() {
        let graph = module_graph(&c);
        for comp in cycles(&graph) {
            let n = name(&c);
            let known = KNOWN_CYCLES
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, m)| m.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>())
                .unwrap_or_default();
            if comp.is_subset(&known) {
                continue;
            }
            // Each module's imports inside the circle, so the edge to cut can be chosen.
            let edges: Vec<String> = comp
                .iter()
                .map(|m| {
                    let to: Vec<&String> = graph[m].iter().filter(|t| comp.contains(*t)).collect();
                    format!("{m} -> {to:?}")
                })
                .collect();
            problems.push(format!(
                "{n}: modules import each other in a circle: {edges:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The modules of `entente-node` that make up its core: publishing, the fold, formats, items,
/// users and peers (`node`), sync and its counters, the checkpoints sync witnesses, the peer
/// transport, and what they stand on. Everything else in the crate (the instruments, TAXII,
/// search, invitations) is built on the core and attached through `Node::ext` and `Hook`s.
const NODE_CORE: &[&str] = &[
    "auth",
    "checkpoints",
    "clock",
    "config",
    "error",
    "metrics",
    "node",
    "ratelimit",
    "replay",
    "sync",
    "transport",
    "zone",
];

/// Names of the functions a source text defines (`fn name`).
fn fn_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("fn ") {
        let before_ok = i == 0
            || !rest[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let name: String = rest[i + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if before_ok && !name.is_empty() {
            out.insert(name);
        }
        rest = &rest[i + 3..];
    }
    out
}

#[test]
fn the_nodes_core_calls_no_instrument() {
    let krate = root().join("crates/entente-node");
    let src = krate.join("src");
    let mut problems = vec![];
    // By path: no `crate::` reference from a core module to a module outside the core.
    for (m, to) in module_graph(&krate) {
        if NODE_CORE.contains(&m.as_str()) {
            for t in to {
                if !NODE_CORE.contains(&t.as_str()) {
                    problems.push(format!("core module {m} refers to {t}"));
                }
            }
        }
    }
    // By method: no call from a core file to a function only an instrument defines.
    let mut files = vec![];
    rust_files(&src, &mut files);
    let (core, rest): (Vec<_>, Vec<_>) = files.iter().partition(|f| {
        let m = module_of(&src, f);
        NODE_CORE.contains(&m.as_str()) || m == "lib"
    });
    let read = |f: &&PathBuf| std::fs::read_to_string(f).unwrap();
    let core_fns: BTreeSet<String> = core.iter().flat_map(|f| fn_names(&read(f))).collect();
    let instrument_fns: BTreeSet<String> = rest
        .iter()
        .flat_map(|f| fn_names(&read(f)))
        .filter(|n| !core_fns.contains(n))
        .collect();
    for f in &core {
        if module_of(&src, f) == "lib" {
            // The crate root assembles the node: it may name the instruments' hooks.
            continue;
        }
        let text = read(f);
        for n in &instrument_fns {
            for pat in [format!("self.{n}("), format!("node.{n}(")] {
                if text.contains(&pat) {
                    problems.push(format!(
                        "{}: calls {n}, which only an instrument defines",
                        rel(f)
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The migrations array of a backend's source, each element's text.
fn migrations(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let start = text
        .find("const MIGRATIONS: &[&str] = &[")
        .expect("a MIGRATIONS array");
    let mut rest = &text[start..];
    let end = rest.find("\n];").expect("the array's end");
    rest = &rest[..end];
    let mut out = vec![];
    while let Some(i) = rest.find("r#\"") {
        let body = &rest[i + 3..];
        let j = body.find("\"#").expect("a closed raw string");
        out.push(body[..j].to_owned());
        rest = &body[j + 2..];
    }
    out
}

/// Every migration as applied, by its SHA-256 (first 16 hex digits). A new migration is a new
/// element and a new line here; an edit to an applied one fails.
const PINNED: &[(&str, &[&str])] = &[
    (
        "sqlite",
        &[
            "1dc70d7d3f132a49",
            "d3c39d82d07cc8ef",
            "cbba22e14ada8ac8",
            "0a9ead2df076d560",
            "1b38a43c857dc621",
            "74d30b1c0e07548e",
            "5238bd03d77b486d",
            "a08b9382a20eb388",
            "6d2950636161c0ed",
            "7ee0f88487957dcc",
            "35ceeb6952dd375a",
            "b6dd89d905d98884",
            "a6c85fb69e892276",
            "dd49af4b537ebf1c",
            "3f052366cd7502e6",
            "afe74804f08d97ea",
            "fd4514baabc3c310",
            "7a4af48ad8619edf",
            "77d5cb91ba8008a3",
            "ed089ff121c7a785",
            "339bd42cf77c4f9f",
        ],
    ),
    (
        "postgres",
        &[
            "19cf1a435ccf059a",
            "a08b9382a20eb388",
            "e30edad3597bc35e",
            "7ee0f88487957dcc",
            "35ceeb6952dd375a",
            "94f3c82358784fd6",
            "1f7b4a105e5dcd0a",
            "1bc24654282ea91e",
            "3f052366cd7502e6",
            "afe74804f08d97ea",
            "fd4514baabc3c310",
            "7a4af48ad8619edf",
            "77d5cb91ba8008a3",
            "36e3a08098cbbf37",
            "2a6798d249c0699c",
        ],
    ),
];

#[test]
fn applied_migrations_are_never_edited() {
    let mut problems = vec![];
    let mut now = vec![];
    for (backend, file) in [
        ("sqlite", "crates/entente-store-sqlite/src/migrations.rs"),
        (
            "postgres",
            "crates/entente-store-postgres/src/migrations.rs",
        ),
    ] {
        let hashes: Vec<String> = migrations(&root().join(file))
            .iter()
            .map(|m| hex::encode(&Sha256::digest(m.as_bytes())[..8]))
            .collect();
        let pinned = PINNED
            .iter()
            .find(|(b, _)| *b == backend)
            .map(|(_, h)| *h)
            .unwrap_or(&[]);
        for (i, h) in pinned.iter().enumerate() {
            match hashes.get(i) {
                Some(x) if x == h => {}
                Some(x) => problems.push(format!(
                    "{backend} migration {} changed ({h} -> {x}): add a new migration instead",
                    i + 1
                )),
                None => problems.push(format!("{backend} migration {} removed", i + 1)),
            }
        }
        if hashes.len() > pinned.len() {
            problems.push(format!(
                "{backend}: pin the new migrations in PINNED: {:?}",
                &hashes[pinned.len()..]
            ));
        }
        now.push((backend, hashes));
    }
    assert!(problems.is_empty(), "{problems:#?}\nnow: {now:?}");
}

/// The README's first command, `cargo run --release -- demo`, needs exactly one binary among
/// the workspace's default members: the node's (a second binary crate made `cargo run` ask
/// which one to run).
#[test]
fn cargo_run_at_the_root_runs_the_node_binary() {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let default: Vec<String> = doc["workspace"]
        .get("default-members")
        .and_then(|d| d.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_else(|| {
            crates()
                .iter()
                .map(|c| format!("crates/{}", name(c)))
                .collect()
        });
    let with_binary: Vec<&String> = default
        .iter()
        .filter(|m| {
            let dir = root().join(m);
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            dir.join("src/main.rs").is_file() || manifest.contains("[[bin]]")
        })
        .collect();
    assert_eq!(
        with_binary,
        vec!["crates/entente-cli"],
        "default members with a binary: set workspace.default-members so `cargo run` runs `entente`"
    );
}

/// Every (path, method) the API routes by a literal path, read from `.route(...)` calls in
/// entente-api's source: the path is the call's first argument, the methods are the `get(`,
/// `post(`, ... calls in the rest of it.
fn routed_operations() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    rust_files(&root().join("crates/entente-api/src"), &mut files);
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(") {
            let call = &rest[at + ".route(".len()..];
            // The call ends at the parenthesis that closes `.route(`.
            let mut depth = 1;
            let end = call
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap();
            let args = &call[..end];
            rest = &call[end..];
            // Routes named by a constant are federation's and TAXII's (their paths live in
            // entente-wire and the TAXII module); the REST API spells its paths out.
            let Some(quoted) = args.trim_start().strip_prefix('"') else {
                continue;
            };
            let path = quoted.split('"').next().unwrap().to_owned();
            for m in ["get", "post", "put", "delete", "patch"] {
                let needle = format!("{m}(");
                let called = args.match_indices(&needle).any(|(i, _)| {
                    !args[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
                if called {
                    out.insert((path.clone(), m.to_owned()));
                }
            }
        }
    }
    out
}

/// Issue 20's "OpenAPI documents every new operation", kept for every operation: a REST route
/// (under `/api/v1`, and the health check) that the OpenAPI document leaves out fails, so a
/// client generated from the document can call all of the API. TAXII, federation and the
/// operator's endpoints have their own specifications and are not in it.
#[test]
fn every_rest_operation_is_in_the_openapi_document() {
    let doc = serde_json::to_value(entente_api::openapi()).unwrap();
    let routed = routed_operations();
    assert!(
        routed.len() > 50,
        "the route scan found only {} operations: has the router's shape changed?",
        routed.len()
    );
    let missing: Vec<String> = routed
        .iter()
        .filter(|(p, _)| {
            (p.starts_with("/api/v1/") || p == "/healthz") && p != "/api/v1/openapi.json"
        })
        .filter(|(p, m)| doc["paths"][p.as_str()][m.as_str()].is_null())
        .map(|(p, m)| format!("{} {p}", m.to_uppercase()))
        .collect();
    assert!(
        missing.is_empty(),
        "routed but missing from the OpenAPI document: {missing:#?}"
    );
}
