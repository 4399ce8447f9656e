//! Spreading one stage's independent work over the machine's cores: a whole `plan` at 60,900
//! activations compiles 100,000 objects and diffs as many, each on its own, while a second core
//! would otherwise wait. Results come back in input order, so output never depends on timing.

use std::collections::BTreeMap;
use std::ops::Bound;

/// A range of a sorted map's keys.
pub(crate) type Run<'a, K> = (Bound<&'a K>, Bound<&'a K>);

/// How many parts to cut `len` items into: one per core, none shorter than `min_len` (a thread
/// costs more than a few thousand small items).
fn parts(len: usize, min_len: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (len / min_len.max(1)).clamp(1, cores)
}

/// Runs `work` on each part on its own scoped thread (the first part on this one) and returns
/// the results in the order of the parts. A panic in any part is raised again here.
fn run_parts<P: Send, R: Send>(parts: Vec<P>, work: impl Fn(P) -> R + Sync) -> Vec<R> {
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else { return Vec::new() };
    std::thread::scope(|scope| {
        let work = &work;
        let others: Vec<_> = parts.map(|part| scope.spawn(move || work(part))).collect();
        let mut results = vec![work(first)];
        for other in others {
            results.push(other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        results
    })
}

/// Cuts `map`'s keys into contiguous runs of at least `min_len` keys, one per core at most,
/// covering every possible key (the first run starts unbounded, the last ends unbounded, so a
/// second map walked with the same runs loses nothing), and calls `work` on each run.
pub(crate) fn in_key_runs<'a, K: Ord + Sync, V, R: Send>(
    map: &'a BTreeMap<K, V>,
    min_len: usize,
    work: impl Fn(Run<'a, K>) -> R + Sync,
) -> Vec<R> {
    let parts = parts(map.len(), min_len);
    let cuts: Vec<&K> = map.keys().step_by(map.len().div_ceil(parts).max(1)).skip(1).collect();
    let mut runs = Vec::with_capacity(cuts.len() + 1);
    let mut start = Bound::Unbounded;
    for cut in cuts {
        runs.push((start, Bound::Excluded(cut)));
        start = Bound::Included(cut);
    }
    runs.push((start, Bound::Unbounded));
    run_parts(runs, work)
}

/// Cuts `items` into contiguous chunks of at least `min_len`, one per core at most, and calls
/// `work` on each chunk.
pub(crate) fn in_chunks<T: Sync, R: Send>(
    items: &[T],
    min_len: usize,
    work: impl Fn(&[T]) -> R + Sync,
) -> Vec<R> {
    let parts = parts(items.len(), min_len);
    run_parts(items.chunks(items.len().div_ceil(parts).max(1)).collect(), work)
}

#[cfg(test)]
mod tests {
    use super::{in_chunks, in_key_runs};
    use std::collections::BTreeMap;

    #[test]
    fn key_runs_cover_every_key_once_in_order() {
        for len in [0, 1, 5, 999, 1000, 1001, 4321] {
            let map: BTreeMap<u32, ()> = (0..len).map(|k| (k * 2, ())).collect();
            // Keys of a second map between and beyond the first map's keys land in some run.
            let other: BTreeMap<u32, ()> = (0..len * 2 + 3).map(|k| (k, ())).collect();
            let runs = in_key_runs(&map, 100, |run| {
                (map.range(run).map(|(k, _)| *k).collect::<Vec<_>>(), other.range(run).count())
            });
            let keys: Vec<u32> = runs.iter().flat_map(|(keys, _)| keys.clone()).collect();
            assert_eq!(keys, map.keys().copied().collect::<Vec<_>>(), "len {len}");
            assert_eq!(runs.iter().map(|(_, n)| n).sum::<usize>(), other.len(), "len {len}");
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            assert!(runs.len() <= cores.max(1), "len {len}: {} runs", runs.len());
            assert!(len < 200 || cores < 2 || runs.len() > 1, "len {len}: not split");
        }
    }

    #[test]
    fn chunks_keep_their_order_and_lose_nothing() {
        for len in [0, 1, 99, 100, 250, 10_001] {
            let items: Vec<usize> = (0..len).collect();
            let sums = in_chunks(&items, 100, |chunk| chunk.to_vec());
            assert_eq!(sums.concat(), items, "len {len}");
        }
    }

    #[test]
    fn a_panic_in_a_part_reaches_the_caller() {
        let items: Vec<usize> = (0..10_000).collect();
        let caught = std::panic::catch_unwind(|| {
            in_chunks(&items, 1, |chunk| assert!(!chunk.contains(&9_999), "the last item"))
        });
        assert!(caught.is_err());
    }
}
