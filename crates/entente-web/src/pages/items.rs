//! Items: the list with its facets, a new item with the audience stated in words before
//! publishing, an item's page, reactions and retraction.

use super::*;

/// A day as an HTML date input sends it.
const DAY: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

#[derive(Template)]
#[template(path = "items.html")]
pub struct ItemsPage {
    pub ctx: Ctx,
    pub q: FormData,
    pub items: Vec<ItemState>,
    pub next: Option<String>,
    pub facets: BTreeMap<String, Vec<(String, u64)>>,
    pub formats: Vec<FormatState>,
    pub kinds: Vec<String>,
    pub tlps: Vec<String>,
    pub topics: Vec<(String, String)>,
}

impl ItemsPage {
    /// This page's query with one filter set (a facet link).
    pub fn with(&self, k: &str, v: &str) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (n, x) in &self.q.0 {
            if n != k && n != "cursor" && !x.is_empty() {
                out.append_pair(n, x);
            }
        }
        out.append_pair(k, v);
        out.finish()
    }
    pub fn next_link(&self, cursor: &str) -> String {
        self.with("cursor", cursor)
    }
    pub fn label(&self, dim: &str, v: &str) -> String {
        facet_label_in(&self.ctx, &self.formats, dim, v)
    }
    /// Whether a listed row is retracted: the facets count only what stands, so the page
    /// says so beside them instead of showing counts that seem not to match the rows.
    /// The partners the "From" filter offers: members of this partner's formats (the ones
    /// whose items it can hold).
    pub fn partners(&self) -> Vec<String> {
        member_codes(&self.formats)
    }
    pub fn any_retracted(&self) -> bool {
        self.items.iter().any(|i| i.retracted.is_some())
    }
    pub fn dim_label(&self, dim: &str) -> String {
        facet_dim_in(&self.ctx, dim)
    }
    /// The filters a network edge's link sets, in words ("released to both EU and JPN · from
    /// 2026-11-01"); empty when none is set.
    pub fn edge_filter(&self) -> String {
        let l = self.ctx.lang;
        let mut parts = vec![];
        let to = self.q.all("released_to");
        if !to.is_empty() {
            parts.push(l.t_args("edge-released-to", &[("list", and_list(l, &to))]));
        }
        if let Some(d) = self.q.opt("since") {
            parts.push(l.t_args("edge-from", &[("day", d)]));
        }
        if let Some(d) = self.q.opt("until") {
            parts.push(l.t_args("edge-before", &[("day", d)]));
        }
        parts.join(" · ")
    }
}

/// "EU", "both EU and JPN", "all of EU, JPN and NATO" (in the reader's language).
fn and_list(l: crate::i18n::Lang, v: &[String]) -> String {
    match v {
        [one] => one.clone(),
        [a, b] => l.t_args("list-both", &[("a", a.clone()), ("b", b.clone())]),
        [init @ .., last] => l.t_args(
            "list-all",
            &[("init", init.join(", ")), ("last", last.clone())],
        ),
        [] => String::new(),
    }
}

/// A day from a date input as the start of that day in UTC; anything else unchanged (the node
/// checks it).
fn day_start(d: String) -> String {
    if d.len() == 10 {
        format!("{d}T00:00:00Z")
    } else {
        d
    }
}

