//! Colour for phase words (`Succeeded`, `Failed`, …): only when stdout is
//! a terminal, and never when `NO_COLOR` is set to anything
//! (<https://no-color.org>), so pipes, files and tests see plain text.

use std::io::IsTerminal;

/// Whether to colour what goes to stdout.
pub fn enabled() -> bool {
    decide(
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        std::io::stdout().is_terminal(),
    )
}

fn decide(no_color: bool, tty: bool) -> bool {
    tty && !no_color
}

/// `word` in the colour its meaning has: green for success, red for
/// failure, yellow for work in progress; plain without colour.
pub fn phase(word: &str) -> String {
    if !enabled() {
        return word.to_string();
    }
    let code = match word {
        "Succeeded" | "Successful" | "True" | "Healthy" | "Verified" => "32",
        "Failed" | "Errored" | "Error" | "Aborted" | "False" | "Unhealthy" => "31",
        "Running" | "Pending" | "Inconclusive" | "Unknown" | "Progressing" => "33",
        _ => return word.to_string(),
    };
    format!("\x1b[{code}m{word}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(decide(false, true));
        assert!(!decide(true, true));
        assert!(!decide(false, false));
        assert!(!decide(true, false));
    }

    #[test]
    fn no_colour_in_tests() {
        // Test output is captured, never a terminal.
        assert_eq!(phase("Failed"), "Failed");
    }
}
