//! Object ids made of several names (`alice/dba` for a membership), and back.
//!
//! PostgreSQL names may hold any character but NUL, `/` and `,` included, so each part is
//! escaped (`%` → `%25`, `/` → `%2F`; and `,` → `%2C` inside lists) before joining: an id always splits back
//! into exactly the names it was made from, and ids stay readable in plans for ordinary names.

use breakglass_provider::ProviderError;

/// Escapes one part of an id: `%` and `/`.
fn escape(part: &str) -> String {
    part.replace('%', "%25").replace('/', "%2F")
}

fn unescape(part: &str) -> String {
    part.replace("%2F", "/").replace("%25", "%")
}

/// Escapes one item of a list part: `%` and `,`.
fn escape_item(item: &str) -> String {
    item.replace('%', "%25").replace(',', "%2C")
}

fn unescape_item(item: &str) -> String {
    item.replace("%2C", ",").replace("%25", "%")
}

/// Joins parts with `/`.
pub fn join(parts: &[&str]) -> String {
    parts.iter().map(|part| escape(part)).collect::<Vec<_>>().join("/")
}

/// Joins a list with `,`, for one part of an id; pass the result through [`join`], which
/// escapes it once more, so the list's own separators survive [`split`].
pub fn join_list(items: &[String]) -> String {
    items.iter().map(|item| escape_item(item)).collect::<Vec<_>>().join(",")
}

/// Splits an id made by [`join`] into exactly `count` parts.
pub fn split(id: &str, count: usize, resource_type: &str) -> Result<Vec<String>, ProviderError> {
    let parts: Vec<String> = id.split('/').map(unescape).collect();
    if parts.len() != count {
        return Err(ProviderError::invalid(format!(
            "postgres: {id:?} is not an id of {resource_type} ({count} parts separated by `/` \
             were expected)"
        )));
    }
    Ok(parts)
}

/// Splits one part made by [`join_list`]; an empty part is an empty list.
pub fn split_list(part: &str) -> Vec<String> {
    if part.is_empty() {
        return Vec::new();
    }
    part.split(',').map(unescape_item).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_back_into_their_parts_whatever_the_names_hold() {
        let names = ["alice", "a/b", "100%", "x,y", "%2F"];
        for a in names {
            for b in names {
                let id = join(&[a, b]);
                assert_eq!(split(&id, 2, "t").unwrap(), [a, b], "{id}");
            }
        }
        assert_eq!(join(&["alice", "dba"]), "alice/dba");
        assert!(split("a/b/c", 2, "postgres_grant_role").is_err());
    }

    #[test]
    fn lists_round_trip_inside_one_part() {
        let items = vec!["t1".to_owned(), "a,b".to_owned(), "c/d".to_owned()];
        let id = join(&["r", &join_list(&items)]);
        let parts = split(&id, 2, "t").unwrap();
        assert_eq!(split_list(&parts[1]), items);
        assert!(split_list("").is_empty());
    }
}
