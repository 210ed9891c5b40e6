//! `helm-update-chart` against a classic chart repository served by the
//! test (loopback HTTP: `index.yaml` and `.tgz` packages) and OCI charts
//! in Debian's docker-registry; Kargo's test tables ported as data.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::*;
use crate::steps::files::fixture::{check_configs, run};
use crate::steps::helm_deps::{Dependency, Locked, archive_chart_name, hash_req, lock_text};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn upstream_config_rows() {
    let rows: &[(&str, Value, &[&str])] = &[
        ("path is not specified", json!({}), &["path: required"]),
        (
            "path is empty",
            json!({"path": ""}),
            &["path: must not be empty"],
        ),
        ("charts is null", json!({"path": "fake-path"}), &[]),
        (
            "charts is empty",
            json!({"charts": []}),
            &["charts: must have at least 1 item"],
        ),
        (
            "repository not specified",
            json!({"charts": [{}]}),
            &["charts[0].repository: required"],
        ),
        (
            "repository is empty",
            json!({"charts": [{"repository": ""}]}),
            &["charts[0].repository: must not be empty"],
        ),
        (
            "name not specified",
            json!({"charts": [{}]}),
            &["charts[0].name: required"],
        ),
        (
            "name is empty",
            json!({"charts": [{"name": ""}]}),
            &["charts[0].name: must not be empty"],
        ),
        (
            "version not specified",
            json!({"charts": [{}]}),
            &["charts[0].version: required"],
        ),
        (
            "version is empty",
            json!({"charts": [{"version": ""}]}),
            &["charts[0].version: must not be empty"],
        ),
        (
            "valid kitchen sink",
            json!({"path": "fake-path", "charts": [{"repository": "fake-repository", "name": "fake-chart", "version": "fake-version"}]}),
            &[],
        ),
    ];
    assert_eq!(rows.len(), 11); // Kargo's Test_helmChartUpdater_convert: 11 rows
    check_configs(parse, rows);
    check_configs(
        parse,
        &[(
            "an unknown field",
            json!({"path": "p", "chart": []}),
            &["unknown field `chart`"],
        )],
    );
}

/// Name, changes, lines the message holds, newlines in it.
type MessageRow = (
    &'static str,
    BTreeMap<String, String>,
    &'static [&'static str],
    usize,
);

#[test]
fn upstream_commit_message_rows() {
    let m = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let rows: Vec<MessageRow> = vec![
        ("empty newVersions", m(&[]), &[], 0),
        (
            "single update",
            m(&[("chart1", "1.0.0 -> 1.1.0")]),
            &["- chart1: 1.0.0 -> 1.1.0"],
            2,
        ),
        (
            "multiple updates",
            m(&[
                ("chart1", "1.0.0 -> 1.1.0"),
                ("chart2", "2.0.0 -> 2.1.0"),
                ("chart3", "3.0.0 -> 3.1.0"),
            ]),
            &[
                "- chart1: 1.0.0 -> 1.1.0",
                "- chart2: 2.0.0 -> 2.1.0",
                "- chart3: 3.0.0 -> 3.1.0",
            ],
            4,
        ),
        (
            "updates and removals",
            m(&[
                ("chart1", "1.0.0 -> 1.1.0"),
                ("chart2", ""),
                ("chart3", "3.0.0 -> 3.1.0"),
            ]),
            &[
                "- chart1: 1.0.0 -> 1.1.0",
                "- chart2: removed",
                "- chart3: 3.0.0 -> 3.1.0",
            ],
            4,
        ),
        (
            "only removals",
            m(&[("chart1", ""), ("chart2", "")]),
            &["- chart1: removed", "- chart2: removed"],
            3,
        ),
        (
            "new additions",
            m(&[("chart1", "1.0.0"), ("chart2", "2.0.0")]),
            &["- chart1: 1.0.0", "- chart2: 2.0.0"],
            3,
        ),
        (
            "mixed updates, removals, and additions",
            m(&[
                ("chart1", "1.0.0 -> 1.1.0"),
                ("chart2", ""),
                ("chart3", "3.0.0"),
                ("chart4", "4.0.0 -> 4.1.0"),
            ]),
            &[
                "- chart1: 1.0.0 -> 1.1.0",
                "- chart2: removed",
                "- chart3: 3.0.0",
                "- chart4: 4.0.0 -> 4.1.0",
            ],
            5,
        ),
    ];
    assert_eq!(rows.len(), 7); // Kargo's Test_helmChartUpdater_generateCommitMessage: 7 rows
    for (name, changes, lines, newlines) in rows {
        let got = commit_message("charts/mychart", &changes);
        if lines.is_empty() {
            assert_eq!(got, None, "{name}");
            continue;
        }
        let got = got.unwrap_or_default();
        assert!(
            got.starts_with("Updated chart dependencies for charts/mychart\n\n"),
            "{name}: {got}"
        );
        for l in lines {
            assert!(got.contains(l), "{name}: {got} lacks {l}");
        }
        assert_eq!(got.matches('\n').count(), newlines, "{name}");
    }
}

