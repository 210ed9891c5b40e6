//! Artifact discovery for Warehouses. Each source kind lists what a
//! subscription can see, newest/best first, bounded by its discovery
//! limit: git repositories (through the `git` CLI with one shared bare
//! mirror per repository), container images and Helm charts (classic
//! HTTP(S) repositories and OCI registries, through `oci-client`).

pub mod chart;
mod filters;
pub mod git;
pub mod git_command;
pub mod image;
mod image_ref;
pub mod oci_artifact;
mod registry;
mod tls;

pub use chart::{ChartCredentials, ChartDiscoverer, ChartError, ChartIndex, ChartStats};
pub use git::{GitDiscoverer, GitError};
pub use image::{ImageCredentials, ImageDiscoverer, ImageError, ImageStats};
pub use registry::RegistryError;
pub use tls::ensure_crypto_provider;
