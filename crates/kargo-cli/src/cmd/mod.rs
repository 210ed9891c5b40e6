//! One module per command family.

pub mod apply;
pub mod config;
pub mod credentials;
pub mod delete;
pub mod freight;
pub mod get;
pub mod kubeconfig;
pub mod login;
pub mod logs;
pub mod promote;
pub mod quickstart;
pub mod refresh;
pub mod roles;
pub mod server;
pub mod tokens;
pub mod verify;
