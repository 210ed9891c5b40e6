//! TLS set-up shared by the HTTP clients of this crate (oci-client's and
//! the Helm repository client): both use reqwest's rustls without a
//! built-in crypto provider, so the process-wide default provider is set
//! to `ring` (the one the rest of the workspace already links) before the
//! first client is built.

use std::sync::Once;

static INSTALL: Once = Once::new();

/// Installs `ring` as rustls' process default, once. Harmless when some
/// other part of the process installed a provider first.
pub fn ensure_crypto_provider() {
    INSTALL.call_once(|| {
        // An Err only means a provider is already installed: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
