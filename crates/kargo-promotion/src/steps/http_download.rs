//! `http-download`: downloads a file over HTTP(S) into the work
//! directory, as Kargo's `http_downloader.go` does.
//!
//! Config (Kargo's `HTTPDownloadConfig`): `url`, `outPath` (both
//! required), `allowOverwrite` (default false: an existing file fails the
//! step for good), `headers` and `queryParams` (`{name, value}`, both
//! non-empty), `insecureSkipTLSVerify`, `timeout` (Go duration, default
//! `5m`, bounding the whole download). A non-2xx answer fails the step; a
//! body over 100 MiB (announced or actual) fails it for good. The body is
//! written to a temporary file next to `outPath` (mode 0600), then renamed
//! over it, so a failed download leaves nothing behind. No outputs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::{ConfigCheck, replace, temp_path};
use super::http::NameValue;
use crate::step::{Step, StepContext, StepError, StepResult};

const NAME: &str = "http-download";

/// Kargo's largest download: 100 MiB.
pub const MAX_DOWNLOAD: u64 = 100 << 20;
/// Kargo's default timeout of a download.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Config of `http-download`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpDownloadConfig {
    /// What to download.
    pub url: String,
    /// Where to write it.
    pub out_path: String,
    /// Replace an existing file.
    #[serde(default)]
    pub allow_overwrite: bool,
    /// Request headers.
    #[serde(default)]
    pub headers: Vec<NameValue>,
    /// Query parameters.
    #[serde(default)]
    pub query_params: Vec<NameValue>,
    /// Skip TLS verification (discouraged).
    #[serde(default, rename = "insecureSkipTLSVerify")]
    pub insecure_skip_tls_verify: bool,
    /// Longest the download may take.
    #[serde(default)]
    pub timeout: Option<String>,
}

/// Checks and decodes an `http-download` config as Kargo's schema does.
pub fn parse(config: &Value) -> Result<HttpDownloadConfig, StepError> {
    let mut c = ConfigCheck::new(config);
    c.required_string("url").required_string("outPath");
    for list in ["headers", "queryParams"] {
        let Some(items) = c.get(list).and_then(Value::as_array) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            for f in ["name", "value"] {
                match item.get(f) {
                    None | Some(Value::Null) => c.problem(format!("{list}[{i}].{f}: required")),
                    Some(Value::String(s)) if s.is_empty() => {
                        c.problem(format!("{list}[{i}].{f}: must not be empty"))
                    }
                    Some(_) => {}
                }
            }
        }
    }
    if let Some(t) = c.get("timeout").and_then(Value::as_str)
        && kargo_api::validate::parse_go_duration(t).is_none()
    {
        c.problem(format!("timeout: {t:?} is not a duration such as 30s"));
    }
    c.parse(NAME, config)
}

/// The `http-download` step.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpDownload;

impl Step for HttpDownload {
    fn name(&self) -> &str {
        NAME
    }

    fn check(&self, config: &Value) -> Result<(), StepError> {
        parse(config).map(|_| ())
    }

    fn run(&self, ctx: &StepContext<'_>, config: &Value) -> Result<StepResult, StepError> {
        let cfg = parse(config)?;
        let timeout = match cfg.timeout.as_deref().filter(|t| !t.is_empty()) {
            None => DEFAULT_TIMEOUT,
            Some(t) => kargo_api::validate::parse_go_duration(t)
                .filter(|s| *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    StepError::config(
                        NAME,
                        format!("timeout: {t:?} is not a duration such as 30s"),
                    )
                })?,
        };
        let (out, tmp) = prepare_output(NAME, ctx, &cfg.out_path, cfg.allow_overwrite)?;
        let fetched = ctx
            .limits
            .block_on(
                download(&cfg, &tmp, timeout),
                timeout + Duration::from_secs(1),
            )
            .map_err(|why| StepError::retryable(NAME, format!("download {why}")))
            .and_then(|r| r);
        commit_output(NAME, &tmp, &out, fetched)?;
        Ok(StepResult::succeeded(Map::new()))
    }
}

