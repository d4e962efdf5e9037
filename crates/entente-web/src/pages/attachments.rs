//! Attachments in the browser: an item's file downloaded as a file to save (never shown in the
//! page), and the author's form that uploads a file and attaches it to the item (a new
//! revision). Multipart, so it works without JavaScript.

use super::*;
use axum::body::Body;
use axum::extract::Multipart;
use entente_node::NewAttachment;

pub(super) async fn download(
    State(s): State<WebState>,
    h: HeaderMap,
    Path((id, sha)): Path<(String, String)>,
) -> Page {
    let sess = session(&s, &h).await?;
    let (d, stream) = match s.node.download(&sess.who, &id, &sha).await {
        Ok(x) => x,
        Err(e) => return Ok(fail(&sess.ctx, e)),
    };
    // A file never goes out without its headers: one that cannot be set ends the answer.
    let headers = match d.header_map() {
        Ok(h) => h,
        Err(e) => return Ok(fail(&sess.ctx, e)),
    };
    let mut r = Body::from_stream(stream).into_response();
    r.headers_mut().extend(headers);
    Ok(r)
}

/// The upload form: its CSRF token first, then the file, streamed to disk as it arrives.
pub(super) async fn attach(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    mut form: Multipart,
) -> Page {
    let sess = session(&s, &h).await?;
    let mut checked = false;
    let mut uploaded = None;
    let mut errors = Errors::default();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                errors.add("file", "The upload was cut off: send the file again.");
                break;
            }
        };
        match field.name() {
            Some("csrf") => {
                // A token is short: a longer field is not read into memory.
                let mut field = field;
                let mut v = Vec::new();
                while let Ok(Some(c)) = field.chunk().await {
                    v.extend_from_slice(&c);
                    if v.len() > 256 {
                        break;
                    }
                }
                let f = FormData(vec![("csrf".into(), String::from_utf8_lossy(&v).into())]);
                sess.check(&f)?;
                checked = true;
            }
            Some("file") if checked => {
                let name = field.file_name().unwrap_or_default().to_owned();
                let mut field = field;
                let mut up = match s.node.begin_upload(&sess.who).await {
                    Ok(u) => u,
                    Err(e) => return Ok(fail(&sess.ctx, e)),
                };
                let mut failed = None;
                loop {
                    match field.chunk().await {
                        Ok(Some(c)) => {
                            if let Err(e) = up.write(&c).await {
                                failed = Some(e.to_string());
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            failed = Some("file: the upload was cut off".into());
                            break;
                        }
                    }
                }
                if let Some(e) = failed {
                    errors.add("file", e);
                    break;
                }
                match up.finish(&s.node).await {
                    Ok(u) => uploaded = Some((u.sha256, name)),
                    Err(e) => errors.add("file", e.to_string()),
                }
            }
            _ => {}
        }
    }
    if !checked {
        return Err(crate::forbidden_form());
    }
    if errors.is_empty() {
        let Some((sha256, name)) = uploaded else {
            errors.add("file", "Choose a file to attach.");
            return Ok(item_view(&s, &sess, &id, errors).await);
        };
        match s
            .node
            .attach_file(&sess.who, &id, NewAttachment { sha256, name })
            .await
        {
            Ok(_) => return Ok(done_to(&format!("/ui/items/{id}"), Done::Attached)),
            Err(NodeError::Domain(e)) => errors.add("file", e.to_string()),
            Err(e) => return Ok(fail(&sess.ctx, e)),
        }
    }
    Ok(item_view(&s, &sess, &id, errors).await)
}
