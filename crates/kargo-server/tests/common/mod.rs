//! Set-up the integration tests share: `kargo server` with its API and
//! without controllers (the tests are about the API, or drive the
//! controllers' reconciles by hand), on a free loopback port, with its
//! data in a temporary directory; clients for it; a Project to work in.

// Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use kargo_api::{Project, ResourceInfo};
use kargo_server::{Server, ServerConfig};
use kube::api::{Api, PostParams};
use serde_json::json;
use std::path::Path;

/// The settings of an API-only server on a free loopback port with its
/// data in `dir`; a test changes fields on top of them.
pub fn api_only_config(dir: &Path) -> ServerConfig {
    ServerConfig {
        // Controllers would add their own writes to what a test looks at.
        controllers: false,
        ..ServerConfig::new(dir, "127.0.0.1:0".parse().unwrap())
    }
}

/// A started API-only server and the temporary data directory it keeps
/// its data in.
pub struct ApiOnlyServer {
    /// The server (declared first: dropped before its data directory).
    pub server: Server,
    /// The data directory, removed when dropped.
    pub dir: tempfile::TempDir,
}

impl ApiOnlyServer {
    /// Starts an API-only server ([`api_only_config`]) in a new temporary
    /// directory.
    pub async fn start() -> Self {
        Self::start_with(|config| config).await
    }

    /// Starts an API-only server in a new temporary directory with the
    /// settings `adjust` makes of [`api_only_config`]'s.
    pub async fn start_with(adjust: impl FnOnce(ServerConfig) -> ServerConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(adjust(api_only_config(dir.path())))
            .await
            .unwrap();
        ApiOnlyServer { server, dir }
    }

    /// A kube client for the server over HTTPS with the admin token.
    pub fn https_client(&self) -> kube::Client {
        self.server.client().unwrap()
    }

    /// A kube client calling the server's API in-process (no socket).
    pub fn in_process_client(&self) -> kube::Client {
        kargo_server::in_process_client(self.server.store.clone())
    }
}

/// Creates the Project `name` through `client`.
pub async fn create_project(client: &kube::Client, name: &str) {
    let p: Project = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Project>::all(client.clone())
        .create(&PostParams::default(), &p)
        .await
        .unwrap();
}

/// The registry entry of the Kargo kind `kind` (for writes straight to
/// the store).
pub fn kargo_kind(kind: &str) -> &'static ResourceInfo {
    kargo_api::lookup_kind("kargo.akuity.io/v1alpha1", kind).unwrap()
}
