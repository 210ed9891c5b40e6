//! Tests of `yaml-update`: Kargo's own tables, ported row for row as data
//! (each test asserts its upstream row count), then the cases where this
//! editor keeps what Kargo's line rewriting loses.

use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::git::testutil::with_ctx;

/// What a row expects: the whole output, or an error containing a phrase.
#[derive(Debug)]
enum Want {
    Out(String),
    Err(&'static str),
}

/// Updates of one row: (key, value).
type Updates = Vec<(&'static str, Value)>;
/// (name, input, updates, expected).
type SetRow = (&'static str, String, Updates, Want);
/// (name, key path, zero-based (line, column) or error phrase).
type FindRow = (
    &'static str,
    &'static str,
    Result<(usize, usize), &'static str>,
);
/// (name, files, config, commit message or error phrase, lines to find).
type RunRow = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    Value,
    Want,
    Vec<&'static str>,
);
/// (name, file content or none, updates, content or error phrase).
type FileRow = (&'static str, Option<&'static str>, Updates, Want);
/// (name, path, updates, message).
type MessageRow = (&'static str, &'static str, Updates, &'static str);

fn set(text: &str, updates: &[(&str, Value)]) -> Result<String, SetError> {
    let refs: Vec<(&str, &Value)> = updates.iter().map(|(k, v)| (*k, v)).collect();
    set_values(text, &refs)
}

fn check(name: &str, got: Result<String, SetError>, want: &Want) {
    match (got, want) {
        (Ok(out), Want::Out(expected)) => assert_eq!(&out, expected, "{name}"),
        (Err(e), Want::Err(phrase)) => {
            assert!(e.to_string().contains(phrase), "{name}: {e}");
        }
        (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
    }
}

// ---- pkg/yaml/yaml_test.go: TestSetValuesInBytes -------------------------

const TEMPTATION: &str = "Did you ever hear the tragedy of Darth Plagueis The Wise? I thought not. It's not a story the Jedi would tell you. It's a Sith legend. Darth Plagueis was a Dark Lord of the Sith, so powerful and so wise he could use the Force to influence the midichlorians to create life...He had such a knowledge of the dark side that he could even keep the ones he cared about from dying. The dark side of the Force is a pathway to many abilities some consider to be unnatural. He became so powerful...the only thing he was afraid of was losing his power, which eventually, of course, he did. Unfortunately, he taught his apprentice everything he knew, then his apprentice killed him in his sleep. Ironic. He could save others from death, but not himself.";

/// (name, input, updates, expected).
fn set_values_in_bytes_table() -> Vec<SetRow> {
    let long = TEMPTATION.repeat(1000);
    vec![
        (
            "invalid YAML",
            // One line is indented with a tab.
            "\ncharacters:\n- name: Anakin\n\taffiliation: Light side\n".into(),
            vec![],
            Want::Err("error unmarshaling input"),
        ),
        (
            "no extra quotes around true number",
            "\ncharacters:\n- name: Arthur Dent\n  answer: idk\n".into(),
            vec![("characters.0.answer", json!(42))],
            Want::Out("\ncharacters:\n- name: Arthur Dent\n  answer: 42\n".into()),
        ),
        (
            "extra quotes around string containing a valid number",
            "\ncharacters:\n- name: Arthur Dent\n  answer: idk\n".into(),
            vec![("characters.0.answer", json!("42"))],
            Want::Out("\ncharacters:\n- name: Arthur Dent\n  answer: \"42\"\n".into()),
        ),
        (
            "success",
            "\ncharacters:\n- name: Anakin\n  affiliation: Light side\n".into(),
            vec![("characters.0.affiliation", json!("Dark side"))],
            Want::Out("\ncharacters:\n- name: Anakin\n  affiliation: Dark side\n".into()),
        ),
        (
            "really long lines still work",
            format!(
                "\ncharacters:\n- name: Anakin\n  affiliation: Light side\n  temptation: \"{long}\"\n"
            ),
            vec![("characters.0.affiliation", json!("Dark side"))],
            Want::Out(format!(
                "\ncharacters:\n- name: Anakin\n  affiliation: Dark side\n  temptation: \"{long}\"\n"
            )),
        ),
    ]
}

#[test]
fn kargo_set_values_in_bytes_table() {
    let table = set_values_in_bytes_table();
    assert_eq!(table.len(), 5, "rows of upstream TestSetValuesInBytes");
    for (name, input, updates, want) in &table {
        check(name, set(input, updates), want);
    }
}

// ---- pkg/yaml/yaml_test.go: TestFindScalarNode ---------------------------

/// (name, key path split on dots, zero-based (line, column) or error phrase).
/// Upstream's second row expects Go's `strconv.Atoi` error; the phrase here
/// is ours (docs/promotions.md).
const FIND_SCALAR_NODE: &[FindRow] = &[
    (
        "node not found",
        "characters.imperials",
        Err("key path not found"),
    ),
    (
        "node not found due to error parsing int",
        "characters.rebels.first.name",
        Err("\"first\" is not an index into this sequence"),
    ),
    (
        "node found, but isn't a scalar node",
        "characters.rebels",
        Err("key path does not address a scalar node"),
    ),
    ("success", "characters.rebels.0.name", Ok((3, 10))),
];

#[test]
fn kargo_find_scalar_node_table() -> Result<(), SetError> {
    assert_eq!(
        FIND_SCALAR_NODE.len(),
        4,
        "rows of upstream TestFindScalarNode"
    );
    let text = "\ncharacters:\n  rebels:\n  - name: Skywalker\n";
    let root = first_document(text)?;
    for (name, key, want) in FIND_SCALAR_NODE {
        let parts: Vec<String> = key.split('.').map(String::from).collect();
        match (find_scalar(text, root.clone(), &parts), want) {
            (Ok(target), Ok((line, col))) => {
                let before = &text[..target.range.start];
                let got_line = before.matches('\n').count();
                let got_col = before.len() - before.rfind('\n').map_or(0, |i| i + 1);
                assert_eq!((got_line, got_col), (*line, *col), "{name}");
            }
            (Err(e), Err(phrase)) => assert!(e.contains(phrase), "{name}: {e}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
    Ok(())
}

// ---- pkg/promotion/runner/builtin/yaml_updater_test.go --------------------

/// Test_yamlUpdater_convert: (name, config, problems the error must name).
/// Upstream's messages are its JSON schema validator's; these are ours for
/// the same fields.
fn convert_table() -> Vec<(&'static str, Value, &'static [&'static str])> {
    vec![
        ("path is not specified", json!({}), &["path: required"]),
        (
            "path is empty",
            json!({"path": ""}),
            &["path: must not be empty"],
        ),
        ("updates is null", json!({}), &["updates: required"]),
        (
            "updates is empty",
            json!({"updates": []}),
            &["updates: at least one update is required"],
        ),
        (
            "key not specified",
            json!({"updates": [{}]}),
            &["updates[0].key: required"],
        ),
        (
            "key is empty",
            json!({"updates": [{"key": ""}]}),
            &["updates[0].key: must not be empty"],
        ),
        (
            "value not specified",
            json!({"updates": [{}]}),
            &["updates[0].value: required"],
        ),
        (
            "valid config",
            json!({"path": "fake-path", "updates": [
                {"key": "fake-key", "value": "fake-value"},
                {"key": "another-fake-key", "value": "another-fake-value"},
                {"key": "yet-another-fake-key", "value": 5},
            ]}),
            &[],
        ),
    ]
}

#[test]
fn kargo_convert_table() {
    let table = convert_table();
    assert_eq!(table.len(), 8, "rows of upstream Test_yamlUpdater_convert");
    for (name, config, problems) in table {
        match parse(YAML_UPDATE, &config) {
            Ok(cfg) => {
                assert!(problems.is_empty(), "{name}: accepted");
                assert_eq!(cfg.updates.len(), 3, "{name}");
            }
            Err(e) => {
                assert!(!problems.is_empty(), "{name}: {e}");
                for p in problems {
                    assert!(e.message.contains(p), "{name}: {e}");
                }
            }
        }
    }
}

fn run_step(dir: &Path, config: Value) -> Result<StepResult, StepError> {
    with_ctx(dir, &Map::new(), |ctx| {
        YamlUpdateStep::new(YAML_UPDATE).run(ctx, &config)
    })
}

/// Test_yamlUpdater_run: (name, files, config, expected commit message or
/// error phrase, lines the file must then contain). Upstream's error is
/// "values file update failed"; ours names the missing file.
fn run_table() -> Vec<RunRow> {
    vec![
        (
            "successful run with updates",
            vec![(
                "values.yaml",
                "\nimage:\n  tag: oldtag\n  numStr: \"5\"\n  realNum: 5\n",
            )],
            json!({"path": "values.yaml", "updates": [
                {"key": "image.tag", "value": "fake-tag"},
                {"key": "image.numStr", "value": "42"},
                {"key": "image.realNum", "value": 42},
            ]}),
            Want::Out(
                "Updated values.yaml\n\n- image.tag: fake-tag\n- image.numStr: \"42\"\n- image.realNum: 42"
                    .into(),
            ),
            vec!["  tag: fake-tag", "  numStr: \"42\"", "  realNum: 42"],
        ),
        (
            "failed to update file",
            vec![],
            json!({"path": "non-existent/values.yaml", "updates": [
                {"key": "image.tag", "value": "fake-tag"},
            ]}),
            Want::Err("\"non-existent/values.yaml\" does not exist"),
            vec![],
        ),
    ]
}

#[test]
fn kargo_run_table() -> Result<(), Box<dyn std::error::Error>> {
    let table = run_table();
    assert_eq!(table.len(), 2, "rows of upstream Test_yamlUpdater_run");
    for (name, files, config, want, contains) in table {
        let tmp = tempfile::tempdir()?;
        for (path, content) in &files {
            std::fs::write(tmp.path().join(path), content)?;
        }
        let got = run_step(tmp.path(), config)
            .map(|r| {
                r.outputs["commitMessage"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .map_err(|e| SetError::Parse(e.to_string()));
        check(name, got, &want);
        for (path, _) in &files {
            let content = std::fs::read_to_string(tmp.path().join(path))?;
            for line in &contains {
                assert!(content.contains(line), "{name}: {content}");
            }
        }
    }
    Ok(())
}

/// Test_yamlUpdater_updateValuesFile: (name, file content or none, updates,
/// expected content or error phrase). Upstream's error is the OS's "no such
/// file or directory"; ours says the file does not exist.
fn update_values_file_table() -> Vec<FileRow> {
    vec![
        (
            "successful update",
            Some("key: value\n"),
            vec![("key", json!("newvalue"))],
            Want::Out("key: newvalue\n".into()),
        ),
        (
            "file does not exist",
            None,
            vec![("key", json!("value"))],
            Want::Err("does not exist"),
        ),
        (
            "empty changes",
            Some("key: value\n"),
            vec![],
            Want::Out("key: value\n".into()),
        ),
    ]
}

#[test]
fn kargo_update_values_file_table() -> Result<(), Box<dyn std::error::Error>> {
    let table = update_values_file_table();
    assert_eq!(
        table.len(),
        3,
        "rows of upstream Test_yamlUpdater_updateValuesFile"
    );
    for (name, content, updates, want) in table {
        let tmp = tempfile::tempdir()?;
        let file = tmp.path().join("values.yaml");
        if let Some(c) = content {
            std::fs::write(&file, c)?;
        }
        let edits: Vec<(usize, &str, &Value)> = updates
            .iter()
            .enumerate()
            .map(|(i, (k, v))| (i, *k, v))
            .collect();
        let got = update_file(YAML_UPDATE, &file, "values.yaml", &edits)
            .map_err(|e| SetError::Parse(e.to_string()))
            .and_then(|()| {
                std::fs::read_to_string(&file).map_err(|e| SetError::Parse(e.to_string()))
            });
        check(name, got, &want);
        assert_eq!(
            file.exists(),
            content.is_some(),
            "{name}: no file is created"
        );
    }
    Ok(())
}

/// Test_yamlUpdater_generateCommitMessage: (name, path, updates, message).
fn commit_message_table() -> Vec<MessageRow> {
    vec![
        ("no changes", "values.yaml", vec![], ""),
        (
            "single change",
            "values.yaml",
            vec![("image", json!("repo/image:tag1"))],
            "Updated values.yaml\n\n- image: repo/image:tag1",
        ),
        (
            "multiple changes",
            "chart/values.yaml",
            vec![
                ("image1", json!("repo1/image1:tag1")),
                ("image2", json!("repo2/image2:tag2")),
                ("numStr", json!("42")),
                ("realNum", json!(42)),
            ],
            "Updated chart/values.yaml\n\n- image1: repo1/image1:tag1\n- image2: repo2/image2:tag2\n- numStr: \"42\"\n- realNum: 42",
        ),
    ]
}

#[test]
fn kargo_commit_message_table() {
    let table = commit_message_table();
    assert_eq!(
        table.len(),
        3,
        "rows of upstream Test_yamlUpdater_generateCommitMessage"
    );
    for (name, path, updates, want) in table {
        let got = commit_message(path, updates.iter().map(|(k, v)| (*k, v)));
        assert_eq!(got, want, "{name}");
    }
}

// ---- Beyond upstream's tables ---------------------------------------------

const VALUES: &str = r#"# Values for my-web-app (dev)
# Managed by Kargo: image.tag is updated on promotion.

replicaCount: 2   # keep two for dev

image:
  repository: myacr.azurecr.io/my-web-app   # the app
  # tag is set by Kargo
  tag: 1.5.0    # current
  pullPolicy: IfNotPresent

version: "1.5"
quoted: 'single'
flags:
  enabled: true
containers:
  - name: web
    image: nginx:1.25 # pinned
  - name: sidecar
    image: busybox
example.com/version: v1
"0": zero

# trailing comment
"#;

fn one(text: &str, key: &str, value: Value) -> Result<String, SetError> {
    set(text, &[(key, value)])
}

#[test]
fn only_the_value_changes_and_its_comment_stays() -> Result<(), SetError> {
    let out = one(VALUES, "image.tag", json!("1.6.0"))?;
    assert_eq!(
        out,
        VALUES.replace("tag: 1.5.0    # current", "tag: 1.6.0    # current")
    );
    let out = one(VALUES, "containers.0.image", json!("nginx:1.27"))?;
    assert_eq!(
        out,
        VALUES.replace("nginx:1.25 # pinned", "nginx:1.27 # pinned")
    );
    Ok(())
}

#[test]
fn values_keep_their_own_type_as_in_kargo() -> Result<(), SetError> {
    // A number or a bool replaces a string as a number or a bool.
    let out = one(VALUES, "version", json!(1.6))?;
    assert_eq!(out, VALUES.replace("version: \"1.5\"", "version: 1.6"));
    let out = one(VALUES, "image.tag", json!(true))?;
    assert_eq!(out, VALUES.replace("tag: 1.5.0 ", "tag: true "));
    // Numbers print as Go prints a float64.
    let out = one(VALUES, "replicaCount", json!(1234567))?;
    assert_eq!(
        out,
        VALUES.replace("replicaCount: 2 ", "replicaCount: 1.234567e+06 ")
    );
    // A string Go reads as a number, a bool or JSON is Go-quoted.
    let out = one(VALUES, "image.tag", json!("1.6"))?;
    assert_eq!(out, VALUES.replace("tag: 1.5.0 ", "tag: \"1.6\" "));
    let out = one(VALUES, "flags.enabled", json!("false"))?;
    assert_eq!(out, VALUES.replace("enabled: true", "enabled: \"false\""));
    Ok(())
}

#[test]
fn a_new_string_keeps_the_old_quote_style() -> Result<(), SetError> {
    let out = one(VALUES, "version", json!("1.6-rc"))?;
    assert_eq!(
        out,
        VALUES.replace("version: \"1.5\"", "version: \"1.6-rc\"")
    );
    let out = one(VALUES, "quoted", json!("it's"))?;
    assert_eq!(out, VALUES.replace("quoted: 'single'", "quoted: 'it''s'"));
    let out = one(VALUES, "quoted", json!("two\nlines"))?;
    assert_eq!(
        out,
        VALUES.replace("quoted: 'single'", "quoted: \"two\\nlines\"")
    );
    Ok(())
}

#[test]
fn strings_that_would_not_read_back_are_quoted() -> Result<(), SetError> {
    for (value, written) in [
        ("", "\"\""),
        ("yes", "\"yes\""),
        ("~", "\"~\""),
        ("a: b", "\"a: b\""),
        ("#x", "\"#x\""),
        ("- x", "\"- x\""),
        (" padded", "\" padded\""),
        ("0x1F", "\"0x1F\""),
        ("-foo", "-foo"),
        ("repo/image:tag1", "repo/image:tag1"),
    ] {
        let out = one(VALUES, "image.pullPolicy", json!(value))?;
        assert_eq!(
            out,
            VALUES.replace(
                "pullPolicy: IfNotPresent",
                &format!("pullPolicy: {written}")
            ),
            "{value:?}"
        );
        let back: Value = yaml_serde::from_str(&out).map_err(|e| SetError::Parse(e.to_string()))?;
        assert_eq!(back["image"]["pullPolicy"], json!(value));
    }
    Ok(())
}

#[test]
fn null_and_collections() -> Result<(), SetError> {
    let out = one(VALUES, "image.tag", Value::Null)?;
    assert_eq!(out, VALUES.replace("tag: 1.5.0 ", "tag: null "));
    let out = one(VALUES, "image.tag", json!({"a": [1, "x"]}))?;
    assert_eq!(
        out,
        VALUES.replace("tag: 1.5.0 ", "tag: {\"a\":[1,\"x\"]} ")
    );
    assert_eq!(
        commit_message("v.yaml", [("k", &Value::Null), ("m", &json!({"a": 1}))]),
        "Updated v.yaml\n\n- k: null\n- m: {\"a\":1}"
    );
    Ok(())
}

#[test]
fn missing_keys_fail_and_nothing_is_created() {
    for (key, phrase) in [
        (
            "image.digest",
            "key path not found (image: no key \"digest\"",
        ),
        ("nope.deeper", "key path not found (no key \"nope\""),
        (
            "image.tag.x",
            "key path not found (image.tag: a scalar value has no keys)",
        ),
        (
            "containers.2.image",
            "index 2 is out of range: the sequence has 2 items",
        ),
        ("containers.-1.image", "index -1 is out of range"),
        ("containers.[0].image", "\"[0]\" is not an index"),
        (
            "image",
            "key path does not address a scalar node (image is a mapping)",
        ),
        ("containers", "(containers is a sequence)"),
    ] {
        match one(VALUES, key, json!("x")) {
            Err(e) => {
                assert!(e.to_string().contains(phrase), "{key}: {e}");
                assert!(
                    e.to_string()
                        .starts_with(&format!("error finding key {key}: ")),
                    "{e}"
                );
                assert_eq!(e.update(), Some(0));
            }
            Ok(out) => panic!("{key}: {out}"),
        }
    }
}

#[test]
fn sjson_key_syntax() -> Result<(), SetError> {
    let out = one(VALUES, r"example\.com/version", json!("v2"))?;
    assert_eq!(
        out,
        VALUES.replace("example.com/version: v1", "example.com/version: v2")
    );
    // A leading colon is dropped, as Kargo drops it: on a mapping it names
    // the key "0"; on a sequence it is an index, as in Kargo.
    let out = one(VALUES, ":0", json!("nil"))?;
    assert_eq!(out, VALUES.replace("\"0\": zero", "\"0\": nil"));
    let out = one(VALUES, "containers.:1.name", json!("side"))?;
    assert_eq!(out, VALUES.replace("name: sidecar", "name: side"));
    for (key, phrase) in [
        ("", "error splitting key : empty key"),
        ("image..tag", "empty key part"),
        (r"image\tag", "invalid escape sequence"),
        ("image.ta:g", "unexpected colon"),
    ] {
        let e = one(VALUES, key, json!(1)).err().map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.contains(phrase)),
            "{key}: {e:?}"
        );
    }
    Ok(())
}

#[test]
fn shapes_kargo_rewrites_badly_are_edited_in_place() -> Result<(), SetError> {
    // Multi-line scalars are replaced whole.
    let text = "a: |\n  one\n  two\nb: >-\n  folded\n  text\nc: plain\n  continued\nd: 1\n";
    let out = set(
        text,
        &[("a", json!("x")), ("b", json!("why")), ("c", json!("z"))],
    )?;
    assert_eq!(out, "a: x\nb: why\nc: z\nd: 1\n");
    // Flow collections keep the rest of their line; a comma gets quotes.
    let text = "image: {tag: 1, repo: x}  # c\ntags: [a, b]\n";
    let out = set(text, &[("image.tag", json!(2)), ("tags.1", json!("c,d"))])?;
    assert_eq!(out, "image: {tag: 2, repo: x}  # c\ntags: [a, \"c,d\"]\n");
    // Two values on one line both change.
    let out = set(text, &[("image.tag", json!(3)), ("image.repo", json!("z"))])?;
    assert_eq!(out, "image: {tag: 3, repo: z}  # c\ntags: [a, b]\n");
    // Empty values get theirs after the colon; the comment stays.
    let text = "a:\nb: # set me\nc:\n- \nd: 1\n";
    let out = set(
        text,
        &[("a", json!(1)), ("b", json!("x")), ("c.0", json!(true))],
    )?;
    assert_eq!(out, "a: 1\nb: x # set me\nc:\n- true\nd: 1\n");
    // Anchors stay (aliases keep working); a tag goes with the old value.
    let text = "a: &x 1\nb: *x\nc: !!str 5\nd: !!str &y 6\ne: *y\n";
    let out = set(text, &[("a", json!(2)), ("c", json!(7)), ("d", json!(8))])?;
    assert_eq!(out, "a: &x 2\nb: *x\nc: 7\nd: &y 8\ne: *y\n");
    // An alias is not followed (as in Kargo).
    let e = one(text, "b", json!(3)).err().map(|e| e.to_string());
    assert!(e.is_some_and(|e| e.contains("an alias")));
    Ok(())
}

#[test]
fn line_endings_and_documents() -> Result<(), SetError> {
    // CRLF and a missing final newline are kept.
    assert_eq!(
        one("a: 1\r\nb: two\r\n", "b", json!("three"))?,
        "a: 1\r\nb: three\r\n"
    );
    assert_eq!(one("key: value", "key", json!("v2"))?, "key: v2");
    // Only the first document is read, as Kargo reads it; a broken later
    // document is not looked at.
    let text = "a: 1\n---\na: 2\n---\nb: [\n";
    assert_eq!(one(text, "a", json!(3))?, "a: 3\n---\na: 2\n---\nb: [\n");
    let text = "---\na: 1\n---\nb: 2\n";
    assert!(one(text, "b", json!(3)).is_err_and(|e| e.to_string().contains("key path not found")));
    // No document at all.
    for text in ["", "# only a comment\n"] {
        assert!(
            one(text, "a", json!(1)).is_err_and(|e| e.to_string().contains("key path not found"))
        );
    }
    // Invalid YAML in the first document, as libyaml (Kargo's parser) says.
    for text in ["a: [1, 2\n", "a: b: c\n", "a: *nope\n"] {
        let e = one(text, "a", json!(1)).err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.starts_with("error unmarshaling input")),
            "{text}: {e:?}"
        );
    }
    Ok(())
}

#[test]
fn updates_are_checked_before_any_change_and_the_last_wins() -> Result<(), SetError> {
    let e = set(
        VALUES,
        &[("image.tag", json!("2")), ("image.nope", json!(1))],
    );
    assert!(e.is_err_and(|e| e.update() == Some(1)));
    let out = set(
        VALUES,
        &[("image.tag", json!("a")), ("image.tag", json!("b"))],
    )?;
    assert_eq!(out, VALUES.replace("tag: 1.5.0 ", "tag: b "));
    Ok(())
}

#[test]
fn the_step_writes_files_and_kargos_message() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    std::fs::create_dir_all(tmp.path().join("src/apps/dev"))?;
    std::fs::create_dir_all(tmp.path().join("src/apps/prod"))?;
    std::fs::write(tmp.path().join("src/apps/dev/values.yaml"), VALUES)?;
    std::fs::write(tmp.path().join("src/apps/prod/values.yaml"), VALUES)?;
    // The seed's git-update form: a directory and a file per update.
    let res = with_ctx(tmp.path(), &Map::new(), |ctx| {
        YamlUpdateStep::new(GIT_UPDATE).run(
            ctx,
            &json!({"path": "./src", "updates": [
                {"file": "apps/dev/values.yaml", "key": "image.tag", "value": "1.6.0"},
                {"file": "apps/prod/values.yaml", "key": "replicaCount", "value": 3},
            ]}),
        )
    })?;
    assert_eq!(
        res.outputs["commitMessage"],
        "Updated ./src/apps/dev/values.yaml\n\n- image.tag: 1.6.0\n\nUpdated ./src/apps/prod/values.yaml\n\n- replicaCount: 3"
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("src/apps/dev/values.yaml"))?,
        VALUES.replace("tag: 1.5.0 ", "tag: 1.6.0 ")
    );
    // A missing key fails the step, names the update and leaves the file.
    let e = run_step(
        tmp.path(),
        json!({"path": "src/apps/dev/values.yaml", "updates": [
            {"key": "image.tag", "value": "9"},
            {"key": "image.digest", "value": "sha256:abc"},
        ]}),
    )
    .err()
    .ok_or("expected an error")?;
    assert!(e.terminal, "{e}");
    assert!(
        e.message.starts_with("updates[1]: src/apps/dev/values.yaml: error finding key image.digest: key path not found"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("src/apps/dev/values.yaml"))?,
        VALUES.replace("tag: 1.5.0 ", "tag: 1.6.0 ")
    );
    // Every config problem at once.
    let e = run_step(tmp.path(), json!({"path": "", "updates": [{"key": ""}]}))
        .err()
        .ok_or("expected an error")?;
    assert!(
        e.message.contains(
            "path: must not be empty; updates[0].key: must not be empty; updates[0].value: required"
        ),
        "{e}"
    );
    Ok(())
}

#[test]
fn less_common_yaml_forms() -> Result<(), SetError> {
    for (text, key, value, want) in [
        (
            "%YAML 1.2\n---\na: 1\n",
            "a",
            json!(2),
            "%YAML 1.2\n---\na: 2\n",
        ),
        ("key   : value\n", "key", json!("v2"), "key   : v2\n"),
        ("a: !!map {b: 1}\n", "a.b", json!(2), "a: !!map {b: 2}\n"),
        ("- [a, b]\n- c\n", "0.1", json!("d"), "- [a, d]\n- c\n"),
        ("\"a.b\": 1\n", r"a\.b", json!(2), "\"a.b\": 2\n"),
        ("'k': 'v'\n", "k", json!("w"), "'k': 'w'\n"),
        (
            "été: chaud\n",
            "été",
            json!("très chaud"),
            "été: très chaud\n",
        ),
        (
            "a: x\n",
            "a",
            json!("non\u{a0}breaking"),
            "a: \"non\\u00a0breaking\"\n",
        ),
        (
            "a:\n  # comment\n  b: 1\n",
            "a.b",
            json!(2),
            "a:\n  # comment\n  b: 2\n",
        ),
    ] {
        assert_eq!(one(text, key, value)?, want, "{text}");
    }
    Ok(())
}
