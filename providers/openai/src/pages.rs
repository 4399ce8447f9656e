//! Walking a cursor-paginated list to its end.
//!
//! The Administration API pages lists with `limit` and `after`: each page says `has_more` and
//! names its `last_id`, which is the `after` of the next page. A server that answers
//! `has_more: true` with a cursor it already gave (a stateless mock does, and a buggy proxy
//! could) would keep a naive loop asking forever, so the walk stops with an error when a cursor
//! does not advance, when a page says there is more but holds nothing or names no cursor, or
//! after [`MAX_PAGES`] pages.

use breakglass_provider::ProviderError;
use std::collections::BTreeSet;
use std::future::Future;

use crate::api::ListPage;

/// More pages than any organization has (100 objects a page): a list this long is a server
/// that never ends its list.
pub const MAX_PAGES: usize = 10_000;

/// Something listed, with the id the API pages by.
pub trait Listed {
    /// Its id.
    fn id(&self) -> &str;
}

impl Listed for crate::api::ProjectUser {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Listed for crate::api::ProjectRateLimit {
    fn id(&self) -> &str {
        &self.id
    }
}

/// Every object of a list, and how many pages (API calls) it took. `fetch` gets the cursor
/// (`None` for the first page) and returns that page; `what` names the list in errors
/// (`GET /organization/projects/proj_1/users`).
pub async fn all_pages<T, F, Fut>(what: &str, mut fetch: F) -> Result<(Vec<T>, u64), ProviderError>
where
    T: Listed,
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<ListPage<T>, ProviderError>>,
{
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut pages = 0usize;
    loop {
        let page = fetch(cursor.clone()).await?;
        pages += 1;
        let stop = |why: String| {
            ProviderError::protocol(format!(
                "openai: {what}: page {pages} {why}; stopped reading the list rather than loop \
                 or miss objects (a proxy or server that does not page as OpenAI documents?)"
            ))
        };
        let next =
            page.last_id.clone().or_else(|| page.data.last().map(|item| item.id().to_owned()));
        let has_more = page.has_more;
        let empty = page.data.is_empty();
        items.extend(page.data);
        if !has_more {
            return Ok((items, pages as u64));
        }
        if empty {
            return Err(stop("says there is more (has_more) but holds no objects".to_owned()));
        }
        let Some(next) = next else {
            return Err(stop("says there is more but names no cursor (last_id)".to_owned()));
        };
        if !used.insert(next.clone()) {
            return Err(stop(format!("ends at `{next}` again: the cursor does not advance")));
        }
        if pages >= MAX_PAGES {
            return Err(stop(format!("is the {MAX_PAGES}th and the list still goes on")));
        }
        cursor = Some(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakglass_provider::ErrorKind;
    use std::cell::RefCell;

    #[derive(Debug, Clone, PartialEq)]
    struct Item(String);

    impl Listed for Item {
        fn id(&self) -> &str {
            &self.0
        }
    }

    fn page(ids: &[&str], last_id: Option<&str>, has_more: bool) -> ListPage<Item> {
        ListPage {
            object: "list".to_owned(),
            data: ids.iter().map(|id| Item((*id).to_owned())).collect(),
            last_id: last_id.map(str::to_owned),
            has_more,
        }
    }

    /// Serves `pages` in order, recording the cursors asked for.
    async fn walk(
        pages: Vec<ListPage<Item>>,
    ) -> (Result<(Vec<Item>, u64), ProviderError>, Vec<Option<String>>) {
        let asked = RefCell::new(Vec::new());
        let pages = RefCell::new(pages.into_iter());
        let result = all_pages("GET /organization/projects/p/users", |cursor| {
            asked.borrow_mut().push(cursor);
            let next = pages.borrow_mut().next();
            async move { next.ok_or_else(|| ProviderError::invalid("asked for one page too many")) }
        })
        .await;
        (result, asked.into_inner())
    }

    #[tokio::test]
    async fn pages_are_followed_by_last_id_until_has_more_is_false() {
        let (result, asked) = walk(vec![
            page(&["u1", "u2"], Some("u2"), true),
            page(&["u3", "u4"], Some("u4"), true),
            page(&["u5"], Some("u5"), false),
        ])
        .await;
        let (items, calls) = result.unwrap();
        assert_eq!(items.len(), 5);
        assert_eq!(calls, 3);
        assert_eq!(asked, [None, Some("u2".to_owned()), Some("u4".to_owned())]);
    }

    #[tokio::test]
    async fn without_last_id_the_last_object_is_the_cursor() {
        let (result, asked) =
            walk(vec![page(&["a", "b"], None, true), page(&["c"], None, false)]).await;
        assert_eq!(result.unwrap().0.len(), 3);
        assert_eq!(asked[1].as_deref(), Some("b"));
    }

    #[tokio::test]
    async fn an_empty_list_is_one_call() {
        let (result, _) = walk(vec![page(&[], None, false)]).await;
        assert_eq!(result.unwrap(), (vec![], 1));
    }

    #[tokio::test]
    async fn broken_paging_is_a_protocol_error_not_a_loop() {
        let cases = [
            (
                vec![page(&["a"], Some("a"), true), page(&["a"], Some("a"), true)],
                "ends at `a` again: the cursor does not advance",
            ),
            (
                vec![
                    page(&["a"], Some("a"), true),
                    page(&["b"], Some("b"), true),
                    page(&["a"], Some("a"), true),
                ],
                "ends at `a` again",
            ),
            (vec![page(&[], None, true)], "holds no objects"),
            (vec![page(&[], Some("x"), true)], "holds no objects"),
        ];
        for (pages, expected) in cases {
            let count = pages.len();
            let (result, asked) = walk(pages).await;
            let error = result.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
            assert!(error.message().contains(expected), "{error}");
            assert!(error.message().starts_with("openai: GET /organization/projects/p/users"));
            assert_eq!(asked.len(), count, "stops at the page that proves it");
        }
    }
}