#[test]
fn helm_hash_req_rows() {
    // Helm's internal/resolver TestHashReq: 5 rows, one expected digest.
    let expect = "sha256:fb239e836325c5fa14b29d1540a13b7d3ba13151b67fe719f820e0ef6d66aaaf";
    let rows = [
        ("chart with the expected digest", "0.1.0", "0.1.0", true),
        (
            "ranged version but same resolved lock version",
            "^0.1.0",
            "0.1.0",
            false,
        ),
        (
            "ranged version resolved as higher version",
            "^0.1.0",
            "0.1.2",
            false,
        ),
        ("different version", "0.1.2", "0.1.2", false),
        ("different version with a range", "^0.1.2", "0.1.2", false),
    ];
    assert_eq!(rows.len(), 5); // Helm's TestHashReq: 5 rows
    for (name, chart, lock, same) in rows {
        let repo = "http://localhost:8879/charts";
        let req = [Dependency {
            name: Some("alpine".into()),
            version: Some(chart.into()),
            repository: Some(repo.into()),
            ..Dependency::default()
        }];
        let locked = [Locked {
            name: "alpine".into(),
            repository: repo.into(),
            version: lock.into(),
        }];
        assert_eq!(hash_req(&req, &locked) == expect, same, "{name}");
    }
}

/// A gzipped chart archive holding `<name>/Chart.yaml` and values.
fn chart_tgz(name: &str, version: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    for (file, body) in [
        (
            "Chart.yaml",
            format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
        ),
        ("values.yaml", "replicas: 1\n".to_string()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("{name}/{file}"), body.as_bytes())
            .unwrap_or_else(|e| panic!("tar: {e}"));
    }
    b.into_inner()
        .and_then(|gz| gz.finish())
        .unwrap_or_else(|e| panic!("gzip: {e}"))
}

/// A classic chart repository on loopback: `files` by path; requests
/// (method and path, and whether they carried credentials) are logged.
fn serve(files: HashMap<String, Vec<u8>>) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = l.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = vec![0u8; 16384];
            let n = s.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            log.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(path.clone());
            let reply = match files.get(&path) {
                Some(body) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(body);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = s.write_all(&reply);
        }
    });
    (format!("http://{addr}"), seen)
}

/// A repository with examplechart 0.1.0 (as Kargo's test serves it).
pub(crate) fn kargo_repo() -> (String, Arc<Mutex<Vec<String>>>) {
    let index = "apiVersion: v1\nentries:\n  examplechart:\n  - apiVersion: v2\n    name: examplechart\n    version: 0.1.0\n    urls:\n    - examplechart-0.1.0.tgz\n";
    serve(HashMap::from([
        ("/index.yaml".to_string(), index.as_bytes().to_vec()),
        (
            "/examplechart-0.1.0.tgz".to_string(),
            chart_tgz("examplechart", "0.1.0"),
        ),
    ]))
}

/// `Chart.yaml` of the umbrella chart `test-chart` with `deps`
/// (name, version, repository).
pub(crate) fn umbrella(dir: &Path, deps: &[(&str, &str, &str)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut text =
        String::from("apiVersion: v2\nname: test-chart\nversion: 0.1.0\ndependencies:\n");
    for (name, version, repo) in deps {
        text.push_str(&format!(
            "- name: {name}\n  version: '{version}'\n  repository: {repo}\n"
        ));
    }
    std::fs::write(dir.join("Chart.yaml"), text)
}

#[test]
fn upstream_run_rows() -> TestResult {
    // Kargo's Test_helmChartUpdater_run: (name, charts given, want).
    let rows = [
        ("successful run with HTTP repository", true),
        ("successful run with SemVer range", false),
    ];
    assert_eq!(rows.len(), 2); // Kargo's Test_helmChartUpdater_run: 2 rows
    for (name, with_charts) in rows {
        let (url, _) = kargo_repo();
        let work = tempfile::tempdir()?;
        umbrella(
            &work.path().join("testchart"),
            &[("examplechart", ">=0.0.1", &url)],
        )?;
        let cfg = if with_charts {
            json!({"path": "testchart", "charts": [{"repository": url, "name": "examplechart", "version": "0.1.0"}]})
        } else {
            json!({"path": "testchart"})
        };
        let res = run(&HelmUpdateChart, work.path(), &cfg).map_err(|e| format!("{name}: {e}"))?;
        assert_eq!(
            res.outputs["commitMessage"],
            json!("Updated chart dependencies for testchart\n\n- examplechart: 0.1.0"),
            "{name}"
        );
        let chart_yaml = std::fs::read_to_string(work.path().join("testchart/Chart.yaml"))?;
        assert!(chart_yaml.contains("version: 0.1.0"), "{name}");
        let tgz = work.path().join("testchart/charts/examplechart-0.1.0.tgz");
        assert_eq!(archive_chart_name(&tgz).as_deref(), Some("examplechart"));
        assert!(work.path().join("testchart/Chart.lock").is_file(), "{name}");
        // No Helm home or temporary directory is left behind.
        let left: Vec<_> = std::fs::read_dir(work.path().join("testchart"))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !left.iter().any(|f| f.starts_with("tmpcharts-")),
            "{left:?}"
        );
    }
    Ok(())
}

