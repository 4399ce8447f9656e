//! Walking a list with `limit` and `continue`.
//!
//! The API server pages a list and hands a `continue` token with each page but the last. A
//! token expires after a few minutes (etcd compaction): the next page is then `410 Gone`
//! (reason `Expired`), and the only consistent answer is to list again from the start, which
//! this walk does, a bounded number of times. A token that does not change, or a walk longer
//! than any real list, is an error, never a loop.

use std::collections::BTreeSet;
use std::future::Future;

use breakglass_provider::ProviderError;

use crate::api::List;
use crate::client::Failure;

/// Times a list starts again after its `continue` token expired.
pub const MAX_RESTARTS: usize = 3;

/// More pages than any cluster has.
pub const MAX_PAGES: usize = 100_000;

/// Every item of a list and the calls it took. `fetch` gets the token (`None` for the first
/// page); `what` names the list in errors.
pub async fn all_pages<T, F, Fut>(what: &str, mut fetch: F) -> Result<(Vec<T>, u64), ProviderError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<List<T>, Failure>>,
{
    let mut calls = 0u64;
    let mut restarts = 0usize;
    'walk: loop {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut pages = 0usize;
        loop {
            calls += 1;
            pages += 1;
            let page = match fetch(token.clone()).await {
                Ok(page) => page,
                Err(failure) if failure.is_gone() && token.is_some() => {
                    if restarts >= MAX_RESTARTS {
                        return Err(ProviderError::transient(format!(
                            "kubernetes: {what}: the continue token expired {} times in a row \
                             (410 Gone); the list changes faster than it can be read: try again, \
                             or raise `page_size`",
                            restarts + 1
                        )));
                    }
                    restarts += 1;
                    continue 'walk;
                }
                Err(failure) => return Err(failure.into()),
            };
            items.extend(page.items);
            let next = page.metadata.continue_token.filter(|t| !t.is_empty());
            let Some(next) = next else {
                return Ok((items, calls));
            };
            let stop = |why: &str| {
                ProviderError::protocol(format!(
                    "kubernetes: {what}: page {pages} {why}; stopped reading the list rather than \
                     loop or miss objects"
                ))
            };
            if !seen.insert(next.clone()) {
                return Err(stop("hands back a continue token it already gave"));
            }
            if pages >= MAX_PAGES {
                return Err(stop("is one too many and the list still goes on"));
            }
            token = Some(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ListMeta;
    use breakglass_provider::ErrorKind;
    use std::cell::RefCell;

    fn page(items: &[u32], next: Option<&str>) -> Result<List<u32>, Failure> {
        Ok(List {
            metadata: ListMeta {
                continue_token: next.map(str::to_owned),
                resource_version: Some("1".to_owned()),
            },
            items: items.to_vec(),
        })
    }

    fn gone() -> Result<List<u32>, Failure> {
        Err(Failure {
            code: 410,
            reason: "Expired".to_owned(),
            error: ProviderError::invalid("too old"),
        })
    }

    async fn walk(
        script: Vec<Result<List<u32>, Failure>>,
    ) -> (Result<(Vec<u32>, u64), ProviderError>, Vec<Option<String>>) {
        let asked = RefCell::new(Vec::new());
        let script = RefCell::new(script.into_iter());
        let result = all_pages("GET /clusterrolebindings", |token| {
            asked.borrow_mut().push(token);
            let next = script.borrow_mut().next();
            async move {
                next.unwrap_or_else(|| Err(ProviderError::invalid("asked once too often").into()))
            }
        })
        .await;
        (result, asked.into_inner())
    }

    #[tokio::test]
    async fn pages_are_followed_until_continue_is_empty() {
        let (result, asked) =
            walk(vec![page(&[1, 2], Some("t1")), page(&[3, 4], Some("t2")), page(&[5], Some(""))])
                .await;
        assert_eq!(result.unwrap(), (vec![1, 2, 3, 4, 5], 3));
        assert_eq!(asked, [None, Some("t1".to_owned()), Some("t2".to_owned())]);
    }

    #[tokio::test]
    async fn an_expired_token_starts_the_list_again_from_the_top() {
        let (result, asked) = walk(vec![
            page(&[1, 2], Some("t1")),
            gone(),
            page(&[1, 2], Some("t3")),
            page(&[3], None),
        ])
        .await;
        assert_eq!(result.unwrap(), (vec![1, 2, 3], 4), "nothing twice, nothing missed");
        assert_eq!(asked, [None, Some("t1".to_owned()), None, Some("t3".to_owned())]);
    }

    #[tokio::test]
    async fn tokens_that_keep_expiring_or_do_not_advance_are_errors_not_loops() {
        let mut script = Vec::new();
        for _ in 0..=MAX_RESTARTS {
            script.push(page(&[1], Some("t")));
            script.push(gone());
        }
        let (result, _) = walk(script).await;
        let error = result.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
        assert!(error.message().contains("expired 4 times"), "{error}");

        let (result, _) = walk(vec![page(&[1], Some("t")), page(&[2], Some("t"))]).await;
        let error = result.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Protocol);
        assert!(error.message().contains("already gave"), "{error}");

        // A 410 on the first page is not an expired token: it is returned as it is.
        let (result, asked) = walk(vec![gone()]).await;
        assert!(result.is_err());
        assert_eq!(asked.len(), 1);
    }
}
