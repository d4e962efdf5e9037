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
    pub formats: Vec<FormatState>,
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
            alerts,
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

/// (partner, status, delivered at, acknowledged at and by, the acknowledging officer's note)
pub(super) type BoardRow = (String, String, String, String, String);

pub(super) fn board(v: &AlertView, zone: &crate::zone::Zone) -> Vec<BoardRow> {
    v.board
        .iter()
        .map(|(p, st)| {
            let status = match st {
                RecipientStatus::Sent => "Sent",
                RecipientStatus::Delivered => "Delivered",
                RecipientStatus::Acknowledged => "Acknowledged",
                RecipientStatus::Overdue => "Overdue",
            };
            (
                p.to_string(),
                status.to_owned(),
                v.alert
                    .receipts
                    .get(p)
                    .map(|at| zone.show(at))
                    .unwrap_or_default(),
                v.alert
                    .acks
                    .get(p)
                    .map(|a| format!("{} by {}", zone.show(&a.at), a.by))
                    .unwrap_or_default(),
                v.alert
                    .acks
                    .get(p)
                    .map(|a| a.note.clone())
                    .unwrap_or_default(),
            )
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
            board: board(&view, &sess.ctx.zone),
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
            board: board(&view, &sess.ctx.zone),
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
