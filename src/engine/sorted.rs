//! Walking two maps sorted by the same key together.

/// The entries of two maps sorted by the same key, merged in ascending key order, with each
/// map's value for that key: walking both together, rather than looking one up per key of the
/// other, spares two ordered-map searches per object.
pub(crate) fn merge_sorted<'a, K: Ord + 'a, A: 'a, B: 'a>(
    a: impl Iterator<Item = (&'a K, &'a A)>,
    b: impl Iterator<Item = (&'a K, &'a B)>,
) -> impl Iterator<Item = (&'a K, Option<&'a A>, Option<&'a B>)> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some((x, _)), Some((y, _))) => match x.cmp(y) {
            std::cmp::Ordering::Less => a.next().map(|(k, v)| (k, Some(v), None)),
            std::cmp::Ordering::Greater => b.next().map(|(k, v)| (k, None, Some(v))),
            std::cmp::Ordering::Equal => {
                let (_, w) = b.next()?;
                a.next().map(|(k, v)| (k, Some(v), Some(w)))
            }
        },
        (Some(_), None) => a.next().map(|(k, v)| (k, Some(v), None)),
        (None, _) => b.next().map(|(k, v)| (k, None, Some(v))),
    })
}

#[cfg(test)]
mod tests {
    use super::merge_sorted;
    use std::collections::BTreeMap;

    /// Keys on the left, keys on the right, and the expected `(key, in_left, in_right)` rows.
    type MergeCase<'a> = (&'a [u32], &'a [u32], &'a [(u32, bool, bool)]);

    #[test]
    fn merge_sorted_pairs_values_by_key_without_duplicates() {
        let cases: [MergeCase; 5] = [
            (&[], &[], &[]),
            (&[1, 3], &[], &[(1, true, false), (3, true, false)]),
            (&[], &[2], &[(2, false, true)]),
            (
                &[1, 3, 5],
                &[2, 3, 6],
                &[
                    (1, true, false),
                    (2, false, true),
                    (3, true, true),
                    (5, true, false),
                    (6, false, true),
                ],
            ),
            (&[4], &[1, 4], &[(1, false, true), (4, true, true)]),
        ];
        for (a, b, want) in cases {
            let a: BTreeMap<u32, String> = a.iter().map(|k| (*k, format!("a{k}"))).collect();
            let b: BTreeMap<u32, String> = b.iter().map(|k| (*k, format!("b{k}"))).collect();
            let got: Vec<(u32, Option<&String>, Option<&String>)> =
                merge_sorted(a.iter(), b.iter()).map(|(k, x, y)| (*k, x, y)).collect();
            let expected: Vec<(u32, Option<&String>, Option<&String>)> = want
                .iter()
                .map(|(k, in_a, in_b)| (*k, in_a.then(|| &a[k]), in_b.then(|| &b[k])))
                .collect();
            assert_eq!(got, expected, "{a:?} merged with {b:?}");
        }
    }
}
