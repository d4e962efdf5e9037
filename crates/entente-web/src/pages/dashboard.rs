//! The dashboard: what the signed-in user's partner owes and is owed at a glance, refreshed in
//! place (htmx polls `/ui/owed`), and the counters in the navigation (`/ui/nav`).

use super::*;

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub ctx: Ctx,
    pub formats: Vec<FormatState>,
    pub owed: Owed,
    pub latest: Vec<ItemState>,
}

/// The two lists of the dashboard, alone, for htmx to refresh in place.
#[derive(Template)]
#[template(path = "owed.html")]
pub struct OwedFragment {
    pub ctx: Ctx,
    pub owed: Owed,
}

/// The navigation with its counters, alone, for htmx to refresh in place.
#[derive(Template)]
#[template(path = "nav.html")]
pub struct NavFragment {
    pub ctx: Ctx,
}

/// What we owe partners and what partners owe us, each line in words.
#[derive(Debug, Clone, Default)]
pub struct Owed {
    pub we_owe: Vec<OwedLine>,
    pub owed_to_us: Vec<OwedLine>,
    /// Lines past their deadline, both ways.
    pub overdue_count: usize,
}

/// One thing owed: what it is, to or by whom, and by when.
#[derive(Debug, Clone)]
pub struct OwedLine {
    pub href: String,
    pub title: String,
    /// "Alert", "Statement", "Milestone" (in the reader's language).
    pub kind: String,
    /// Severity of an alert ("critical"), for its colour.
    pub severity: Option<&'static str>,
    /// What is owed, in words: "acknowledge (from NATO)", "awaiting stances from EU, JPN".
    pub what: String,
    pub due: Option<Due>,
}

/// A deadline as people read it: when, and how far away ("due in 40 min", "overdue by 9 min").
#[derive(Debug, Clone)]
pub struct Due {
    pub at: String,
    pub relative: String,
    pub overdue: bool,
}

impl Due {
    fn new(
        now: time::OffsetDateTime,
        deadline: &str,
        zone: &crate::zone::Zone,
        lang: crate::i18n::Lang,
    ) -> Due {
        let (relative, overdue) = filters::relative(now, deadline, lang).unwrap_or_default();
        Due {
            at: zone.show(deadline),
            relative,
            overdue,
        }
    }
}

pub(super) async fn dashboard(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    let r = dashboard_data(&s, &sess).await;
    r.map_err(|e| fail(&sess.ctx, e))
}

pub(super) async fn owed_fragment(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    let owed = owed(&s, &sess.who, &sess.ctx)
        .await
        .map_err(|e| fail(&sess.ctx, e))?;
    Ok(render(
        StatusCode::OK,
        &OwedFragment {
            ctx: sess.ctx.clone(),
            owed,
        },
    ))
}

