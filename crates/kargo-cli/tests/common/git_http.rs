//! A smart-HTTP git server for tests: `git http-backend` (CGI) behind a
//! tiny HTTP/1.1 listener on loopback that demands Basic auth.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running server; it stops when the test process ends.
pub struct GitHttp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

/// A repository `private.git` with one commit on main under `<home>/repos`,
/// served with `user:pass` required; its URL and the server.
pub fn private_repo(home: &Path, user: &str, pass: &str) -> (String, GitHttp) {
    let root = home.join("repos");
    std::fs::create_dir_all(&root).unwrap();
    let (_bare, work) = super::bare_repo(&root, "private");
    std::fs::write(work.join("VERSION"), "1").unwrap();
    super::git(&work, &["add", "-A"]);
    super::git(&work, &["commit", "-q", "-m", "one"]);
    super::git(&work, &["push", "-q", "origin", "main"]);
    let server = serve(&root, user, pass);
    (format!("{}/private.git", server.base), server)
}

/// Serves the repositories under `root`; requests must carry `user:pass`.
pub fn serve(root: &Path, user: &str, pass: &str) -> GitHttp {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let root = root.to_path_buf();
    let expected = format!("Basic {}", b64(format!("{user}:{pass}").as_bytes()));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            let expected = expected.clone();
            std::thread::spawn(move || {
                let _ = handle(stream, &root, &expected);
            });
        }
    });
    GitHttp { base }
}

fn handle(mut stream: TcpStream, root: &PathBuf, expected: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end().to_string();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let mut body = Vec::new();
        if let Some(len) = get("content-length").and_then(|l| l.parse::<usize>().ok()) {
            body.resize(len, 0);
            reader.read_exact(&mut body)?;
        } else if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0; n + 2];
                reader.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        if get("authorization").as_deref() != Some(expected) {
            stream.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\n\r\n")?;
            continue;
        }
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let mut child = Command::new("git")
            .arg("http-backend")
            .env("GIT_PROJECT_ROOT", root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("REQUEST_METHOD", &method)
            .env("PATH_INFO", path)
            .env("QUERY_STRING", query)
            .env("CONTENT_TYPE", get("content-type").unwrap_or_default())
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("GIT_PROTOCOL", get("git-protocol").unwrap_or_default())
            .env("REMOTE_USER", "tester")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        child.stdin.take().unwrap().write_all(&body)?;
        let out = child.wait_with_output()?;
        let split = out
            .stdout
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| (p, 4))
            .or_else(|| {
                out.stdout
                    .windows(2)
                    .position(|w| w == b"\n\n")
                    .map(|p| (p, 2))
            });
        let Some((at, sep)) = split else {
            return Ok(());
        };
        let head = String::from_utf8_lossy(&out.stdout[..at]).to_string();
        let payload = &out.stdout[at + sep..];
        let mut status = "200 OK".to_string();
        let mut resp = String::new();
        for h in head.lines() {
            if let Some(s) = h.strip_prefix("Status:") {
                status = s.trim().to_string();
            } else {
                resp.push_str(h.trim_end());
                resp.push_str("\r\n");
            }
        }
        write!(
            stream,
            "HTTP/1.1 {status}\r\n{resp}Content-Length: {}\r\n\r\n",
            payload.len()
        )?;
        stream.write_all(payload)?;
    }
}

fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                T[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}
