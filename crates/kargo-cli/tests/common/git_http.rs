//! A smart-HTTP git server for tests: the in-test forge
//! (kargo-promotion's `tests/support/forge.rs`: `git http-backend` behind
//! a tiny HTTP/1.1 listener on loopback that demands Basic auth, plus the
//! pull-request APIs).

use std::path::Path;

use super::forge::Forge;

/// A running server; it stops when the test process ends.
pub struct GitHttp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The forge behind it.
    pub forge: Forge,
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
    let forge = Forge::serve(root, user, pass);
    GitHttp {
        base: forge.base.clone(),
        forge,
    }
}
