//! Following page tokens (AIP-158) to the end. A list call answers one page
//! and a token for the next; callers want either one page (to show it) or
//! every item (to export it) without writing the loop each time, and an
//! export should start writing before the last page arrives, so pages come
//! as a `Stream`.

use std::future::Future;

use futures::{Stream, StreamExt, TryStreamExt, stream};

use crate::Error;

/// One page of a list call.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The token of the next page; `None` on the last one.
    pub next_page_token: Option<String>,
}

impl<T> Page<T> {
    /// A page from a response's items and its (possibly empty) token.
    pub(crate) fn new(items: Vec<T>, next_page_token: String) -> Self {
        Self {
            items,
            next_page_token: (!next_page_token.is_empty()).then_some(next_page_token),
        }
    }
}

/// Where a paging stream stands.
enum Cursor {
    /// The token to ask with (empty for the first page).
    At(String),
    Done,
}

/// Every page `fetch` answers, from the first (an empty token) until one
/// comes without a next token. Stops at the first error. `method` names the
/// RPC when the service repeats a token, which would loop forever.
pub(crate) fn pages<T, F, Fut>(
    method: &'static str,
    mut fetch: F,
) -> impl Stream<Item = Result<Page<T>, Error>>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<Page<T>, Error>>,
{
    stream::try_unfold(Cursor::At(String::new()), move |cursor| {
        let request = match cursor {
            Cursor::At(token) => Some((fetch(token.clone()), token)),
            Cursor::Done => None,
        };
        async move {
            let Some((response, asked_with)) = request else {
                return Ok(None);
            };
            let page = response.await?;
            let next = match &page.next_page_token {
                Some(token) if *token == asked_with => {
                    return Err(Error::PageTokenRepeated { method });
                }
                Some(token) => Cursor::At(token.clone()),
                None => Cursor::Done,
            };
            Ok(Some((page, next)))
        }
    })
}

/// The items of every page, in order.
pub(crate) fn items<T>(
    pages: impl Stream<Item = Result<Page<T>, Error>>,
) -> impl Stream<Item = Result<T, Error>> {
    pages
        .map_ok(|page| stream::iter(page.items.into_iter().map(Ok)))
        .try_flatten()
}

/// Keeps the items `keep` accepts on each page (for filters the service
/// does not offer); tokens are kept as they are.
pub(crate) fn retain<T>(
    pages: impl Stream<Item = Result<Page<T>, Error>>,
    mut keep: impl FnMut(&T) -> bool,
) -> impl Stream<Item = Result<Page<T>, Error>> {
    pages.map(move |page| {
        page.map(|mut page| {
            page.items.retain(&mut keep);
            page
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service of `total` items numbered from 0, `size` per page, whose
    /// token is the next item's number.
    fn numbers(total: u32, size: u32) -> impl Stream<Item = Result<Page<u32>, Error>> {
        pages("ListNumbers", move |token: String| async move {
            let start: u32 = if token.is_empty() {
                0
            } else {
                token.parse().unwrap()
            };
            let end = (start + size).min(total);
            let next = if end < total {
                end.to_string()
            } else {
                String::new()
            };
            Ok(Page::new((start..end).collect(), next))
        })
    }

    #[tokio::test]
    async fn every_page_is_followed_to_the_last() {
        let pages: Vec<Page<u32>> = numbers(7, 3).try_collect().await.unwrap();
        let sizes: Vec<usize> = pages.iter().map(|page| page.items.len()).collect();
        assert_eq!(sizes, [3, 3, 1]);
        let all: Vec<u32> = items(numbers(7, 3)).try_collect().await.unwrap();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
        let none: Vec<u32> = items(numbers(0, 3)).try_collect().await.unwrap();
        assert!(none.is_empty());
    }

    #[tokio::test]
    async fn a_client_side_filter_keeps_paging_past_empty_pages() {
        let odd: Vec<u32> = items(retain(numbers(10, 2), |n| n % 2 == 1 && *n > 4))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(odd, [5, 7, 9]);
    }

    #[tokio::test]
    async fn a_repeated_token_ends_the_stream_with_an_error() {
        let stuck = pages("ListForever", |_token: String| async {
            Ok(Page::new(vec![1], "same".to_string()))
        });
        let result: Result<Vec<Page<i32>>, Error> = stuck.try_collect().await;
        assert!(matches!(
            result,
            Err(Error::PageTokenRepeated {
                method: "ListForever"
            })
        ));
    }
}
