//! The built-in steps, one file each with its config type and tests, and
//! helpers: `sjson_key` (Kargo's key syntax, for `yaml-update`), `files`
//! (what the file steps share), `oci` (what the OCI steps share) and
//! `tools` (external programs on `PATH`), `pr` (what the pull-request
//! steps share); how Go prints a value lives in
//! `kargo_expr::go_value`.

pub mod argocd_update;
pub mod argocd_wait;
pub mod compose_output;
pub mod copy;
pub mod delete;
pub mod fail;
pub mod file_write;
pub mod files;
pub mod git_clear;
pub mod git_clone;
pub mod git_commit;
pub mod git_merge_pr;
pub mod git_open_pr;
pub mod git_push;
pub mod git_tag;
pub mod git_wait_for_pr;
pub mod github_push;
pub mod helm_deps;
pub mod helm_template;
pub mod helm_update_chart;
pub mod http;
pub mod http_download;
pub mod json_update;
pub mod key_updates;
pub mod kustomize_build;
pub mod kustomize_set_image;
pub mod oci;
pub mod oci_download;
pub mod oci_push;
pub mod parse;
pub mod pr;
pub mod send_message;
pub mod set_freight_alias;
pub mod set_metadata;
pub mod sjson_key;
pub mod tar;
pub mod toml_update;
pub mod tools;
pub mod untar;
pub mod yaml_merge;
pub mod yaml_update;
