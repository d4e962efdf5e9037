//! Attachments in the browser: an item's or a post's file downloaded as a file to save (never
//! shown in the page), and the author's form that uploads a file and attaches it to the item (a
//! new revision) or the post (a new signed version, same text). Multipart, so it works without
//! JavaScript. A meeting's convener and a paper's penholder attach files on its page the same way,
//! and remove one with the button beside it.

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
    match s.node.download(&sess.who, &id, &sha).await {
        Ok((d, stream)) => Ok(send(&sess, d, Body::from_stream(stream))),
        Err(e) => Ok(fail(&sess.ctx, e)),
    }
}

pub(super) async fn download_post_file(
    State(s): State<WebState>,
    h: HeaderMap,
    Path((id, post_id, sha)): Path<(String, String, String)>,
) -> Page {
    let sess = session(&s, &h).await?;
    match s
        .node
        .download_post_file(&sess.who, &id, &post_id, &sha)
        .await
    {
        Ok((d, stream)) => Ok(send(&sess, d, Body::from_stream(stream))),
        Err(e) => Ok(fail(&sess.ctx, e)),
    }
}

fn send(sess: &Session, d: entente_node::attachments::Delivery, body: Body) -> Response {
    // A file never goes out without its headers: one that cannot be set ends the answer.
    let headers = match d.header_map() {
        Ok(h) => h,
        Err(e) => return fail(&sess.ctx, e),
    };
    let mut r = body.into_response();
    r.headers_mut().extend(headers);
    r
}

/// What an upload form brought: the file stored (its hash and name) or why not, and its text
/// fields.
pub(super) struct Received {
    pub(super) file: Option<NewAttachment>,
    pub(super) errors: Errors,
    pub(super) fields: FormData,
}

/// The most text a form's named text fields may carry together (a post's text is far shorter),
/// as much as axum lets a URL-encoded form hold; the rest is refused rather than held in memory.
const MAX_TEXT: usize = 2 << 20;

/// Read an upload form that must carry a file.
async fn receive(s: &WebState, sess: &Session, form: Multipart) -> Result<Received, Response> {
    let mut r = receive_form(s, sess, form, &[]).await?;
    if r.errors.is_empty() && r.file.is_none() {
        r.errors.add("file", "Choose a file to attach.");
    }
    Ok(r)
}

/// Read a multipart form: its CSRF token first, then the text fields named in `text` (at most
/// [`MAX_TEXT`] together; any other part, and anything before the token, is skipped unread) and
/// at most one file (an empty file input, which a browser sends when no file was chosen, is no
/// file), streamed to disk as it arrives. Err: the answer to send at once (a form without a
/// valid token, or a node failure).
pub(super) async fn receive_form(
    s: &WebState,
    sess: &Session,
    mut form: Multipart,
    text: &[&str],
) -> Result<Received, Response> {
    let mut text_bytes = 0usize;
    let mut checked = false;
    let mut file = None;
    let mut errors = Errors::default();
    let mut fields = FormData::default();
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
            Some("file") if checked && file.is_none() => {
                let name = field.file_name().unwrap_or_default().to_owned();
                let mut field = field;
                if name.is_empty() {
                    // No file chosen: the browser sends the input empty. Nothing to keep.
                    while let Ok(Some(_)) = field.chunk().await {}
                    continue;
                }
                let mut up = match s.node.begin_upload(&sess.who).await {
                    Ok(u) => u,
                    Err(e) => return Err(fail(&sess.ctx, e)),
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
                    Ok(u) => {
                        file = Some(NewAttachment {
                            sha256: u.sha256,
                            name,
                        })
                    }
                    Err(e) => errors.add("file", e.to_string()),
                }
            }
            Some(name) if checked && text.contains(&name) => {
                let name = name.to_owned();
                let mut field = field;
                let mut v = Vec::new();
                while let Ok(Some(c)) = field.chunk().await {
                    text_bytes += c.len();
                    if text_bytes > MAX_TEXT {
                        errors.add(&name, "This text is too long.");
                        v.clear();
                        break;
                    }
                    v.extend_from_slice(&c);
                }
                fields
                    .0
                    .push((name, String::from_utf8_lossy(&v).into_owned()));
            }
            _ => {}
        }
    }
    if !checked {
        return Err(crate::forbidden_form());
    }
    Ok(Received {
        file,
        errors,
        fields,
    })
}

/// The item author's upload form.
pub(super) async fn attach(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    form: Multipart,
) -> Page {
    let sess = session(&s, &h).await?;
    let Received {
        file, mut errors, ..
    } = receive(&s, &sess, form).await?;
    if let (Some(file), true) = (file, errors.is_empty()) {
        match s.node.attach_file(&sess.who, &id, file).await {
            Ok(_) => return Ok(done_to(&format!("/ui/items/{id}"), Done::Attached)),
            Err(NodeError::Domain(e)) => errors.add("file", e.to_string()),
            Err(e) => return Ok(fail(&sess.ctx, e)),
        }
    }
    Ok(item_view(&s, &sess, &id, errors).await)
}

