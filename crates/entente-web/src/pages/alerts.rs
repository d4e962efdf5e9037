//! Crisis alerts: raising one, the board with receipts and acknowledgements (refreshed by htmx),
//! acknowledging.

use super::*;

#[derive(Template)]
#[template(path = "alerts.html")]
pub struct AlertsPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub alerts: Vec<AlertView>,
    /// Each alert's deadline in words, as `Vec<AlertDue>` in the same order.
    pub dues: Vec<AlertDue>,
    pub formats: Vec<FormatState>,
    /// The partners the picker offers: members of our formats.
    pub partners: Vec<String>,
}

/// How an alert's acknowledgement deadline stands for its list row: "overdue by 9 min" in red
/// while a recipient is past it, "due in 40 min" while some still have to acknowledge, nothing
/// once every recipient did.
#[derive(Debug, Clone, Default)]
pub struct AlertDue {
    pub words: String,
    pub overdue: bool,
}

fn alert_dues(s: &WebState, ctx: &Ctx, alerts: &[AlertView]) -> Vec<AlertDue> {
    let now = s.node.clock().now();
    alerts
        .iter()
        .map(|a| {
            let pending = a
                .board
                .values()
                .any(|r| !matches!(r, entente_domain::alert::RecipientStatus::Acknowledged));
            if !pending {
                return AlertDue::default();
            }
            let (words, overdue) =
                super::filters::relative(now, &a.alert.ack_deadline, ctx.lang).unwrap_or_default();
            AlertDue { words, overdue }
        })
        .collect()
}

/// The list of alerts alone, for htmx to refresh in place (a new alert, a receipt or an
/// acknowledgement appears without a reload).
#[derive(Template)]
#[template(path = "alerts_list.html")]
pub struct AlertsList {
    pub ctx: Ctx,
    pub alerts: Vec<AlertView>,
    pub dues: Vec<AlertDue>,
    pub formats: Vec<FormatState>,
}

pub(super) async fn alerts_list(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    let r = async { Ok::<_, NodeError>((s.node.alerts(&sess.who).await?, my_formats(&s).await?)) }
        .await;
    let (alerts, formats) = r.map_err(|e| fail(&sess.ctx, e))?;
    Ok(render(
        StatusCode::OK,
        &AlertsList {
            ctx: sess.ctx.clone(),
            dues: alert_dues(&s, &sess.ctx, &alerts),
            alerts,
            formats,
        },
    ))
}

pub(super) async fn alerts_page(
    s: &WebState,
    sess: &Session,
    errors: Errors,
    form: FormData,
) -> Response {
    let r =
        async { Ok::<_, NodeError>((s.node.alerts(&sess.who).await?, my_formats(s).await?)) }.await;
    let (alerts, formats) = match r {
        Ok(x) => x,
        Err(e) => return fail(&sess.ctx, e),
    };
    let status = form_status(&errors);
    render(
        status,
        &AlertsPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            dues: alert_dues(s, &sess.ctx, &alerts),
            alerts,
            partners: member_codes(&formats),
            formats,
        },
    )
}

pub(super) async fn alerts(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    Ok(alerts_page(&s, &sess, Errors::default(), FormData::default()).await)
}

pub(super) async fn raise_alert(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(
        &mut errors,
        &f,
        &[("format_id", "Format"), ("title", "Title")],
    );
    let severity = serde_json::from_value(serde_json::Value::String(f.get("severity").into()));
    if severity.is_err() {
        errors.add("severity", "Choose a severity.");
    }
    let hours = f
        .get("ack_hours")
        .parse::<i64>()
        .ok()
        .filter(|h| (1..=720).contains(h));
    if hours.is_none() {
        errors.add(
            "ack_hours",
            "Give the hours allowed for acknowledgement (1 to 720).",
        );
    }
    let (Ok(severity), Some(hours), true) = (severity, hours, errors.is_empty()) else {
        return Ok(alerts_page(&s, &sess, errors, f).await);
    };
    let n = entente_node::alerts::NewAlert {
        format_id: f.get("format_id").to_owned(),
        severity,
        title: f.get("title").to_owned(),
        text: f.get("text").to_owned(),
        ack_deadline: entente_node::clock::rfc3339(
            s.node.clock().now() + time::Duration::hours(hours),
        ),
        releasable_to: partners_field(&f, "releasable_to"),
    };
    match s.node.raise_alert(&sess.who, n).await {
        Ok(v) => Ok(done_to(
            &format!("/ui/alerts/{}", v.alert.alert_id),
            Done::AlertRaised,
        )),
        Err(e) => Ok(alerts_page(
            &s,
            &sess,
            Errors::from_node(&e, &["format_id", "title", "releasable_to"]),
            f,
        )
        .await),
    }
}

