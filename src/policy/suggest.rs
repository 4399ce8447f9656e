//! "Did you mean …?" for misspelt names.

/// The candidate closest to `input`, if one is close enough to be a likely typo.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(input, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= (input.len().max(candidate.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// `Did you mean "x"?` with a leading space, or nothing.
pub fn did_you_mean<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(input, candidates).map_or_else(String::new, |hit| format!(" Did you mean \"{hit}\"?"))
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_near_misses_only() {
        let names = ["quorum", "members", "token_lifetime"];
        assert_eq!(closest("quorom", names), Some("quorum"));
        assert_eq!(closest("member", names), Some("members"));
        assert_eq!(closest("token_lifetme", names), Some("token_lifetime"));
        assert_eq!(closest("colour", names), None);
    }
}