pub(super) async fn items(State(s): State<WebState>, h: HeaderMap, RawQuery(q): RawQuery) -> Page {
    let sess = session(&s, &h).await?;
    let mut q = query(&q);
    // Partner codes are upper case; "eu" typed in the box means EU.
    for (k, v) in &mut q.0 {
        if k == "partner" {
            *v = v.trim().to_uppercase();
        }
    }
    let filter = entente_node::ItemFilter {
        format: q.opt("format"),
        kind: q.opt("kind"),
        topic: q.opt("topic"),
        partner: q.opt("partner"),
        tlp: q.opt("tlp"),
        since: q.opt("since").map(day_start),
        until: q.opt("until").map(day_start),
        released_to: q
            .all("released_to")
            .iter()
            .map(|p| p.to_uppercase())
            .collect(),
        cursor: q.opt("cursor"),
        limit: Some(50),
        // A person reads the newest first (review defect 4: new items landed at the bottom);
        // "oldest first" reads a thread of events in the order they happened.
        newest_first: q.get("order") != "oldest",
    };
    // The index counts by none of a network edge's filters, so with them set its counts would
    // not match the rows: no facets then.
    let edge = !filter.released_to.is_empty() || filter.since.is_some() || filter.until.is_some();
    let page = match s.node.items(&sess.who, filter).await {
        Ok(p) => p,
        Err(e) => return Err(fail(&sess.ctx, e)),
    };
    // Facet counts come from the search index, which counts only what this user may see.
    let facets = if edge {
        BTreeMap::new()
    } else {
        s.node
            .search(
                &sess.who,
                entente_node::search::SearchRequest {
                    format: q.opt("format"),
                    kind: q.opt("kind"),
                    topic: q.opt("topic"),
                    partner: q.opt("partner"),
                    tlp: q.opt("tlp"),
                    // Counted over items only, as the list shows (the index also holds STIX
                    // objects, actions and statements).
                    what: Some("item".into()),
                    limit: Some(1),
                    ..Default::default()
                },
            )
            .await
            .map(|mut r| {
                // The list has no month filter: a month link would list every month.
                r.facets.remove("period");
                r.facets
            })
            .unwrap_or_default()
    };
    Ok(render(
        StatusCode::OK,
        &ItemsPage {
            ctx: sess.ctx.marked(page.items.iter().map(|i| i.tlp)),
            items: page.items,
            next: page.next,
            facets,
            formats: my_formats(&s).await.map_err(|e| fail(&sess.ctx, e))?,
            kinds: kinds(),
            tlps: tlps(),
            topics: topics_all(),
            q,
        },
    ))
}

#[derive(Template)]
#[template(path = "item_new.html")]
pub struct NewItemPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub formats: Vec<FormatState>,
    /// The chosen format, once there is one.
    pub format: Option<FormatState>,
    pub others: Vec<String>,
    pub topics: Vec<(String, String)>,
    pub kinds: Vec<String>,
    pub tlps: Vec<String>,
    /// Set on the review step: the audience in words, and the form is sent again to publish.
    pub review: Option<Review>,
}

/// What the review step showed: the audience in words and the seal over it that the publish
/// step must present unchanged.
pub struct Review {
    pub words: String,
    pub seal: String,
}

/// The audience-deciding part of a prepared item (format, marking, audience, named users), the
/// text a review seal covers.
fn reviewed_text(
    format_id: &str,
    aud: &entente_domain::Audience,
    p: &entente_domain::payload::ItemPublish,
) -> String {
    let mut named = p.named_users.clone();
    named.sort();
    format!(
        "{format_id}\n{}\n{}\n{}",
        p.tlp.map(|t| t.as_str()).unwrap_or("unmarked"),
        aud.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(","),
        named.join(",")
    )
}

pub(super) async fn new_item_page(
    s: &WebState,
    sess: &Session,
    form: FormData,
    errors: Errors,
    review: Option<Review>,
) -> Response {
    let formats = match my_formats(s).await {
        Ok(f) => f,
        Err(e) => return fail(&sess.ctx, e),
    };
    let format = formats
        .iter()
        .find(|f| f.format_id == form.get("format_id"))
        .cloned();
    let me = s.node.partner().to_string();
    let others = format
        .as_ref()
        .map(|f| members(f).into_iter().filter(|m| *m != me).collect())
        .unwrap_or_default();
    let topics = topics_all()
        .into_iter()
        .filter(|(t, _)| format.as_ref().is_some_and(|f| f.topics.contains(t)))
        .collect();
    let status = form_status(&errors);
    render(
        status,
        &NewItemPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            formats,
            format,
            others,
            topics,
            kinds: kinds(),
            tlps: tlps(),
            review,
        },
    )
}

