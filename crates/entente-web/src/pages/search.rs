//! Search (only what the user may see, found and counted), the cooperation network and what
//! the partner released.

use super::*;

#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchPage {
    pub ctx: Ctx,
    pub q: FormData,
    pub result: Option<entente_node::search::SearchView>,
    pub error: Option<String>,
    pub formats: Vec<FormatState>,
}

impl SearchPage {
    /// A hit's snippet as HTML: its text escaped (as every template escapes), the query's
    /// words in `<mark>`. Ranges that do not fall on the text's character boundaries are
    /// ignored rather than trusted.
    pub fn snippet_html(&self, h: &entente_node::search::SearchHitView) -> String {
        let t = h.snippet.as_str();
        let mut out = String::with_capacity(t.len() + 32);
        let mut at = 0;
        for &(a, b) in &h.marks {
            if a < at || b <= a || t.get(at..a).is_none() || t.get(a..b).is_none() {
                continue;
            }
            out.push_str(&crate::escape::attr(&t[at..a]));
            out.push_str("<mark>");
            out.push_str(&crate::escape::attr(&t[a..b]));
            out.push_str("</mark>");
            at = b;
        }
        out.push_str(&crate::escape::attr(t.get(at..).unwrap_or_default()));
        out
    }
    pub fn with(&self, k: &str, v: &str) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (n, x) in &self.q.0 {
            if n != k && !x.is_empty() {
                out.append_pair(n, x);
            }
        }
        out.append_pair(k, v);
        out.finish()
    }
    pub fn label(&self, dim: &str, v: &str) -> String {
        facet_label_in(&self.ctx, &self.formats, dim, v)
    }
    pub fn dim_label(&self, dim: &str) -> String {
        facet_dim_in(&self.ctx, dim)
    }
}

pub(super) async fn search(State(s): State<WebState>, h: HeaderMap, RawQuery(q): RawQuery) -> Page {
    let sess = session(&s, &h).await?;
    let q = query(&q);
    let searched = !q.0.is_empty();
    let mut error = None;
    let mut result = None;
    if searched {
        let r = entente_node::search::SearchRequest {
            q: q.get("q").to_owned(),
            format: q.opt("format"),
            topic: q.opt("topic"),
            partner: q.opt("partner"),
            kind: q.opt("kind"),
            tlp: q.opt("tlp"),
            period: q.opt("period"),
            what: q.opt("what"),
            limit: Some(50),
        };
        match s.node.search(&sess.who, r).await {
            Ok(v) => result = Some(v),
            Err(e) => error = Some(e.to_string()),
        }
    }
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render(
        status,
        &SearchPage {
            ctx: sess.ctx.marked(
                result
                    .iter()
                    .flat_map(|r| &r.hits)
                    .filter_map(|h| Tlp::parse(&h.tlp).ok()),
            ),
            q,
            result,
            error,
            formats: my_formats(&s).await.map_err(|e| fail(&sess.ctx, e))?,
        },
    ))
}

#[derive(Template)]
#[template(path = "network.html")]
pub struct NetworkPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub q: FormData,
    pub has_view: bool,
    pub stats: Vec<(&'static str, String)>,
    /// (month, entries, degree centralization, density, triangular entries)
    pub trend: Vec<(String, String, String, String, String)>,
    pub nodes: Vec<SvgNode>,
    pub edges: Vec<SvgEdge>,
    pub size: f64,
    pub topics: Vec<(String, String)>,
}

impl NetworkPage {
    /// The Items list filtered to the items behind an edge: released to both partners, within
    /// this page's topic and dates.
    pub fn edge_items(&self, e: &SvgEdge) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        out.append_pair("released_to", &e.a);
        out.append_pair("released_to", &e.b);
        for k in ["topic", "since", "until"] {
            if let Some(v) = self.q.opt(k) {
                out.append_pair(k, &v);
            }
        }
        format!("/ui/items?{}", out.finish())
    }
}

pub fn pct(x: &Option<f64>) -> String {
    x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into())
}

