//! kargo-expr: Kargo's `${{ }}` expression templating and Masterminds-style
//! semver constraints.
pub mod semver;