/// A post author's upload form, on the discussion's page.
pub(super) async fn attach_to_post(
    State(s): State<WebState>,
    h: HeaderMap,
    Path((id, post_id)): Path<(String, String)>,
    form: Multipart,
) -> Page {
    let sess = session(&s, &h).await?;
    let Received { file, errors, .. } = receive(&s, &sess, form).await?;
    // Reported under this post's file input: the page has one upload form per post.
    let field = format!("file-{post_id}");
    let mut errors = Errors(
        errors
            .0
            .into_iter()
            .map(|(k, v)| (if k == "file" { field.clone() } else { k }, v))
            .collect(),
    );
    if let (Some(file), true) = (file, errors.is_empty()) {
        match s
            .node
            .attach_post_file(&sess.who, &id, &post_id, file)
            .await
        {
            Ok(_) => {
                return Ok(done_to(&format!("/ui/discussions/{id}"), Done::Attached));
            }
            Err(NodeError::Domain(e)) => errors.add(&field, e.to_string()),
            // Not the user's post (any more), or a full discussion: a page that says so (the
            // post's form, where the field's message would go, is not shown then).
            Err(e) => return Ok(fail(&sess.ctx, e)),
        }
    }
    Ok(discussion_page(&s, &sess, &id, errors, FormData::default(), None).await)
}

/// A meeting's file.
pub(super) async fn download_meeting_file(
    State(s): State<WebState>,
    h: HeaderMap,
    Path((id, sha)): Path<(String, String)>,
) -> Page {
    download_object_file(s, h, "meeting", id, sha).await
}

/// A paper's file.
pub(super) async fn download_paper_file(
    State(s): State<WebState>,
    h: HeaderMap,
    Path((id, sha)): Path<(String, String)>,
) -> Page {
    download_object_file(s, h, "paper", id, sha).await
}

async fn download_object_file(
    s: WebState,
    h: HeaderMap,
    kind: &str,
    id: String,
    sha: String,
) -> Page {
    let sess = session(&s, &h).await?;
    match s
        .node
        .download_object_file(&sess.who, kind, &id, &sha)
        .await
    {
        Ok((d, stream)) => Ok(send(&sess, d, Body::from_stream(stream))),
        Err(e) => Ok(fail(&sess.ctx, e)),
    }
}

/// The convener's upload form on a meeting's page.
pub(super) async fn attach_to_meeting(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    form: Multipart,
) -> Page {
    attach_to_object(s, h, "meeting", id, form).await
}

/// The penholder's upload form on a paper's page.
pub(super) async fn attach_to_paper(
    State(s): State<WebState>,
    h: HeaderMap,
    Path(id): Path<String>,
    form: Multipart,
) -> Page {
    attach_to_object(s, h, "paper", id, form).await
}

async fn attach_to_object(
    s: WebState,
    h: HeaderMap,
    kind: &str,
    id: String,
    form: Multipart,
) -> Page {
    let sess = session(&s, &h).await?;
    let Received {
        file, mut errors, ..
    } = receive(&s, &sess, form).await?;
    if let (Some(file), true) = (file, errors.is_empty()) {
        match s.node.attach_object_file(&sess.who, kind, &id, file).await {
            Ok(_) => return Ok(done_to(&format!("/ui/{kind}s/{id}"), Done::Attached)),
            Err(NodeError::Domain(e)) => errors.add("file", e.to_string()),
            Err(e) => return Ok(fail(&sess.ctx, e)),
        }
    }
    Ok(match kind {
        "meeting" => super::meetings::meeting_view(&s, &sess, &id, errors).await,
        _ => super::papers::paper_view(&s, &sess, &id, errors).await,
    })
}

/// The convener's "Remove" button beside a file of a meeting.
pub(super) async fn remove_meeting_file(
    State(s): State<WebState>,
    h: HeaderMap,
    Path((id, sha)): Path<(String, String)>,
    body: Bytes,
) -> Page {
    remove_object_file(s, h, "meeting", id, sha, body).await
}

/// The penholder's "Remove" button beside a file of a paper.
pub(super) async fn remove_paper_file(
    State(s): State<WebState>,
    h: HeaderMap,
    Path((id, sha)): Path<(String, String)>,
    body: Bytes,
) -> Page {
    remove_object_file(s, h, "paper", id, sha, body).await
}

async fn remove_object_file(
    s: WebState,
    h: HeaderMap,
    kind: &str,
    id: String,
    sha: String,
    body: Bytes,
) -> Page {
    let (sess, _) = posted(&s, &h, &body).await?;
    match s.node.remove_object_file(&sess.who, kind, &id, &sha).await {
        Ok(_) => Ok(done_to(&format!("/ui/{kind}s/{id}"), Done::FileRemoved)),
        Err(e) => Ok(fail(&sess.ctx, e)),
    }
}