pub(super) async fn network(
    State(s): State<WebState>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Page {
    let sess = session(&s, &h).await?;
    let q = query(&q);
    let f = entente_node::analytics::NetworkFilter {
        topic: q.opt("topic"),
        since: q.opt("since"),
        until: q.opt("until"),
    };
    let mut errors = Errors::default();
    let view = match s.node.network(&sess.who, f).await {
        Ok(v) => Some(v),
        Err(e) => {
            errors = Errors::from_node(&e, &["topic", "since", "until"]);
            None
        }
    };
    let (nodes, edges) = view
        .as_ref()
        .map(|v| crate::svg::layout(&v.network))
        .unwrap_or_default();
    let stats = view
        .as_ref()
        .map(|v| {
            let n = &v.network;
            vec![
                ("net-partners", n.partners.len().to_string()),
                ("net-entries", n.entries.to_string()),
                ("net-degree-centralization", pct(&n.degree_centralization)),
                (
                    "net-weighted-centralization",
                    pct(&n.weighted_centralization),
                ),
                ("net-density", pct(&n.density)),
                ("net-triangular-entries", n.triangular_entries.to_string()),
                ("net-triangular-share", pct(&n.triangular_share)),
                ("net-triangles", n.triangles.to_string()),
            ]
        })
        .unwrap_or_default();
    let trend = view
        .as_ref()
        .map(|v| {
            v.trend
                .iter()
                .map(|(m, n)| {
                    (
                        m.clone(),
                        n.entries.to_string(),
                        pct(&n.degree_centralization),
                        pct(&n.density),
                        n.triangular_entries.to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let status = form_status(&errors);
    Ok(render(
        status,
        &NetworkPage {
            ctx: sess.ctx.clone(),
            errors,
            q,
            has_view: view.is_some(),
            stats,
            trend,
            nodes,
            edges,
            size: crate::svg::SIZE,
            topics: topics_all(),
        },
    ))
}

#[derive(Template)]
#[template(path = "released.html")]
pub struct ReleasedPage {
    pub ctx: Ctx,
    pub q: FormData,
    /// (format title, audience, period, items, of which retracted)
    pub rows: Vec<(String, String, String, u64, u64)>,
    pub total: usize,
    pub formats: Vec<FormatState>,
    pub truncated: bool,
}

/// What this partner released to whom: its own items grouped by format, audience and month.
pub(super) async fn released(
    State(s): State<WebState>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Page {
    let sess = session(&s, &h).await?;
    let q = query(&q);
    let r = async {
        let formats = my_formats(&s).await?;
        let titles: BTreeMap<String, String> = formats
            .iter()
            .map(|f| (f.format_id.clone(), f.title.clone()))
            .collect();
        let mut groups: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
        let mut cursor = None;
        let mut seen = 0u64;
        let until = q.opt("until");
        loop {
            let page = s
                .node
                .items(
                    &sess.who,
                    entente_node::ItemFilter {
                        format: q.opt("format"),
                        partner: Some(s.node.partner().to_string()),
                        since: q.opt("since").map(|d| {
                            if d.len() == 10 {
                                format!("{d}T00:00:00Z")
                            } else {
                                d
                            }
                        }),
                        cursor,
                        limit: Some(500),
                        ..Default::default()
                    },
                )
                .await?;
            for it in &page.items {
                if until
                    .as_deref()
                    .is_some_and(|u| it.created_at.as_str() >= u)
                {
                    continue;
                }
                seen += 1;
                let e = groups
                    .entry((
                        titles
                            .get(&it.format_id)
                            .cloned()
                            .unwrap_or_else(|| it.format_id.clone()),
                        it.audience
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        it.created_at.get(..7).unwrap_or_default().to_owned(),
                    ))
                    .or_default();
                e.0 += 1;
                if it.retracted.is_some() {
                    e.1 += 1;
                }
            }
            cursor = page.next;
            if cursor.is_none() || seen >= 100_000 {
                break;
            }
        }
        Ok::<_, NodeError>((formats, groups, seen, cursor.is_some()))
    }
    .await;
    let (formats, groups, total, truncated) = r.map_err(|e| fail(&sess.ctx, e))?;
    Ok(render(
        StatusCode::OK,
        &ReleasedPage {
            ctx: sess.ctx.clone(),
            q,
            rows: groups
                .into_iter()
                .map(|((f, a, p), (n, r))| (f, a, p, n, r))
                .collect(),
            total: total as usize,
            formats,
            truncated,
        },
    ))
}