#[test]
fn classic_repository_lock_as_helm_writes_it() -> TestResult {
    let index = "apiVersion: v1\nentries:\n  web:\n  - name: web\n    version: 1.4.0\n    urls: []\n  - name: web\n    version: 1.3.0-rc.1\n    urls:\n    - web-1.3.0-rc.1.tgz\n  - name: web\n    version: 1.2.0\n    urls:\n    - packages/web-1.2.0.tgz\n  - name: web\n    version: 1.1.0\n    urls:\n    - web-1.1.0.tgz\n";
    let (url, seen) = serve(HashMap::from([
        ("/repo/index.yaml".to_string(), index.as_bytes().to_vec()),
        (
            "/repo/packages/web-1.2.0.tgz".to_string(),
            chart_tgz("web", "1.2.0"),
        ),
        ("/repo/web-1.1.0.tgz".to_string(), chart_tgz("web", "1.1.0")),
    ]));
    let repo = format!("{url}/repo");
    let work = tempfile::tempdir()?;
    let chart = work.path().join("app");
    umbrella(&chart, &[("web", "^1.0.0", &repo)])?;
    // An outdated archive and a file that is no chart are in charts/.
    std::fs::create_dir_all(chart.join("charts"))?;
    std::fs::write(
        chart.join("charts/web-0.9.0.tgz"),
        chart_tgz("web", "0.9.0"),
    )?;
    std::fs::write(chart.join("charts/README"), "keep me")?;

    let res = run(&HelmUpdateChart, work.path(), &json!({"path": "app"}))?;
    // 1.4.0 has no URL and 1.3.0-rc.1 is a pre-release: 1.2.0, from the
    // relative URL resolved against the repository.
    assert_eq!(
        res.outputs["commitMessage"],
        json!("Updated chart dependencies for app\n\n- web: 1.2.0")
    );
    assert!(
        seen.lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&"/repo/packages/web-1.2.0.tgz".to_string())
    );
    let mut files: Vec<String> = std::fs::read_dir(chart.join("charts"))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["README", "web-1.2.0.tgz"]);

    let lock = std::fs::read_to_string(chart.join("Chart.lock"))?;
    let req = [Dependency {
        name: Some("web".into()),
        version: Some("^1.0.0".into()),
        repository: Some(repo.clone()),
        ..Dependency::default()
    }];
    let locked = [Locked {
        name: "web".into(),
        repository: repo.clone(),
        version: "1.2.0".into(),
    }];
    let digest = hash_req(&req, &locked);
    let (head, generated) = lock.split_once("generated: ").ok_or("no generated line")?;
    assert_eq!(
        head,
        format!(
            "dependencies:\n- name: web\n  repository: {repo}\n  version: 1.2.0\ndigest: {digest}\n"
        )
    );
    let stamp = generated.trim_end().trim_matches('"');
    assert!(
        generated.starts_with('"') && stamp.ends_with('Z'),
        "{generated}"
    );
    jiff::Timestamp::from_str(stamp)?;
    assert_eq!(lock, lock_text(&locked, &digest, stamp));

    // Again: nothing changes, so no output and the lock (and its
    // timestamp) stays as it was.
    let res = run(&HelmUpdateChart, work.path(), &json!({"path": "app"}))?;
    assert!(res.outputs.get("commitMessage").is_none());
    assert_eq!(std::fs::read_to_string(chart.join("Chart.lock"))?, lock);

    // Pinning 1.1.0 through `charts` edits Chart.yaml and the lock.
    let res = run(
        &HelmUpdateChart,
        work.path(),
        &json!({"path": "app", "charts": [{"repository": repo, "name": "web", "version": "1.1.0"}]}),
    )?;
    assert_eq!(
        res.outputs["commitMessage"],
        json!("Updated chart dependencies for app\n\n- web: 1.2.0 -> 1.1.0")
    );
    let chart_yaml = std::fs::read_to_string(chart.join("Chart.yaml"))?;
    assert!(chart_yaml.contains("  version: '1.1.0'\n"), "{chart_yaml}");
    assert!(chart.join("charts/web-1.1.0.tgz").is_file());
    assert!(!chart.join("charts/web-1.2.0.tgz").exists());
    assert!(std::fs::read_to_string(chart.join("Chart.lock"))?.contains("version: 1.1.0\n"));
    Ok(())
}

