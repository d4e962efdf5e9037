//! The dashboard: what the signed-in user's partner owes and is owed at a glance.

use super::*;

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub ctx: Ctx,
    pub formats: Vec<FormatState>,
    pub alerts: Vec<AlertView>,
    pub statements: Vec<StatementView>,
    /// (action id, action title, milestone title, due)
    pub overdue: Vec<(String, String, String, String)>,
    pub latest: Vec<ItemState>,
}

pub(super) async fn dashboard(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    let r = dashboard_data(&s, &sess).await;
    r.map_err(|e| fail(&sess.ctx, e))
}

pub(super) async fn dashboard_data(s: &WebState, sess: &Session) -> Result<Response, NodeError> {
    let me = s.node.partner().clone();
    let who = &sess.who;
    let alerts = s
        .node
        .alerts(who)
        .await?
        .into_iter()
        .filter(|a| a.awaiting_our_ack)
        .collect();
    let statements = s
        .node
        .statements(who)
        .await?
        .into_iter()
        .filter(|v| {
            matches!(v.status, StatementStatus::Pending)
                && v.current_stances
                    .iter()
                    .any(|(p, st)| p == &me && st.is_none())
        })
        .collect();
    let today = today(s);
    let mut overdue = vec![];
    for a in s.node.actions(who, None).await? {
        for m in &a.milestones {
            if !m.done && m.due < today {
                overdue.push((
                    a.action_id.clone(),
                    a.title.clone(),
                    m.title.clone(),
                    m.due.clone(),
                ));
            }
        }
    }
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
            alerts,
            statements,
            overdue,
            latest,
        },
    ))
}