/// The navigation of the page at `?at=` (for `aria-current`), with fresh counters.
pub(super) async fn nav_fragment(
    State(s): State<WebState>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> Page {
    let mut sess = session(&s, &h).await?;
    let at = query(&q).get("at").to_owned();
    sess.ctx.path = crate::safe_next(&at).to_owned();
    Ok(render(StatusCode::OK, &NavFragment { ctx: sess.ctx }))
}

/// Everything owed, both ways, as this user may see it.
pub(super) async fn owed(
    s: &WebState,
    who: &entente_node::auth::Principal,
    ctx: &Ctx,
) -> Result<Owed, NodeError> {
    let (zone, lang) = (&ctx.zone, ctx.lang);
    let me = s.node.partner().clone();
    let now = s.node.clock().now();
    let mut o = Owed::default();
    for a in s.node.alerts(who).await? {
        let st = &a.alert;
        if a.awaiting_our_ack {
            o.we_owe.push(OwedLine {
                href: format!("/ui/alerts/{}", st.alert_id),
                title: st.title.clone(),
                kind: lang.t("owed-alert"),
                severity: Some(st.severity.label()),
                what: lang.t_args("owed-acknowledge", &[("origin", st.origin.to_string())]),
                due: Some(Due::new(now, &st.ack_deadline, zone, lang)),
            });
        } else if st.origin == me {
            let pending: Vec<String> = a
                .board
                .iter()
                .filter(|(_, s)| **s != RecipientStatus::Acknowledged)
                .map(|(p, _)| p.to_string())
                .collect();
            if pending.is_empty() {
                continue;
            }
            o.owed_to_us.push(OwedLine {
                href: format!("/ui/alerts/{}", st.alert_id),
                title: st.title.clone(),
                kind: lang.t("owed-alert"),
                severity: Some(st.severity.label()),
                what: lang.t_args(
                    "owed-acknowledgement-from",
                    &[("partners", pending.join(", "))],
                ),
                due: Some(Due::new(now, &st.ack_deadline, zone, lang)),
            });
        }
    }
    for v in s.node.statements(who).await? {
        let Some(cur) = v.state.versions.last() else {
            continue;
        };
        let href = format!("/ui/statements/{}", v.state.statement_id);
        let title = cur.title.clone();
        let awaited: Vec<String> = v
            .current_stances
            .iter()
            .filter(|(_, st)| st.is_none())
            .map(|(p, _)| p.to_string())
            .collect();
        let line = |what: String| OwedLine {
            href: href.clone(),
            title: title.clone(),
            kind: lang.t("owed-statement"),
            severity: None,
            what,
            due: None,
        };
        let ours = v.state.origin == me;
        match &v.status {
            StatementStatus::Pending => {
                if v.awaits_stance_from(&me) {
                    o.we_owe.push(line(if ours {
                        lang.t_args(
                            "owed-our-own-stance",
                            &[("version", cur.version.to_string())],
                        )
                    } else {
                        lang.t_args(
                            "owed-our-stance",
                            &[
                                ("version", cur.version.to_string()),
                                ("origin", v.state.origin.to_string()),
                            ],
                        )
                    }));
                }
                let others: Vec<&str> = awaited
                    .iter()
                    .map(String::as_str)
                    .filter(|p| *p != me.as_str())
                    .collect();
                if ours && !others.is_empty() {
                    o.owed_to_us.push(line(
                        lang.t_args("owed-stances-from", &[("partners", others.join(", "))]),
                    ));
                }
            }
            StatementStatus::Blocked { .. } if ours => o
                .owed_to_us
                .push(line(super::status_words(&v.status, zone, lang))),
            _ => {}
        }
    }
    let today = &s.node.clock().now_rfc3339()[..10];
    // A milestone is owed by the action's leads: ours when we lead, theirs to us otherwise.
    for a in s.node.actions(who, None).await? {
        let we_lead = a.leads.contains(&me);
        for m in &a.milestones {
            if !m.done && m.due.as_str() < today {
                let leads: Vec<&str> = a.leads.iter().map(|p| p.as_str()).collect();
                let (list, what) = if we_lead {
                    (
                        &mut o.we_owe,
                        lang.t_args("owed-milestone", &[("title", m.title.clone())]),
                    )
                } else {
                    (
                        &mut o.owed_to_us,
                        lang.t_args(
                            "owed-milestone-led-by",
                            &[("title", m.title.clone()), ("leads", leads.join(", "))],
                        ),
                    )
                };
                list.push(OwedLine {
                    href: format!("/ui/actions/{}", a.action_id),
                    title: a.title.clone(),
                    kind: lang.t("owed-milestone-kind"),
                    severity: None,
                    what,
                    due: Some(Due {
                        at: m.due.clone(),
                        relative: lang.t("overdue"),
                        overdue: true,
                    }),
                });
            }
        }
    }
    // Overdue first, then the nearest deadline.
    for list in [&mut o.we_owe, &mut o.owed_to_us] {
        list.sort_by(|a, b| {
            let key = |l: &OwedLine| {
                (
                    !l.due.as_ref().is_some_and(|d| d.overdue),
                    l.due.as_ref().map(|d| d.at.clone()).unwrap_or_default(),
                )
            };
            key(a).cmp(&key(b))
        });
    }
    o.overdue_count = o
        .we_owe
        .iter()
        .chain(&o.owed_to_us)
        .filter(|l| l.due.as_ref().is_some_and(|d| d.overdue))
        .count();
    Ok(o)
}

pub(super) async fn dashboard_data(s: &WebState, sess: &Session) -> Result<Response, NodeError> {
    let who = &sess.who;
    let month_ago = entente_node::clock::rfc3339(s.node.clock().now() - time::Duration::days(30));
    let mut latest = s
        .node
        .items(
            who,
            entente_node::ItemFilter {
                since: Some(month_ago),
                limit: Some(500),
                ..Default::default()
            },
        )
        .await?
        .items;
    latest.retain(|i| i.retracted.is_none());
    latest.reverse();
    latest.truncate(10);
    Ok(render(
        StatusCode::OK,
        &DashboardPage {
            ctx: sess.ctx.marked(latest.iter().map(|i| i.tlp)),
            formats: my_formats(s).await?,
            owed: owed(s, who, &sess.ctx).await?,
            latest,
        },
    ))
}
