//! Embeds every message catalogue in `locales/` (`en.ftl`, `ja.ftl`, …): a new language is a
//! new file there, never a code change.

use std::io::Write;

fn main() {
    let dir = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("locales");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut langs: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("crates/entente-web/locales")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let lang = p.file_stem()?.to_str()?.to_owned();
            (p.extension()? == "ftl").then(|| (lang, p.display().to_string()))
        })
        .collect();
    langs.sort();
    let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("locales.rs");
    let mut f = std::fs::File::create(out).unwrap();
    writeln!(
        f,
        "/// (language tag, catalogue text) of every file in `locales/`."
    )
    .unwrap();
    writeln!(f, "pub const LOCALES: &[(&str, &str)] = &[").unwrap();
    for (lang, path) in &langs {
        println!("cargo:rerun-if-changed={path}");
        writeln!(f, "    ({lang:?}, include_str!({path:?})),").unwrap();
    }
    writeln!(f, "];").unwrap();
}
