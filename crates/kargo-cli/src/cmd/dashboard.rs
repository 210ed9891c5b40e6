//! `kargo dashboard`: opens the web UI of the server the CLI talks to
//! (`--server`, else the saved configuration) with the desktop's opener
//! when there is a display (as `kargo login --sso` does), and prints its
//! address either way.

use crate::client::ConnectFlags;
use anyhow::{Result, bail};

/// The UI's address for the server at `api`.
pub fn ui_url(api: &str) -> String {
    format!("{}/ui", api.trim_end_matches('/'))
}

pub fn run(flags: &ConnectFlags) -> Result<()> {
    let api = match &flags.server {
        Some(s) => s.clone(),
        None => crate::config::load()?
            .map(|c| c.api_address)
            .unwrap_or_default(),
    };
    if api.is_empty() {
        bail!("no server configured: run `kargo login` or `kargo server` first, or pass --server");
    }
    let url = ui_url(&api);
    if super::sso::open_browser(&url) {
        outln!("opening {url}")?;
    } else {
        outln!("{url}")?;
        outln!("(no display to open a browser on: open the address above in one)")?;
    }
    Ok(())
}