pub(super) async fn new_item(
    State(s): State<WebState>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Page {
    let sess = session(&s, &h).await?;
    let mut form = query(&q);
    if form.get("tlp").is_empty() {
        form.0.push(("tlp".into(), "AMBER".into()));
    }
    Ok(new_item_page(&s, &sess, form, Errors::default(), None).await)
}

pub(super) fn new_item_input(f: &FormData) -> entente_node::NewItem {
    entente_node::NewItem {
        format_id: f.get("format_id").to_owned(),
        kind: f.get("kind").to_owned(),
        title: f.get("title").to_owned(),
        body: f.get("body").to_owned(),
        topics: f.all("topics"),
        tlp: f.opt("tlp"),
        releasable_to: Some(f.all("releasable_to")),
        named_users: f.list("named_users"),
        // Files are attached on the item's page once it is published.
        attachments: vec![],
    }
}

pub(super) const ITEM_FIELDS: &[&str] = &[
    "format_id",
    "kind",
    "title",
    "body",
    "topics",
    "tlp",
    "releasable_to",
    "named_users",
];

/// Two steps: "review" states the resulting audience in words and stores nothing; "publish"
/// (sent from the review) signs and stores the item.
pub(super) async fn new_item_post(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(
        &mut errors,
        &f,
        &[
            ("format_id", "Format"),
            ("kind", "Kind"),
            ("title", "Title"),
            ("tlp", "TLP level"),
        ],
    );
    if !errors.is_empty() {
        return Ok(new_item_page(&s, &sess, f, errors, None).await);
    }
    let input = new_item_input(&f);
    let step = f.get("step");
    if step == "edit" {
        return Ok(new_item_page(&s, &sess, f, errors, None).await);
    }
    // Both the review and the publish step prepare the item: the publish step publishes only
    // what was reviewed. A form changed after its review (a stale tab, a crafted request, a
    // field edited in the page) gets the review again, with the new audience, and nothing is
    // stored.
    let (aud, p) = match s.node.prepare_item(&sess.who, input.clone()).await {
        Ok(x) => x,
        Err(e) => {
            let errors = Errors::from_node(&e, ITEM_FIELDS);
            return Ok(new_item_page(&s, &sess, f, errors, None).await);
        }
    };
    let seal = sess.seal(&reviewed_text(f.get("format_id"), &aud, &p));
    let words = audience_words(
        s.node.partner().as_str(),
        true,
        &aud.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        p.tlp.map(|t| t.as_str()),
        &p.named_users,
        sess.ctx.lang,
    );
    let review = Review { words, seal };
    if step != "publish" {
        return Ok(new_item_page(&s, &sess, f, errors, Some(review)).await);
    }
    if f.get("reviewed") != review.seal {
        errors.add(
            "_form",
            "The audience or the marking changed after you reviewed it. Check the audience below again, then publish.",
        );
        return Ok(new_item_page(&s, &sess, f, errors, Some(review)).await);
    }
    match s.node.create_item(&sess.who, input).await {
        Ok(it) => Ok(done_to(
            &format!("/ui/items/{}", it.item_id),
            Done::Published,
        )),
        Err(e) => {
            let errors = Errors::from_node(&e, ITEM_FIELDS);
            Ok(new_item_page(&s, &sess, f, errors, None).await)
        }
    }
}

#[derive(Template)]
#[template(path = "item.html")]
pub struct ItemPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub item: ItemState,
    pub provenance: entente_node::provenance::Provenance,
    pub reactions: Reactions,
    pub ours: bool,
    /// "Endorse" is offered only where it can succeed: a best practice this partner has not
    /// endorsed yet, to an officer.
    pub may_endorse: bool,
    pub audience_words: String,
    /// The audience against the format's members ("EU, JPN — not NATO").
    pub audience_short: String,
    /// The item's files, each with whether its bytes are here yet and, if they were
    /// quarantined, what the malware scanner found.
    pub files: Vec<(
        entente_domain::attachment::AttachmentRef,
        bool,
        Option<String>,
    )>,
}