#[test]
fn errors_name_the_problem() -> TestResult {
    let (url, _) = kargo_repo();
    let work = tempfile::tempdir()?;
    umbrella(&work.path().join("c"), &[("examplechart", "^2.0.0", &url)])?;
    let e = run(&HelmUpdateChart, work.path(), &json!({"path": "c"}))
        .err()
        .ok_or("no version fits, yet it succeeded")?;
    assert!(e.terminal, "{e}");
    assert!(
        e.message
            .contains("can't get a valid version for 1 subchart(s)"),
        "{e}"
    );

    let e = run(
        &HelmUpdateChart,
        work.path(),
        &json!({"path": "c", "charts": [{"repository": url, "name": "other", "version": "1.0.0"}]}),
    )
    .err()
    .ok_or("an unknown dependency was accepted")?;
    assert!(
        e.message
            .contains("no dependency in Chart.yaml matches update with repository"),
        "{e}"
    );

    umbrella(&work.path().join("f"), &[("lib", "1.0.0", "file://../lib")])?;
    let e = run(&HelmUpdateChart, work.path(), &json!({"path": "f"}))
        .err()
        .ok_or("file:// accepted")?;
    assert!(
        e.message.contains("file:// dependencies are not supported"),
        "{e}"
    );

    let e = run(
        &HelmUpdateChart,
        work.path(),
        &json!({"path": "../outside"}),
    )
    .err()
    .ok_or("a path outside the work directory was accepted")?;
    assert!(e.message.contains("path: "), "{e}");
    Ok(())
}

#[test]
fn oci_charts_from_docker_registry() -> TestResult {
    use crate::steps::oci_push::tests::TestRegistry;
    let reg = TestRegistry::start();
    let layer = kargo_sources::chart::CHART_LAYER_TYPE;
    for v in ["0.1.0", "0.2.0", "1.0.0"] {
        reg.push_image("charts/db", v, layer, &chart_tgz("db", v));
    }
    // Helm pushes `+` as `_`.
    reg.push_image(
        "charts/db",
        "1.1.0_build.7",
        layer,
        &chart_tgz("db", "1.1.0+build.7"),
    );
    let repo = format!("oci://{}/charts", reg.host);
    let work = tempfile::tempdir()?;
    let chart = work.path().join("app");
    umbrella(&chart, &[("db", ">=0.1.0 <1.0.0", &repo)])?;

    let res = run(&HelmUpdateChart, work.path(), &json!({"path": "app"}))?;
    assert_eq!(
        res.outputs["commitMessage"],
        json!("Updated chart dependencies for app\n\n- db: 0.2.0")
    );
    assert_eq!(
        archive_chart_name(&chart.join("charts/db-0.2.0.tgz")).as_deref(),
        Some("db")
    );
    let lock = std::fs::read_to_string(chart.join("Chart.lock"))?;
    assert!(
        lock.starts_with(&format!(
            "dependencies:\n- name: db\n  repository: {repo}\n  version: 0.2.0\ndigest: sha256:"
        )),
        "{lock}"
    );

    // An exact version with build metadata is taken as it is.
    let res = run(
        &HelmUpdateChart,
        work.path(),
        &json!({"path": "app", "charts": [{"repository": repo, "name": "db", "version": "1.1.0+build.7"}]}),
    )?;
    assert_eq!(
        res.outputs["commitMessage"],
        json!("Updated chart dependencies for app\n\n- db: 0.2.0 -> 1.1.0+build.7")
    );
    let bytes = std::fs::read(chart.join("charts/db-1.1.0+build.7.tgz"))?;
    assert_eq!(bytes, chart_tgz("db", "1.1.0+build.7"));
    assert!(!chart.join("charts/db-0.2.0.tgz").exists());

    // A tag that is not there is a retryable error naming the chart.
    let res = run(
        &HelmUpdateChart,
        work.path(),
        &json!({"path": "app", "charts": [{"repository": repo, "name": "db", "version": "9.9.9"}]}),
    );
    let e = res.err().ok_or("a missing tag was accepted")?;
    assert!(
        !e.terminal && e.message.contains("could not download db"),
        "{e}"
    );
    Ok(())
}

#[test]
fn credentials_keys_are_kargos() {
    use crate::steps::helm_deps::credentials_key;
    assert_eq!(
        credentials_key("https://charts.example.com/stable", "web").as_deref(),
        Some("https://charts.example.com/stable")
    );
    assert_eq!(
        credentials_key("oci://Registry.Example.com/charts/", "db").as_deref(),
        Some("oci://registry.example.com/charts/db")
    );
    assert_eq!(credentials_key("http://charts.example.com", "web"), None);
}