/// Resolves `out_path` (config field `outPath`) for a download: refuses
/// an existing file unless `allow_overwrite` (terminal), makes the parent
/// directories (0700), and names a temporary file beside it. Returns
/// (the file, the temporary file).
pub fn prepare_output(
    step: &str,
    ctx: &StepContext<'_>,
    out_path: &str,
    allow_overwrite: bool,
) -> Result<(PathBuf, PathBuf), StepError> {
    let out = ctx.resolve(step, "outPath", out_path)?;
    if !allow_overwrite && std::fs::symlink_metadata(&out).is_ok() {
        return Err(StepError::terminal(
            step,
            format!("file already exists at {out_path} and overwrite is not allowed"),
        ));
    }
    let dir = out.parent().unwrap_or(ctx.work_dir).to_path_buf();
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| {
                StepError::retryable(step, format!("failed to create destination directory: {e}"))
            })?;
    }
    let base = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = temp_path(&dir, &format!("{base}.tmp"));
    Ok((out, tmp))
}

/// Creates the temporary file of a download (mode 0600, new).
pub fn create_temp(step: &str, tmp: &Path) -> Result<std::fs::File, StepError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| StepError::retryable(step, format!("failed to create temporary file: {e}")))
}

/// After a download into `tmp`: renames it over `out` when `fetched`
/// succeeded; removes it otherwise.
pub fn commit_output(
    step: &str,
    tmp: &Path,
    out: &Path,
    fetched: Result<(), StepError>,
) -> Result<(), StepError> {
    let moved = fetched.and_then(|()| {
        replace(tmp, out).map_err(|e| {
            StepError::retryable(
                step,
                format!("failed to move file to final destination: {e}"),
            )
        })
    });
    if moved.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    moved
}

