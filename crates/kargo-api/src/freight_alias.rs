//! Freight aliases: human-friendly `adjective-animal` names (`jolly-penguin`)
//! kept in the `kargo.akuity.io/alias` label. Word lists are our own.

use rand::Rng;

const ADJECTIVES: &[&str] = &[
    "agile", "amber", "ancient", "bold", "brave", "breezy", "bright", "brisk", "calm", "cheerful",
    "clever", "cosmic", "crisp", "curious", "daring", "dashing", "eager", "early", "electric",
    "fancy", "fearless", "fluffy", "friendly", "gentle", "giant", "glad", "golden", "graceful",
    "happy", "hardy", "honest", "humble", "jolly", "keen", "kind", "lively", "lucky", "mellow",
    "merry", "mighty", "misty", "modest", "nimble", "noble", "patient", "peppy", "plucky",
    "polite", "proud", "quick", "quiet", "rapid", "regal", "rustic", "shiny", "silent", "silver",
    "sleek", "smart", "snowy", "solid", "speedy", "spry", "steady", "sturdy", "sunny", "swift",
    "tidy", "tranquil", "trusty", "vivid", "warm", "wise", "witty", "zesty",
];

const ANIMALS: &[&str] = &[
    "albatross",
    "alpaca",
    "antelope",
    "badger",
    "beaver",
    "bison",
    "bobcat",
    "buffalo",
    "camel",
    "caribou",
    "cheetah",
    "condor",
    "cougar",
    "coyote",
    "crane",
    "dingo",
    "dolphin",
    "eagle",
    "egret",
    "elk",
    "falcon",
    "ferret",
    "finch",
    "fox",
    "gazelle",
    "gecko",
    "gopher",
    "heron",
    "hedgehog",
    "ibis",
    "iguana",
    "jackal",
    "jaguar",
    "kestrel",
    "koala",
    "lemur",
    "leopard",
    "llama",
    "lynx",
    "magpie",
    "marmot",
    "meerkat",
    "mink",
    "moose",
    "narwhal",
    "newt",
    "ocelot",
    "orca",
    "osprey",
    "otter",
    "owl",
    "panda",
    "panther",
    "pelican",
    "penguin",
    "puffin",
    "quail",
    "rabbit",
    "raccoon",
    "raven",
    "robin",
    "salmon",
    "seal",
    "sparrow",
    "squirrel",
    "stork",
    "swan",
    "tapir",
    "tiger",
    "toucan",
    "turtle",
    "walrus",
    "weasel",
    "whale",
    "wolf",
    "wombat",
    "yak",
    "zebra",
];

/// Picks a random `adjective-animal` alias.
pub fn random_alias() -> String {
    let mut rng = rand::rng();
    let adj = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
    let animal = ANIMALS[rng.random_range(0..ANIMALS.len())];
    format!("{adj}-{animal}")
}

/// Picks an alias for which `taken` returns false. After a few collisions
/// a numeric suffix is added, so the search always ends.
pub fn unique_alias(mut taken: impl FnMut(&str) -> bool) -> String {
    for _ in 0..32 {
        let a = random_alias();
        if !taken(&a) {
            return a;
        }
    }
    let mut n = 2u64;
    loop {
        let a = format!("{}-{n}", random_alias());
        if !taken(&a) {
            return a;
        }
        n += 1;
    }
}

/// Number of distinct aliases without a suffix.
pub fn alias_space() -> usize {
    ADJECTIVES.len() * ANIMALS.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn aliases_are_dns_labels_and_unique() {
        let mut seen = HashSet::new();
        for _ in 0..(alias_space() + 50) {
            let a = unique_alias(|a| seen.contains(a));
            assert!(crate::validate::is_dns1123_label(&a), "{a}");
            assert!(seen.insert(a));
        }
    }

    #[test]
    fn word_lists_have_no_duplicates() {
        let adj: HashSet<_> = ADJECTIVES.iter().collect();
        let ani: HashSet<_> = ANIMALS.iter().collect();
        assert_eq!(adj.len(), ADJECTIVES.len());
        assert_eq!(ani.len(), ANIMALS.len());
    }
}
