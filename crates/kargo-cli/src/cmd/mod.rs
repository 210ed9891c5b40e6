//! One module per command family.

pub mod apply;
pub mod config;
pub mod configmaps;
pub mod controller;
pub mod credentials;
pub mod dashboard;
pub mod delete;
pub mod freight;
pub mod generic_credentials;
pub mod get;
pub mod install;
pub mod key_values;
pub mod kubeconfig;
pub mod login;
pub mod logs;
pub mod promote;
pub mod quickstart;
pub mod refresh;
pub mod resource_views;
pub mod roles;
pub mod server;
pub mod sso;
pub mod stats;
pub mod tokens;
pub mod verify;
pub mod version;
