//! The UI's static files, embedded in the binary: htmx 2.0.11 and its SSE
//! extension 2.2.4 (vendored from the npm registry, unmodified), the
//! style sheet and the small script for theme, pan/zoom and drag.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const HTMX: &[u8] = include_bytes!("assets/htmx-2.0.11.min.js");
const SSE: &[u8] = include_bytes!("assets/htmx-ext-sse-2.2.4.js");
const CSS: &[u8] = include_bytes!("assets/ui.css");
const JS: &[u8] = include_bytes!("assets/ui.js");

/// `GET /ui/assets/{file}`.
pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "htmx.min.js" => (HTMX, "text/javascript"),
        "sse.js" => (SSE, "text/javascript"),
        "ui.css" => (CSS, "text/css"),
        "ui.js" => (JS, "text/javascript"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
