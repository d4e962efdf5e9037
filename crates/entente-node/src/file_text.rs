//! The text of an attached file, for search: plain text as it is, a PDF's text through
//! `pdf-extract`, a DOCX's paragraphs from its `word/document.xml`. Pure functions over the
//! bytes (the caller reads the file and runs them on a blocking thread); anything else, or a
//! file that does not parse, has no text. Not where the text is kept or indexed.

use std::io::Read;

/// Files larger than this are not read for text (a 100 MB deck would hold that much memory
/// while it is parsed).
pub const MAX_FILE_BYTES: u64 = 32 << 20;

/// At most this much text is kept per file.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// The text of a file of this media type (as `detect_media_type` says), cut to
/// [`MAX_TEXT_BYTES`]; None when it has none this module can read.
pub fn extract(media_type: &str, bytes: &[u8]) -> Option<String> {
    let text = match media_type {
        "text/plain" => String::from_utf8_lossy(bytes).into_owned(),
        "application/pdf" => pdf_extract::extract_text_from_mem(bytes).ok()?,
        DOCX => docx_text(bytes)?,
        _ => return None,
    };
    let mut text = text.trim().to_owned();
    if text.len() > MAX_TEXT_BYTES {
        let mut cut = MAX_TEXT_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    (!text.is_empty()).then_some(text)
}

/// The runs of text (`<w:t>`) of a DOCX's main document, a line per paragraph.
fn docx_text(bytes: &[u8]) -> Option<String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let mut xml = String::new();
    zip.by_name("word/document.xml")
        .ok()?
        .take(64 << 20)
        .read_to_string(&mut xml)
        .ok()?;
    let mut out = String::new();
    let mut rest = xml.as_str();
    while let Some(i) = rest.find('<') {
        let Some(j) = rest[i..].find('>') else { break };
        let tag = &rest[i + 1..i + j];
        rest = &rest[i + j + 1..];
        if tag == "/w:p" {
            out.push('\n');
        } else if (tag == "w:t" || tag.starts_with("w:t ")) && !tag.ends_with('/') {
            let end = rest.find("</w:t>").unwrap_or(rest.len());
            out.push_str(&unescape(&rest[..end]));
            rest = &rest[end..];
        }
    }
    Some(out)
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn plain_text_docx_and_what_has_none() {
        assert_eq!(
            extract("text/plain", "フェリーの輸送能力\n".as_bytes()).as_deref(),
            Some("フェリーの輸送能力")
        );
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        z.start_file(
            "word/document.xml",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        z.write_all(
            br#"<w:document><w:body><w:p><w:r><w:t>Ferry &amp; port</w:t></w:r></w:p><w:p><w:r><w:t xml:space="preserve">capacity </w:t></w:r><w:r><w:t>annex</w:t></w:r></w:p></w:body></w:document>"#,
        )
        .unwrap();
        let docx = z.finish().unwrap().into_inner();
        assert_eq!(
            extract(DOCX, &docx).as_deref(),
            Some("Ferry & port\ncapacity annex")
        );
        assert_eq!(extract("image/png", b"\x89PNG"), None);
        assert_eq!(extract("application/pdf", b"%PDF-1.7 not really"), None);
        assert_eq!(extract(DOCX, b"PK not a zip"), None);
    }
}
