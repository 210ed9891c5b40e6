//! Deterministic object names in Kargo's format, derived from what caused
//! the object, so that creating it twice is harmless.

use sha1::{Digest, Sha1};

/// Kargo's name for what a Stage creates, `<stage>.<ulid>.<object[:7]>`
/// (AnalysisRuns: the collection id; Promotions: the Freight), with the
/// ULID's time taken from `time` (what caused it) and its random part
/// from `id`: the same cause gives the same name, so a repeated create is
/// a 409 instead of a second object, and names still sort by time.
pub(crate) fn derived(stage: &str, collection: &str, id: &str, time: Option<&str>) -> String {
    let ms = time
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond().max(0) as u64)
        .unwrap_or(0);
    let digest = Sha1::digest(id.as_bytes());
    let mut random = [0u8; 16];
    random.copy_from_slice(&digest[..16]);
    let ulid = ulid::Ulid::from_parts(ms, u128::from_be_bytes(random));
    // 253 characters at most, as Kargo's builder keeps them.
    let prefix: String = stage.chars().take(253 - 27 - 8).collect();
    let suffix: String = collection.chars().take(7).collect();
    format!("{prefix}.{}.{suffix}", ulid.to_string().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kargo_and_are_stable() {
        let n = derived(
            "dev",
            "0123456789abcdef",
            "id-1",
            Some("2026-01-02T03:04:05Z"),
        );
        assert_eq!(
            n,
            derived(
                "dev",
                "0123456789abcdef",
                "id-1",
                Some("2026-01-02T03:04:05Z")
            )
        );
        let parts: Vec<&str> = n.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "dev");
        assert_eq!(parts[1].len(), 26);
        assert_eq!(parts[2], "0123456");
        assert_ne!(
            n,
            derived(
                "dev",
                "0123456789abcdef",
                "id-2",
                Some("2026-01-02T03:04:05Z")
            )
        );
        let long = derived(&"s".repeat(300), "c", "i", None);
        assert!(long.len() <= 253, "{}", long.len());
    }
}