/// GETs `cfg.url` into the new file `tmp`.
async fn download(
    cfg: &HttpDownloadConfig,
    tmp: &Path,
    timeout: Duration,
) -> Result<(), StepError> {
    let shown = kargo_api::redact::redact_url(&cfg.url);
    let mut url = reqwest::Url::parse(&cfg.url).map_err(|e| {
        StepError::terminal(NAME, format!("error building HTTP request: {shown:?}: {e}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(StepError::terminal(
            NAME,
            format!("error building HTTP request: {shown:?} must be http:// or https://"),
        ));
    }
    if !cfg.query_params.is_empty() {
        let mut q = url.query_pairs_mut();
        for p in &cfg.query_params {
            q.append_pair(&p.name, &p.value);
        }
    }
    let client = kargo_analysis::http::client(timeout, cfg.insecure_skip_tls_verify)
        .map_err(|e| StepError::retryable(NAME, e))?;
    let mut req = client.get(url);
    for h in &cfg.headers {
        req = req.header(h.name.as_str(), h.value.as_str());
    }
    let mut resp = req.send().await.map_err(|e| {
        StepError::retryable(
            NAME,
            format!(
                "error sending HTTP request: {}",
                kargo_analysis::http::describe(e)
            ),
        )
    })?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(StepError::terminal(
            NAME,
            format!("HTTP request failed with status {status}"),
        ));
    }
    let too_big = || {
        StepError::terminal(
            NAME,
            format!("download exceeds limit of {MAX_DOWNLOAD} bytes"),
        )
    };
    if resp.content_length().is_some_and(|n| n > MAX_DOWNLOAD) {
        return Err(too_big());
    }
    let write_err =
        |e: std::io::Error| StepError::retryable(NAME, format!("failed to write to file: {e}"));
    let mut file = create_temp(NAME, tmp)?;
    let mut total: u64 = 0;
    while let Some(chunk) = resp.chunk().await.map_err(|e| {
        StepError::retryable(
            NAME,
            format!(
                "failed to read response body: {}",
                kargo_analysis::http::describe(e)
            ),
        )
    })? {
        total += chunk.len() as u64;
        if total > MAX_DOWNLOAD {
            return Err(too_big());
        }
        file.write_all(&chunk).map_err(write_err)?;
    }
    file.sync_all().map_err(write_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::files::fixture::{check_configs, run};
    use serde_json::json;
    use std::io::Read;
    use std::sync::{Arc, Mutex};

    #[test]
    fn upstream_config_rows() {
        // Kargo's Test_httpDownloader_validate.
        let u = "https://example.com/file.txt";
        let rows: &[(&str, Value, &[&str])] = &[
            ("url not specified", json!({}), &["url: required"]),
            (
                "url is empty string",
                json!({"url": ""}),
                &["url: must not be empty"],
            ),
            (
                "outPath not specified",
                json!({"url": u}),
                &["outPath: required"],
            ),
            (
                "outPath is empty string",
                json!({"url": u, "outPath": ""}),
                &["outPath: must not be empty"],
            ),
            (
                "header name not specified",
                json!({"url": u, "outPath": "file.txt", "headers": [{}]}),
                &["headers[0].name: required"],
            ),
            (
                "header name is empty string",
                json!({"url": u, "outPath": "file.txt", "headers": [{"name": ""}]}),
                &["headers[0].name: must not be empty"],
            ),
            (
                "header value not specified",
                json!({"url": u, "outPath": "file.txt", "headers": [{}]}),
                &["headers[0].value: required"],
            ),
            (
                "header value is empty string",
                json!({"url": u, "outPath": "file.txt", "headers": [{"value": ""}]}),
                &["headers[0].value: must not be empty"],
            ),
            (
                "query param name not specified",
                json!({"url": u, "outPath": "file.txt", "queryParams": [{}]}),
                &["queryParams[0].name: required"],
            ),
            (
                "query param name is empty string",
                json!({"url": u, "outPath": "file.txt", "queryParams": [{"name": ""}]}),
                &["queryParams[0].name: must not be empty"],
            ),
            (
                "query param value not specified",
                json!({"url": u, "outPath": "file.txt", "queryParams": [{}]}),
                &["queryParams[0].value: required"],
            ),
            (
                "query param value is empty string",
                json!({"url": u, "outPath": "file.txt", "queryParams": [{"value": ""}]}),
                &["queryParams[0].value: must not be empty"],
            ),
            (
                "invalid timeout",
                json!({"url": u, "outPath": "file.txt", "timeout": "invalid"}),
                &["timeout: \"invalid\" is not a duration"],
            ),
            (
                "valid kitchen sink",
                json!({"url": u, "outPath": "file.txt", "allowOverwrite": true, "headers": [{"name": "Authorization", "value": "Bearer token"}], "queryParams": [{"name": "version", "value": "latest"}], "insecureSkipTLSVerify": true, "timeout": "30s"}),
                &[],
            ),
        ];
        assert_eq!(rows.len(), 14); // Kargo's Test_httpDownloader_validate: 14 rows
        check_configs(parse, rows);
    }

    /// A loopback server answering every request with `reply` (a whole
    /// HTTP response) and recording the request heads.
    fn server(reply: Vec<u8>) -> (String, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = l.local_addr().expect("local address");
        let log = seen.clone();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                let mut buf = vec![0u8; 65536];
                let n = s.read(&mut buf).unwrap_or(0);
                log.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let _ = s.write_all(&reply);
            }
        });
        (format!("http://{addr}"), seen)
    }

    fn ok(body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// A row of Kargo's `Test_httpDownloader_run`.
    struct Row {
        name: &'static str,
        cfg: Value,
        reply: Vec<u8>,
        existing: Option<&'static str>,
        want: Result<(&'static str, &'static str), (&'static str, bool)>,
    }

    #[test]
    fn upstream_run_rows() -> Result<(), Box<dyn std::error::Error>> {
        let rows = [
            Row {
                name: "successful download",
                cfg: json!({"outPath": "test-file.txt"}),
                reply: ok("Hello, World!"),
                existing: None,
                want: Ok(("test-file.txt", "Hello, World!")),
            },
            Row {
                name: "successful download with nested path",
                cfg: json!({"outPath": "nested/dir/test-file.txt"}),
                reply: ok("nested content"),
                existing: None,
                want: Ok(("nested/dir/test-file.txt", "nested content")),
            },
            Row {
                name: "file already exists and overwrite not allowed",
                cfg: json!({"outPath": "existing-file.txt", "allowOverwrite": false}),
                reply: ok("new content"),
                existing: Some("existing-file.txt"),
                want: Err(("file already exists", true)),
            },
            Row {
                name: "file already exists and overwrite allowed",
                cfg: json!({"outPath": "existing-file.txt", "allowOverwrite": true}),
                reply: ok("new content"),
                existing: Some("existing-file.txt"),
                want: Ok(("existing-file.txt", "new content")),
            },
            Row {
                name: "HTTP error response",
                cfg: json!({"outPath": "test-file.txt"}),
                reply: b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
                existing: None,
                want: Err(("HTTP request failed with status 404", true)),
            },
            Row {
                name: "download exceeds size limit via Content-Length",
                cfg: json!({"outPath": "large-file.txt"}),
                reply: format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\ncontent",
                    MAX_DOWNLOAD + 1
                )
                .into_bytes(),
                existing: None,
                want: Err(("download exceeds limit", true)),
            },
            Row {
                name: "download with custom headers and query params",
                cfg: json!({
                    "outPath": "test-file.txt",
                    "headers": [{"name": "Authorization", "value": "Bearer token123"}],
                    "queryParams": [{"name": "version", "value": "latest"}],
                }),
                reply: ok("authenticated content"),
                existing: None,
                want: Ok(("test-file.txt", "authenticated content")),
            },
        ];
        assert_eq!(rows.len(), 7); // Kargo's Test_httpDownloader_run: 7 rows
        for row in rows {
            let name = row.name;
            let tmp = tempfile::tempdir()?;
            if let Some(p) = row.existing {
                std::fs::write(tmp.path().join(p), "existing")?;
            }
            let (url, seen) = server(row.reply);
            let mut cfg = row.cfg;
            cfg["url"] = json!(format!("{url}/file"));
            let got = run(&HttpDownload, tmp.path(), &cfg);
            match row.want {
                Ok((p, body)) => {
                    got.map_err(|e| format!("{name}: {e}"))?;
                    assert_eq!(std::fs::read_to_string(tmp.path().join(p))?, body, "{name}");
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(tmp.path().join(p))?.permissions().mode();
                    assert_eq!(mode & 0o777, 0o600, "{name}");
                }
                Err((part, terminal)) => {
                    let e = got.err().ok_or(format!("{name}: succeeded"))?;
                    assert!(e.message.contains(part), "{name}: {e}");
                    assert_eq!(e.terminal, terminal, "{name}");
                    if let Some(p) = row.existing {
                        assert_eq!(std::fs::read_to_string(tmp.path().join(p))?, "existing");
                    }
                }
            }
            // Nothing but the result is left in the directory.
            let left: Vec<String> = std::fs::read_dir(tmp.path())?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".tmp"))
                .collect();
            assert!(left.is_empty(), "{name}: {left:?}");
            if name.contains("custom headers") {
                let req = seen.lock().unwrap_or_else(|p| p.into_inner()).join("\n");
                assert!(req.starts_with("GET /file?version=latest "), "{req}");
                assert!(
                    req.to_ascii_lowercase()
                        .contains("authorization: bearer token123"),
                    "{req}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn a_body_longer_than_announced_limit_is_cut() -> Result<(), Box<dyn std::error::Error>> {
        // A server that sends no length and more than the limit: the step
        // stops reading at the limit and leaves no file.
        let tmp = tempfile::tempdir()?;
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = l.local_addr()?;
        std::thread::spawn(move || {
            if let Some(Ok(mut s)) = l.incoming().next() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                let chunk = vec![b'x'; 1 << 20];
                for _ in 0..=(MAX_DOWNLOAD >> 20) {
                    if s.write_all(&chunk).is_err() {
                        return;
                    }
                }
            }
        });
        let cfg = json!({"url": format!("http://{addr}/big"), "outPath": "big.bin"});
        let e = run(&HttpDownload, tmp.path(), &cfg)
            .err()
            .ok_or("succeeded")?;
        assert!(e.terminal && e.message.contains("exceeds limit"), "{e}");
        assert_eq!(std::fs::read_dir(tmp.path())?.count(), 0);
        Ok(())
    }
}