pub(super) async fn item_view(s: &WebState, sess: &Session, id: &str, errors: Errors) -> Response {
    let r = async {
        let item = s.node.item(&sess.who, id).await?;
        let provenance = s.node.item_provenance(&sess.who, id).await?;
        let reactions = s.node.reactions(&sess.who, id).await?;
        let files = s.node.files_here(&item).await?;
        Ok::<_, NodeError>((item, provenance, reactions, files))
    }
    .await;
    let (item, provenance, reactions, files) = match r {
        Ok(x) => x,
        Err(e) => return fail(&sess.ctx, e),
    };
    let audience: Vec<String> = item.audience.iter().map(|p| p.to_string()).collect();
    let words = audience_words(
        item.origin.as_str(),
        &item.origin == s.node.partner(),
        &audience,
        Some(item.tlp.as_str()),
        &item.named_users,
        sess.ctx.lang,
    );
    let short = audience_short(s, &item.format_id, &item.audience, sess.ctx.lang).await;
    let status = form_status(&errors);
    let may_endorse = item.kind == entente_domain::ItemKind::BestPractice
        && !reactions.endorsements.contains_key(s.node.partner())
        && sess
            .who
            .require(entente_domain::Role::Officer, "endorse")
            .is_ok();
    render(
        status,
        &ItemPage {
            ctx: sess.ctx.marked([item.tlp]),
            errors,
            may_endorse,
            // The retract form only for whoever may retract (its author, an officer).
            ours: entente_domain::policy::may_edit_item(
                s.node.partner(),
                &sess.who.user_id(),
                sess.who.role,
                &item,
            )
            .is_ok(),
            audience_words: words,
            audience_short: short,
            files,
            item,
            provenance,
            reactions,
        },
    )
}

pub(super) async fn item_page(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let sess = session(&s, &h).await?;
    Ok(item_view(&s, &sess, &id, Errors::default()).await)
}

pub(super) async fn item_react(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let r = match f.get("what") {
        "endorse" => s.node.endorse(&sess.who, &id).await.map(|_| ()),
        "sighting" => {
            let mut errors = Errors::default();
            let count = f.get("count").parse::<u32>().ok().filter(|c| *c > 0);
            if count.is_none() {
                errors.add("count", "Give the number of sightings (1 or more).");
            }
            required(&mut errors, &f, &[("seen_at", "Date seen")]);
            if !errors.is_empty() {
                return Ok(item_view(&s, &sess, &id, errors).await);
            }
            // The form's date input sends a day (YYYY-MM-DD); a sighting's time is RFC 3339 UTC,
            // so a day is its start, in UTC as the label says. A full timestamp passes as is.
            let day = f.get("seen_at");
            let seen_at = if day.len() == 10 && time::Date::parse(day, &DAY).is_ok() {
                format!("{day}T00:00:00Z")
            } else {
                day.to_owned()
            };
            s.node
                .sighting(&sess.who, &id, &seen_at, count.unwrap_or(1), f.get("note"))
                .await
                .map(|_| ())
        }
        _ => Err(NodeError::Domain(entente_domain::DomainError::invalid(
            "what",
            "endorse or sighting",
        ))),
    };
    match r {
        Ok(()) => Ok(done_to(&format!("/ui/items/{id}"), Done::Reaction)),
        Err(e) => Ok(item_view(&s, &sess, &id, Errors::from_node(&e, &["seen_at", "count"])).await),
    }
}

pub(super) async fn item_retract(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(&mut errors, &f, &[("reason", "A reason")]);
    // A retraction cannot be undone: it is done only when the author says they mean it
    // (review: there was no confirmation step before an irreversible retraction).
    if f.get("confirm") != "yes" {
        errors.add(
            "confirm",
            "Tick the box to confirm: a retraction cannot be undone.",
        );
    }
    if !errors.is_empty() {
        return Ok(item_view(&s, &sess, &id, errors).await);
    }
    match s.node.retract_item(&sess.who, &id, f.get("reason")).await {
        Ok(_) => Ok(done_to(&format!("/ui/items/{id}"), Done::Retracted)),
        Err(e) => Ok(item_view(&s, &sess, &id, Errors::from_node(&e, &["reason"])).await),
    }
}
