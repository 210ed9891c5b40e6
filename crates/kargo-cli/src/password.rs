//! A password from `--password` or, better, one line of stdin
//! (`--password-stdin`), as Kargo's CLI takes them.

use anyhow::{Context, Result, bail};

/// The password given by flag, or read from stdin when `from_stdin`.
pub fn read(flag: Option<String>, from_stdin: bool) -> Result<String> {
    match (flag, from_stdin) {
        (Some(p), _) => Ok(p),
        (None, true) => {
            let mut s = String::new();
            std::io::stdin()
                .read_line(&mut s)
                .context("reading the password from stdin")?;
            Ok(s.trim_end_matches(['\n', '\r']).to_string())
        }
        (None, false) => bail!("give the password with --password-stdin (or --password)"),
    }
}
