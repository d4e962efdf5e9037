//! The signed-in user's own settings: the time zone times are shown in and the language of
//! the UI. Node-local preferences, never replicated; releasability does not depend on them.

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
    /// The saved language tag, or empty: the browser's choice.
    pub language: String,
    /// (tag, the language's name in itself) of every catalogue.
    pub languages: Vec<(String, String)>,
    /// Where notifications go (empty: none are sent).
    pub email: String,
    /// (kind, its label's key, the chosen mode) per kind of notification.
    pub notify: Vec<(String, String, String)>,
    /// (mode, its label's key).
    pub modes: Vec<(String, String)>,
}

async fn settings_page(
    s: &WebState,
    sess: &Session,
    errors: Errors,
    typed: Option<entente_node::UserSettings>,
) -> Response {
    let shown = match typed {
        Some(t) => t,
        None => s.node.user_settings(&sess.who).await.unwrap_or_default(),
    };
    render(
        form_status(&errors),
        &SettingsPage {
            ctx: sess.ctx.clone(),
            errors,
            time_zone: shown.time_zone.unwrap_or_default(),
            node_zone: s.node.config().time_zone.clone(),
            zones: crate::zone::all_zones(),
            now: sess
                .ctx
                .zone
                .show(&entente_node::clock::rfc3339(s.node.clock().now())),
            language: shown.language.unwrap_or_default(),
            languages: crate::i18n::languages(),
            email: shown.email.clone().unwrap_or_default(),
            notify: entente_node::notify::KINDS
                .iter()
                .map(|(k, default)| {
                    (
                        k.to_string(),
                        format!("notify-kind-{k}"),
                        shown
                            .notify
                            .get(*k)
                            .cloned()
                            .unwrap_or_else(|| default.to_string()),
                    )
                })
                .collect(),
            modes: entente_node::notify::MODES
                .iter()
                .map(|m| (m.to_string(), format!("mode-{m}")))
                .collect(),
        },
    )
}

pub(super) async fn settings(State(s): State<WebState>, h: HeaderMap) -> Page {
    let sess = session(&s, &h).await?;
    Ok(settings_page(&s, &sess, Errors::default(), None).await)
}

pub(super) async fn save_settings(State(s): State<WebState>, h: HeaderMap, body: Bytes) -> Page {
    let (sess, f) = posted(&s, &h, &body).await?;
    let settings = entente_node::UserSettings {
        time_zone: f.opt("time_zone"),
        language: f.opt("language"),
        email: f.opt("email"),
        notify: entente_node::notify::KINDS
            .iter()
            .filter_map(|(k, _)| f.opt(&format!("notify_{k}")).map(|m| (k.to_string(), m)))
            .collect(),
    };
    if let Some(l) = &settings.language
        && !crate::i18n::languages().iter().any(|(t, _)| t == l)
    {
        let mut e = Errors::default();
        e.add("language", "Choose one of the languages offered.");
        return Ok(settings_page(&s, &sess, e, Some(settings)).await);
    }
    match s.node.set_user_settings(&sess.who, settings.clone()).await {
        Ok(()) => Ok(done_to("/ui/settings", Done::SettingsSaved)),
        Err(e) => Ok(settings_page(
            &s,
            &sess,
            Errors::from_node(&e, &["time_zone", "language", "email", "notify"]),
            Some(settings),
        )
        .await),
    }
}
