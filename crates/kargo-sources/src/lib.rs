//! Artifact discovery for Warehouses. Each source kind lists what a
//! subscription can see, newest/best first, bounded by its discovery
//! limit. Today: git repositories, through the `git` CLI with one shared
//! bare mirror per repository.

mod filters;
pub mod git;

pub use git::{GitDiscoverer, GitError};
