//! The built-in steps, one file each with its config type and tests.

pub mod argocd_update;
pub mod git_clear;
pub mod git_clone;
pub mod git_commit;
pub mod git_push;
pub mod http;
pub mod kustomize_set_image;
pub mod yaml_update;
