//! The UI in several languages: the message catalogues (Project Fluent, one `locales/*.ftl`
//! per language, embedded at build time), choosing a reader's language (their setting, else
//! the browser's `Accept-Language`, else English) and looking a message up. It owns wording;
//! what a page shows stays the pages' business.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use std::sync::LazyLock;

include!(concat!(env!("OUT_DIR"), "/locales.rs"));

/// English is the reference: every key exists there, and a key missing in a translation
/// falls back to it.
const REFERENCE: &str = "en";

/// The embedded catalogues, parsed once. They are compiled-in constants, not configuration:
/// every node in a process reads the same wording.
static CATALOGUE: LazyLock<Catalogue> =
    LazyLock::new(|| Catalogue::parse(LOCALES).unwrap_or_else(|e| panic!("{e}")));

pub struct Catalogue {
    /// (language tag, bundle), the reference first.
    langs: Vec<(String, FluentBundle<FluentResource>)>,
    /// The message keys of each language, in the same order.
    keys: Vec<Vec<String>>,
}

impl Catalogue {
    /// Parse catalogues given as (tag, Fluent text); any syntax error or unknown tag is an
    /// error naming the file (the tests parse the embedded ones, so a bad file fails them).
    pub fn parse(files: &[(&str, &str)]) -> Result<Catalogue, String> {
        let mut langs = vec![];
        for (tag, text) in files {
            let id: unic_langid::LanguageIdentifier = tag
                .parse()
                .map_err(|e| format!("locales/{tag}.ftl: not a language tag: {e}"))?;
            let res = FluentResource::try_new((*text).to_owned())
                .map_err(|(_, errs)| format!("locales/{tag}.ftl: {errs:?}"))?;
            let keys: Vec<String> = res
                .entries()
                .filter_map(|e| match e {
                    fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
                    _ => None,
                })
                .collect();
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            // Unicode isolation marks around values would show up in copied text.
            bundle.set_use_isolating(false);
            bundle
                .add_resource(res)
                .map_err(|errs| format!("locales/{tag}.ftl: {errs:?}"))?;
            langs.push(((tag.to_string(), bundle), keys));
        }
        langs.sort_by_key(|((t, _), _)| t != REFERENCE);
        if langs.first().map(|((t, _), _)| t.as_str()) != Some(REFERENCE) {
            return Err(format!("locales/{REFERENCE}.ftl is missing"));
        }
        let (langs, keys) = langs.into_iter().unzip();
        Ok(Catalogue { langs, keys })
    }

    /// The language tags available, English first.
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.langs.iter().map(|(t, _)| t.as_str())
    }

    fn index(&self, tag: &str) -> Option<usize> {
        self.langs.iter().position(|(t, _)| t == tag)
    }

    /// The message `key` in language `lang` (an index from [`Lang`]); the English one when the
    /// translation lacks it; None when English lacks it too.
    fn message(&self, lang: usize, key: &str, args: Option<&FluentArgs>) -> Option<String> {
        // The reader's language, then the reference (English is index 0).
        [lang, 0].into_iter().find_map(|i| {
            let bundle = &self.langs.get(i)?.1;
            let pattern = bundle.get_message(key)?.value()?;
            let mut errors = vec![];
            Some(
                bundle
                    .format_pattern(pattern, args, &mut errors)
                    .into_owned(),
            )
        })
    }

    /// (key, pattern elements) of every English message: the patterns English messages
    /// raised in code are matched against (`messages.rs`).
    pub(crate) fn reference_patterns(
        &self,
    ) -> Vec<(String, &[fluent_syntax::ast::PatternElement<&str>])> {
        let Some((_, bundle)) = self.langs.first() else {
            return vec![];
        };
        self.keys[0]
            .iter()
            .filter_map(|k| {
                let v = bundle.get_message(k)?.value()?;
                Some((k.clone(), v.elements.as_slice()))
            })
            .collect()
    }

    /// Keys of language `tag` (for the completeness tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn keys(&self, tag: &str) -> Vec<String> {
        self.index(tag)
            .map(|i| self.keys[i].clone())
            .unwrap_or_default()
    }
}

/// (tag, the language's own name) of every catalogue, for a language picker.
pub fn languages() -> Vec<(String, String)> {
    catalogue()
        .tags()
        .enumerate()
        .map(|(i, t)| (t.to_owned(), Lang(i).t("language-name")))
        .collect()
}

/// The embedded catalogues.
pub fn catalogue() -> &'static Catalogue {
    &CATALOGUE
}

/// A reader's language: an index into the catalogues (0 is English).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lang(usize);

