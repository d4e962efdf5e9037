//! Formats: the list, creating one (from a template or by hand), a format's page and its
//! periodic report.

use super::*;

#[derive(Template)]
#[template(path = "formats.html")]
pub struct FormatsPage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub form: FormData,
    pub formats: Vec<FormatState>,
    pub partners: Vec<String>,
}

pub(super) async fn formats_page(
    s: &WebState,
    sess: &Session,
    errors: Errors,
    form: FormData,
) -> Response {
    let formats = match s.node.formats().await {
        Ok(f) => f,
        Err(e) => return fail(&sess.ctx, e),
    };
    let me = s.node.partner().to_string();
    let partners = s
        .node
        .peer_list()
        .into_iter()
        .map(|p| p.record.partner.to_string())
        .filter(|p| p != "EU" && p != "NATO" && *p != me)
        .collect();
    let status = form_status(&errors);
    render(
        status,
        &FormatsPage {
            ctx: sess.ctx.clone(),
            errors,
            form,
            formats,
            partners,
        },
    )
}

pub(super) async fn formats(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    Ok(formats_page(&s, &sess, Errors::default(), FormData::default()).await)
}

pub(super) async fn create_formats(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let mut errors = Errors::default();
    required(&mut errors, &f, &[("partner", "Partner")]);
    if errors.is_empty() {
        match s
            .node
            .create_from_template(&sess.who, f.get("partner"))
            .await
        {
            Ok(created) => {
                return Ok(see_other(&format!(
                    "/ui/formats/{}",
                    created.first().map(|c| c.format_id.as_str()).unwrap_or("")
                )));
            }
            Err(e) => {
                errors = Errors::from_node(&e, &[]);
                if matches!(e, NodeError::UnknownPartner(_) | NodeError::Domain(_)) {
                    errors = Errors::default();
                    errors.add("partner", e.to_string());
                }
            }
        }
    }
    Ok(formats_page(&s, &sess, errors, f).await)
}

#[derive(Template)]
#[template(path = "format.html")]
pub struct FormatPage {
    pub ctx: Ctx,
    pub format: FormatState,
    pub topics: Vec<(String, String)>,
}

pub(super) async fn format_page(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    let sess = session(&s, &h).await?;
    let format = visible_format(&s, &id)
        .await
        .map_err(|e| fail(&sess.ctx, e))?;
    let topics = topics_all()
        .into_iter()
        .filter(|(t, _)| format.topics.contains(t))
        .collect();
    Ok(render(
        StatusCode::OK,
        &FormatPage {
            ctx: sess.ctx.clone(),
            format,
            topics,
        },
    ))
}

/// A format this partner belongs to (others: not found, as the API answers).
pub(super) async fn visible_format(s: &WebState, id: &str) -> Result<FormatState, NodeError> {
    let f = s.node.format(id).await?;
    if f.members.contains(s.node.partner()) {
        Ok(f)
    } else {
        Err(NodeError::NotFound("format"))
    }
}

#[derive(Template)]
#[template(path = "report.html")]
pub struct ReportPage {
    pub ctx: Ctx,
    pub format_id: String,
    pub report: entente_domain::coord::PeriodicReport,
    /// Periods that progress reports were filed for in this format, with how many, most
    /// recently filed first.
    pub periods: Vec<(String, usize)>,
    /// The periods the picker offers, grouped as on the progress form (years, halves,
    /// quarters, months), so a report is asked for in a form it reads.
    pub choices: Vec<(&'static str, Vec<String>)>,
}

impl ReportPage {
    /// Whether the picker lists `p` (an older period is offered as well).
    pub fn offers(&self, p: &str) -> bool {
        self.choices.iter().any(|(_, l)| l.iter().any(|x| x == p))
    }
}

pub(super) async fn report_page(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Page {
    let sess = session(&s, &h).await?;
    let q = query(&q);
    let format = visible_format(&s, &id)
        .await
        .map_err(|e| fail(&sess.ctx, e))?;
    // Reports are filed per period (a half, a quarter, a month …), and a report view counts
    // those of exactly its period: without a choice, the period of the latest report filed,
    // so the first view is not an empty month.
    let actions = s
        .node
        .actions(&sess.who, Some(&id))
        .await
        .map_err(|e| fail(&sess.ctx, e))?;
    let mut filed: Vec<&entente_domain::coord::ReportRecord> =
        actions.iter().flat_map(|a| &a.reports).collect();
    filed.sort_by(|a, b| b.at.cmp(&a.at));
    let mut periods: Vec<(String, usize)> = vec![];
    for r in &filed {
        match periods.iter_mut().find(|(p, _)| *p == r.report.period) {
            Some((_, n)) => *n += 1,
            None => periods.push((r.report.period.clone(), 1)),
        }
    }
    let period = q.opt("period").unwrap_or_else(|| {
        periods
            .first()
            .map_or_else(|| today(&s)[..7].to_owned(), |(p, _)| p.clone())
    });
    // The report from the format and actions read above (`Node::progress_report` would read
    // both again).
    entente_domain::coord::validate_period(&period)
        .map_err(|e| fail(&sess.ctx, NodeError::from(e)))?;
    let report = entente_domain::coord::periodic_report(
        &format.title,
        &format.members,
        &period,
        &today(&s),
        &actions,
    );
    let download = |ct: &'static str, ext: &str, body: String| {
        (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(ct)),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_str(&format!(
                        "attachment; filename=\"progress-report-{period}.{ext}\""
                    ))
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
                ),
            ],
            body,
        )
            .into_response()
    };
    Ok(match q.get("download") {
        "md" => download("text/markdown; charset=utf-8", "md", report.markdown()),
        "html" => download("text/html; charset=utf-8", "html", report.html()),
        _ => render(
            StatusCode::OK,
            &ReportPage {
                ctx: sess.ctx.clone(),
                choices: super::actions::report_periods(&today(&s)),
                format_id: id,
                report,
                periods,
            },
        ),
    })
}