#[derive(Template)]
#[template(path = "alert.html")]
pub struct AlertPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub view: AlertView,
    pub board: Vec<BoardRow>,
    /// The audience in words against the format's members.
    pub audience: String,
}

#[derive(Template)]
#[template(path = "alert_board.html")]
pub struct AlertBoard {
    pub ctx: Ctx,
    pub board: Vec<BoardRow>,
}

/// One partner's line on an alert's board, as the reader reads it.
pub struct BoardRow {
    pub partner: String,
    /// `Sent`, `Delivered`, `Acknowledged`, `Late` (acknowledged after the deadline) or
    /// `Overdue`: the CSS class of the status.
    pub class: &'static str,
    /// The status in words, in the reader's language.
    pub status: String,
    pub delivered: String,
    /// When and by whom it was acknowledged.
    pub acked: String,
    /// The acknowledging officer's note.
    pub note: String,
}

pub(super) fn board(v: &AlertView, ctx: &Ctx) -> Vec<BoardRow> {
    let deadline = entente_node::clock::parse_rfc3339(&v.alert.ack_deadline);
    v.board
        .iter()
        .map(|(p, st)| {
            let ack = v.alert.acks.get(p);
            // Acknowledged after the deadline: it counts, and it says it was late.
            let late = ack
                .and_then(|a| entente_node::clock::parse_rfc3339(&a.at))
                .zip(deadline)
                .is_some_and(|(at, d)| at > d);
            let (class, key) = match st {
                RecipientStatus::Sent => ("Sent", "board-sent"),
                RecipientStatus::Delivered => ("Delivered", "board-delivered"),
                RecipientStatus::Acknowledged if late => ("Late", "board-acknowledged-late"),
                RecipientStatus::Acknowledged => ("Acknowledged", "board-acknowledged"),
                RecipientStatus::Overdue => ("Overdue", "board-overdue"),
            };
            BoardRow {
                partner: p.to_string(),
                class,
                status: ctx.t(key),
                delivered: v
                    .alert
                    .receipts
                    .get(p)
                    .map(|at| ctx.zone.show(at))
                    .unwrap_or_default(),
                acked: ack
                    .map(|a| {
                        ctx.lang.t_args(
                            "board-acked-by",
                            &[("at", ctx.zone.show(&a.at)), ("by", a.by.clone())],
                        )
                    })
                    .unwrap_or_default(),
                note: ack.map(|a| a.note.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

pub(super) async fn alert_view(s: &WebState, sess: &Session, id: &str, errors: Errors) -> Response {
    let view = match s.node.alert(&sess.who, id).await {
        Ok(v) => v,
        Err(e) => return fail(&sess.ctx, e),
    };
    let status = form_status(&errors);
    let audience = audience_short(
        s,
        &view.alert.format_id,
        &view.alert.audience,
        sess.ctx.lang,
    )
    .await;
    render(
        status,
        &AlertPage {
            ctx: sess.ctx.clone(),
            errors,
            board: board(&view, &sess.ctx),
            audience,
            view,
        },
    )
}

pub(super) async fn alert_page(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let sess = session(&s, &h).await?;
    Ok(alert_view(&s, &sess, &id, Errors::default()).await)
}

/// The board alone, for htmx to refresh in place.
pub(super) async fn alert_board(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let sess = session(&s, &h).await?;
    let view = s
        .node
        .alert(&sess.who, &id)
        .await
        .map_err(|e| fail(&sess.ctx, e))?;
    Ok(render(
        StatusCode::OK,
        &AlertBoard {
            ctx: sess.ctx.clone(),
            board: board(&view, &sess.ctx),
        },
    ))
}

pub(super) async fn alert_ack(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    match s
        .node
        .acknowledge_alert(&sess.who, &id, f.get("note"))
        .await
    {
        Ok(_) => Ok(done_to(&format!("/ui/alerts/{id}"), Done::Acknowledged)),
        Err(e) => Ok(alert_view(&s, &sess, &id, Errors::from_node(&e, &["note"])).await),
    }
}
