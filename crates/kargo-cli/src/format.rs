//! `-o FORMAT` as kubectl and Kargo's CLI take it: `table` (the
//! default), `wide`, `json`, `yaml`, `name`, `jsonpath=TEMPLATE` and
//! `go-template=TEMPLATE` (or the bare name with `--template`), and the
//! printing of objects in every format but the tables.

use crate::resources::qualified_name;
use crate::template::{self, Syntax};
use anyhow::{Result, bail};
use kargo_api::ResourceInfo;
use serde_json::{Value, json};

/// An output format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// Columns (default).
    Table,
    /// More columns than the table.
    Wide,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
    /// `kind.group/name` per line.
    Name,
    /// A template; empty until `--template` fills it.
    Template(Syntax, String),
}

impl Format {
    /// Parses `-o`'s value.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (name, arg) = match s.split_once('=') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let f = match (name, arg) {
            ("table" | "", None) => Format::Table,
            ("wide", None) => Format::Wide,
            ("json", None) => Format::Json,
            ("yaml", None) => Format::Yaml,
            ("name", None) => Format::Name,
            ("jsonpath", a) => Format::Template(Syntax::JsonPath, a.unwrap_or("").into()),
            ("go-template" | "template", a) => {
                Format::Template(Syntax::GoTemplate, a.unwrap_or("").into())
            }
            _ => {
                return Err(format!(
                    "unknown output format {s:?}: expected one of table, wide, json, yaml, name, jsonpath=TEMPLATE, go-template=TEMPLATE"
                ));
            }
        };
        Ok(f)
    }

    /// Fills a template format from `--template`; refuses a template
    /// format with none.
    pub fn with_template(self, template: Option<&str>) -> Result<Self> {
        match (self, template) {
            (Format::Template(s, t), Some(flag)) if t.is_empty() => {
                Ok(Format::Template(s, flag.to_string()))
            }
            (Format::Template(_, t), _) if t.is_empty() => {
                bail!(
                    "-o jsonpath and -o go-template need a template: -o jsonpath='{{.metadata.name}}' or --template"
                )
            }
            (f @ Format::Template(..), _) | (f, None) => Ok(f),
            (_, Some(_)) => bail!("--template goes with -o jsonpath or -o go-template"),
        }
    }

    /// Whether this is one of the column formats.
    pub fn is_table(&self) -> bool {
        matches!(self, Format::Table | Format::Wide)
    }

    /// Prints `items` of kind `info`: the one object when `single`, else a
    /// `List` (the shape kubectl prints for the same request).
    pub fn print(&self, info: &ResourceInfo, items: &[Value], single: bool) -> Result<()> {
        let doc = match (single, items) {
            (true, [one]) => one.clone(),
            _ => json!({"apiVersion": "v1", "kind": "List", "items": items}),
        };
        self.print_doc(Some(info), &doc)
    }

    /// Prints one document (an object or a `List`); `info` names objects for `-o name`.
    pub fn print_doc(&self, info: Option<&ResourceInfo>, doc: &Value) -> Result<()> {
        match self {
            Format::Json => outln!("{}", serde_json::to_string_pretty(doc)?),
            Format::Yaml => out!("{}", yaml_serde::to_string(doc)?),
            Format::Name => {
                let items = match doc.get("items").and_then(Value::as_array) {
                    Some(items) if doc["kind"] == "List" => items.clone(),
                    _ => vec![doc.clone()],
                };
                for v in &items {
                    let name = v
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    match info {
                        Some(i) => outln!("{}", qualified_name(i, name))?,
                        None => outln!("{name}")?,
                    }
                }
                Ok(())
            }
            Format::Template(syntax, t) => out!("{}", template::render(*syntax, t, doc)?),
            Format::Table | Format::Wide => bail!("tables are printed by the command"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectls_spellings() {
        assert_eq!(Format::parse("wide"), Ok(Format::Wide));
        assert_eq!(
            Format::parse("jsonpath={.metadata.name}"),
            Ok(Format::Template(
                Syntax::JsonPath,
                "{.metadata.name}".into()
            ))
        );
        assert_eq!(
            Format::parse("go-template={{.kind}}={{.a}}"),
            Ok(Format::Template(
                Syntax::GoTemplate,
                "{{.kind}}={{.a}}".into()
            ))
        );
        assert!(Format::parse("xml").is_err());
        let bare = Format::parse("jsonpath").unwrap();
        assert!(bare.clone().with_template(None).is_err());
        assert_eq!(
            bare.with_template(Some("{.kind}")).unwrap(),
            Format::Template(Syntax::JsonPath, "{.kind}".into())
        );
        assert!(Format::Json.with_template(Some("{.kind}")).is_err());
    }
}
