//! Releasing past material to a partner admitted since (`/ui/formats/{id}/release`): the review
//! screen lists exactly what this partner could release to it, narrowed by topic, kind and
//! period, with nothing ticked; the items ticked and confirmed are released, nothing else.

use super::*;
use entente_node::release::ReleaseFilter;

#[derive(Template)]
#[template(path = "release.html")]
pub struct ReleasePage {
    pub ctx: Ctx,
    pub errors: Errors,
    pub format: FormatState,
    /// The members this partner may release to (every member but itself).
    pub members: Vec<String>,
    pub filter: FormData,
    pub candidates: Vec<ItemState>,
    pub topics: Vec<(String, String)>,
}

impl ReleasePage {
    pub fn aud(&self, a: &entente_domain::Audience) -> String {
        audience_against(Some(&self.format.members), a, self.ctx.lang)
    }
}

async fn release_page(
    s: &WebState,
    sess: &Session,
    id: &str,
    filter: FormData,
    errors: Errors,
) -> Response {
    let format = match s.node.format(id).await {
        Ok(f) => f,
        Err(e) => return fail(&sess.ctx, e),
    };
    let members: Vec<String> = format
        .members
        .iter()
        .filter(|p| *p != s.node.partner())
        .map(|p| p.to_string())
        .collect();
    let to = Some(filter.get("to").to_owned())
        .filter(|t| !t.is_empty())
        .or_else(|| members.first().cloned())
        .unwrap_or_default();
    let candidates = if to.is_empty() {
        vec![]
    } else {
        let f = ReleaseFilter {
            format_id: id.to_owned(),
            to: to.clone(),
            topic: filter.opt("topic"),
            kind: filter.opt("kind"),
            from: filter.opt("from"),
            until: filter.opt("until"),
        };
        match s.node.release_candidates(&sess.who, &f).await {
            Ok(v) => v,
            Err(e) => return fail(&sess.ctx, e),
        }
    };
    let mut filter = filter;
    filter.0.retain(|(k, _)| k != "to");
    filter.0.push(("to".into(), to));
    render(
        form_status(&errors),
        &ReleasePage {
            ctx: sess.ctx.clone(),
            errors,
            topics: format
                .topics
                .iter()
                .map(|t| {
                    let english = entente_domain::taxonomy::TOPICS
                        .iter()
                        .find(|(slug, _)| slug == t)
                        .map(|(_, name)| *name)
                        .unwrap_or(t.as_str());
                    (t.clone(), sess.ctx.topic(t, english))
                })
                .collect(),
            format,
            members,
            filter,
            candidates,
        },
    )
}

pub(super) async fn release(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Page {
    let sess = session(&s, &h).await?;
    Ok(release_page(&s, &sess, &id, query(&q), Errors::default()).await)
}

pub(super) async fn release_post(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let chosen: Vec<String> =
        f.0.iter()
            .filter(|(k, _)| k == "items")
            .map(|(_, v)| v.clone())
            .collect();
    match s
        .node
        .release_items(&sess.who, &id, f.get("to"), &chosen)
        .await
    {
        Ok(_) => Ok(done_to(&format!("/ui/formats/{id}"), Done::Released)),
        Err(e @ (NodeError::NotFound(_) | NodeError::Forbidden(_))) => Err(fail(&sess.ctx, e)),
        Err(e) => {
            let filter = FormData(vec![("to".into(), f.get("to").to_owned())]);
            Ok(release_page(
                &s,
                &sess,
                &id,
                filter,
                Errors::from_node(&e, &["items", "to"]),
            )
            .await)
        }
    }
}
