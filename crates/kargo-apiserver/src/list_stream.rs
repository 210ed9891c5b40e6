//! A LIST without a `limit`, sent as it is read: the store is read a page
//! of rows at a time (each under its own short hold of the store's lock)
//! and each page's stored texts are written out before the next is read.
//!
//! Read whole, a LIST of 1,000 Stages held 6.6 MB of rows at once (more
//! with the allocator's slack) and kept every write waiting while it was
//! read; the scale benchmark's polling LIST of all Stages was what raised
//! the server's RSS by 8-10 MB at each pass end.
//!
//! The list's resourceVersion is the store's when the first page is read.
//! A later page may show an object as changed after that version (never
//! an object twice, as pages follow names); a watch from the list's
//! resourceVersion replays those changes, so a reflector ends at the same
//! state as after a single-snapshot read. docs/ARCHITECTURE.md lists this
//! as a difference from the Kubernetes API server.

use crate::ApiServer;
use crate::handlers::blocking;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiResult;
use axum::body::Body;
use bytes::Bytes;
use kargo_api::ResourceInfo;
use kargo_store::{RawObject, StoreError};
use serde_json::Value;
use std::sync::Arc;

/// Rows read from the store per page of a streamed LIST.
pub(crate) const PAGE_ROWS: usize = 100;

/// A label and field selector pair; `None` where a LIST has neither.
pub(crate) type Filter = Option<Arc<(LabelSelector, FieldSelector)>>;

/// Whether a stored row passes the LIST's selectors.
pub(crate) fn keeps(filter: &Filter, row: &RawObject) -> Result<bool, StoreError> {
    let Some(f) = filter else { return Ok(true) };
    let v: Value = serde_json::from_str(&row.body)?;
    Ok(f.0.matches(&v) && f.1.matches(&v))
}

/// Where a streamed LIST stands: the next page starts after `cursor`.
struct Cursor {
    server: ApiServer,
    info: &'static ResourceInfo,
    ns: Option<String>,
    filter: Filter,
    cursor: Option<(String, String)>,
    exhausted: bool,
    written: usize,
}

/// One page of a streamed LIST: the rows that pass the selectors and the
/// store's resourceVersion when the page was read.
pub(crate) struct Page {
    rows: Vec<RawObject>,
    pub(crate) rv: u64,
    cursor: Option<(String, String)>,
    exhausted: bool,
}

/// Reads the page after `cursor` (the first page: after the LIST's
/// `continue` point, if any).
pub(crate) async fn read_page(
    server: &ApiServer,
    info: &'static ResourceInfo,
    ns: Option<String>,
    filter: Filter,
    cursor: Option<(String, String)>,
) -> ApiResult<Page> {
    blocking(server, move |s| {
        let after = cursor.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
        let (rows, rv) = s.store.list(info, ns.as_deref(), after, PAGE_ROWS)?;
        let exhausted = rows.len() < PAGE_ROWS;
        let cursor = rows
            .last()
            .map(|r| (r.ns.clone(), r.name.clone()))
            .or(cursor);
        let mut kept = Vec::with_capacity(rows.len());
        for row in rows {
            if keeps(&filter, &row)? {
                kept.push(row);
            }
        }
        Ok(Page {
            rows: kept,
            rv,
            cursor,
            exhausted,
        })
    })
    .await
}

/// The list's body: `head`, the rows' stored texts comma-separated, `]}`,
/// reading each further page when the previous one has been handed to the
/// connection. A store error after the first page ends the body early
/// (the client sees a cut-off response, never a wrong one).
pub(crate) fn body(
    server: &ApiServer,
    info: &'static ResourceInfo,
    ns: Option<String>,
    filter: Filter,
    head: String,
    first: Page,
) -> Body {
    let start = Cursor {
        server: server.clone(),
        info,
        ns,
        filter,
        cursor: first.cursor,
        exhausted: first.exhausted,
        written: 0,
    };
    let pages = futures::stream::unfold(
        (Some(start), Some(first.rows), Some(head)),
        |(cur, pending, head)| async move {
            let mut cur = cur?;
            let mut chunks: Vec<Bytes> = head.map(Bytes::from).into_iter().collect();
            let rows = match pending {
                Some(rows) => rows,
                None if cur.exhausted => {
                    chunks.push(Bytes::from_static(b"]}"));
                    return Some((Ok(chunks), (None, None, None)));
                }
                None => {
                    let next = read_page(
                        &cur.server,
                        cur.info,
                        cur.ns.clone(),
                        cur.filter.clone(),
                        cur.cursor.take(),
                    )
                    .await;
                    match next {
                        Ok(p) => {
                            cur.cursor = p.cursor;
                            cur.exhausted = p.exhausted;
                            p.rows
                        }
                        Err(e) => {
                            let e = std::io::Error::other(format!("listing: {}", e.message));
                            return Some((Err(e), (None, None, None)));
                        }
                    }
                }
            };
            for row in rows {
                if cur.written > 0 {
                    chunks.push(Bytes::from_static(b","));
                }
                chunks.push(Bytes::from(row.body));
                cur.written += 1;
            }
            Some((Ok(chunks), (Some(cur), None, None)))
        },
    );
    use futures::StreamExt;
    let bytes = pages.flat_map(|page| {
        let items: Vec<Result<Bytes, std::io::Error>> = match page {
            Ok(chunks) => chunks.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        };
        futures::stream::iter(items)
    });
    Body::from_stream(bytes)
}
