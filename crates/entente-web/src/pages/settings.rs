//! The signed-in user's own settings: the time zone times are shown in. Node-local
//! preferences, never replicated; releasability does not depend on them.

use super::*;

#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub ctx: Ctx,
    pub errors: Errors,
    /// What the zone field shows: the saved zone, or what was typed when it was refused.
    pub time_zone: String,
    /// The node's default, used when the field is left empty.
    pub node_zone: String,
    /// Every zone name, suggested as the user types.
    pub zones: Vec<String>,
    /// The current time as this user reads it, as an example.
    pub now: String,
}

async fn settings_page(
    s: &WebState,
    sess: &Session,
    errors: Errors,
    typed: Option<String>,
) -> Response {
    let saved = s
        .node
        .user_settings(&sess.who)
        .await
        .ok()
        .and_then(|u| u.time_zone)
        .unwrap_or_default();
    render(
        form_status(&errors),
        &SettingsPage {
            ctx: sess.ctx.clone(),
            errors,
            time_zone: typed.unwrap_or(saved),
            node_zone: s.node.config().time_zone.clone(),
            zones: crate::zone::all_zones(),
            now: sess
                .ctx
                .zone
                .show(&entente_node::clock::rfc3339(s.node.clock().now())),
        },
    )
}

pub(super) async fn settings(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    Ok(settings_page(&s, &sess, Errors::default(), None).await)
}

pub(super) async fn save_settings(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let typed = f.opt("time_zone");
    let mut settings = s
        .node
        .user_settings(&sess.who)
        .await
        .map_err(|e| fail(&sess.ctx, e))?;
    settings.time_zone = typed.clone();
    match s.node.set_user_settings(&sess.who, settings).await {
        Ok(()) => Ok(done_to("/ui/settings", Done::SettingsSaved)),
        Err(e) => Ok(settings_page(&s, &sess, Errors::from_node(&e, &["time_zone"]), typed).await),
    }
}
