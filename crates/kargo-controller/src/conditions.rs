//! Status conditions: set one by type, keeping `lastTransitionTime` when
//! the status did not change. Messages pass through `kargo_api::redact`.

use kargo_api::common::Condition;

/// Sets (or replaces) the condition of `type_`, True or False.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) {
    let status = if status { "True" } else { "False" };
    set_status(conditions, type_, status, reason, message, generation)
}

/// Sets (or replaces) the condition of `type_` with `status` `True`,
/// `False` or `Unknown`.
pub fn set_status(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status_s: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) {
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status_s {
                c.last_transition_time = Some(now);
            }
            c.status = status_s.into();
            c.reason = reason.into();
            c.message = kargo_api::redact::redact(message);
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.into(),
            status: status_s.into(),
            reason: reason.into(),
            message: kargo_api::redact::redact(message),
            observed_generation: generation,
            last_transition_time: Some(now),
        }),
    }
}

/// The condition of `type_`, if set.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Removes the condition of `type_`.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_messages_are_masked_on_set_and_replace() {
        let mut cs = Vec::new();
        let msg = "discovery of https://bob:s3cret@git.example.com/r.git failed";
        set(&mut cs, "Healthy", false, "DiscoveryFailed", msg, None);
        assert_eq!(
            cs[0].message,
            "discovery of https://xxxxx@git.example.com/r.git failed"
        );
        set(&mut cs, "Healthy", false, "DiscoveryFailed", msg, None);
        assert_eq!(cs.len(), 1);
        assert!(!cs[0].message.contains("s3cret"));
    }
}