impl Lang {
    /// The reader's language: their setting when the catalogue has it, else the first
    /// language of `Accept-Language` (by weight) it has, else English.
    pub fn choose(setting: Option<&str>, accept_language: Option<&str>) -> Lang {
        let cat = catalogue();
        if let Some(i) = setting.and_then(|s| cat.index(s)) {
            return Lang(i);
        }
        let mut wanted: Vec<(f32, &str)> = accept_language
            .unwrap_or_default()
            .split(',')
            .filter_map(|part| {
                let mut it = part.trim().split(';');
                let tag = it.next()?.trim();
                let q = it
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (!tag.is_empty() && q > 0.0).then_some((q, tag))
            })
            .collect();
        // Highest weight first; equal weights keep the browser's order.
        wanted.sort_by(|a, b| b.0.total_cmp(&a.0));
        wanted
            .into_iter()
            .find_map(|(_, tag)| {
                let primary = tag.split('-').next()?.to_ascii_lowercase();
                cat.index(&primary)
            })
            .map_or(Lang(0), Lang)
    }

    /// The BCP 47 tag, for `<html lang>`.
    pub fn tag(self) -> &'static str {
        catalogue()
            .langs
            .get(self.0)
            .map_or(REFERENCE, |(t, _)| t.as_str())
    }

    /// The message `key` in this language. A key no catalogue has shows as `⟦key⟧`, so a
    /// page never silently loses text (and the tests find it).
    pub fn t(self, key: &str) -> String {
        catalogue()
            .message(self.0, key, None)
            .unwrap_or_else(|| format!("⟦{key}⟧"))
    }

    /// The message `key`, or `fallback` where no catalogue has it (labels and topics: a new
    /// status or topic shows in English rather than as a bare key).
    pub fn t_or(self, key: &str, fallback: &str) -> String {
        catalogue()
            .message(self.0, key, None)
            .unwrap_or_else(|| fallback.to_owned())
    }

    /// The message `key` that counts `n` (`{ $n }`, with Fluent's plural forms).
    pub fn t_n(self, key: &str, n: usize) -> String {
        let mut fa = FluentArgs::new();
        fa.set("n", n);
        catalogue()
            .message(self.0, key, Some(&fa))
            .unwrap_or_else(|| format!("⟦{key}⟧"))
    }

    /// The message `key` with named arguments (`{ $n }` in the catalogue).
    pub fn t_args(self, key: &str, args: &[(&str, String)]) -> String {
        let mut fa = FluentArgs::new();
        for (k, v) in args {
            fa.set(*k, v.clone());
        }
        catalogue()
            .message(self.0, key, Some(&fa))
            .unwrap_or_else(|| format!("⟦{key}⟧"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_parses_and_has_every_english_key() {
        let cat = catalogue();
        let en = cat.keys("en");
        assert!(en.len() > 100, "{}", en.len());
        for tag in cat.tags().filter(|t| *t != "en").collect::<Vec<_>>() {
            let have: std::collections::BTreeSet<String> = cat.keys(tag).into_iter().collect();
            let missing: Vec<&String> = en.iter().filter(|k| !have.contains(*k)).collect();
            assert!(missing.is_empty(), "{tag}.ftl lacks {missing:?}");
            let extra: Vec<&String> = have.iter().filter(|k| !en.contains(k)).collect();
            assert!(
                extra.is_empty(),
                "{tag}.ftl has keys English lacks: {extra:?}"
            );
        }
    }

    /// Every topic of the taxonomy has its wording in every catalogue (a topic written over
    /// several lines in the source was once missed, and showed in English in the Japanese UI).
    #[test]
    fn every_topic_is_in_every_catalogue() {
        let cat = catalogue();
        for tag in cat.tags() {
            let have = cat.keys(tag);
            let missing: Vec<&str> = entente_domain::taxonomy::TOPICS
                .iter()
                .map(|(slug, _)| *slug)
                .filter(|slug| !have.contains(&format!("topic-{slug}")))
                .collect();
            assert!(missing.is_empty(), "{tag}.ftl lacks topics {missing:?}");
        }
    }

    #[test]
    fn the_language_is_the_setting_then_the_browsers_then_english() {
        let ja = Lang::choose(Some("ja"), None);
        assert_eq!(ja.tag(), "ja");
        assert_eq!(
            Lang::choose(None, Some("ja-JP,ja;q=0.9,en;q=0.8")).tag(),
            "ja"
        );
        assert_eq!(
            Lang::choose(None, Some("fr-FR, en;q=0.5, ja;q=0.4")).tag(),
            "en"
        );
        assert_eq!(Lang::choose(None, Some("en;q=0.3, ja;q=0.7")).tag(), "ja");
        assert_eq!(Lang::choose(Some("en"), Some("ja")).tag(), "en");
        assert_eq!(Lang::choose(Some("xx"), Some("garbage;;q=x")).tag(), "en");
        assert_eq!(Lang::choose(None, None).tag(), "en");
        assert_eq!(Lang::default().t("dashboard"), "Dashboard");
        assert_ne!(ja.t("dashboard"), "Dashboard");
        assert_eq!(ja.t("no-such-key"), "⟦no-such-key⟧");
    }

    #[test]
    fn a_bad_catalogue_is_refused_with_its_name() {
        let e = Catalogue::parse(&[("en", "ok = fine\n"), ("ja", "broken = {\n")])
            .err()
            .unwrap();
        assert!(e.contains("locales/ja.ftl"), "{e}");
        assert!(Catalogue::parse(&[("ja", "a = b\n")]).is_err());
    }
}
