//! Every object in the seed's examples parses as its typed kind, passes
//! validation, and serialises back without losing or changing a field.

use kargo_api::*;
use serde_json::Value;
use std::path::PathBuf;

fn seed_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seed/examples");
    assert!(
        dir.is_dir(),
        "the seed examples must be beside the repository at {}",
        dir.display()
    );
    dir
}

fn roundtrip<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) -> Value {
    let t: T = serde_json::from_value(v.clone()).expect("typed decode");
    serde_json::to_value(t).expect("encode")
}

#[test]
fn seed_examples_roundtrip_losslessly() {
    let mut count = 0;
    let mut entries: Vec<_> = std::fs::read_dir(seed_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in yaml_serde::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc).unwrap();
            if v.is_null() {
                continue;
            }
            let kind = v["kind"].as_str().unwrap().to_string();
            let info = lookup_kind(v["apiVersion"].as_str().unwrap_or(""), &kind)
                .unwrap_or_else(|| panic!("unknown kind {kind}"));
            let back = match kind.as_str() {
                "Stage" => roundtrip::<Stage>(&v),
                "Warehouse" => roundtrip::<Warehouse>(&v),
                "AnalysisTemplate" => roundtrip::<AnalysisTemplate>(&v),
                "Application" => roundtrip::<Application>(&v),
                other => panic!("no round-trip case for {other}"),
            };
            assert_eq!(back, v, "{} {kind} changed on round trip", path.display());
            let out = (info.validate)(&v);
            assert!(
                out.errors.is_empty(),
                "{}: {:?}",
                path.display(),
                out.errors
            );
            assert!(
                out.unknown_fields.is_empty(),
                "{}: {:?}",
                path.display(),
                out.unknown_fields
            );
            count += 1;
        }
    }
    assert_eq!(count, 11, "objects in the seed examples");
}
