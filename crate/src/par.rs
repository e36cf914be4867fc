//! Work split over threads.
//!
//! Natively, and in the wasm build with shared memory and atomics (where
//! wasm-bindgen-rayon starts the pool on Web Workers), tasks run on rayon's
//! global pool. The other wasm builds have no threads: tasks run one after
//! another on the calling thread.
//!
//! Callers split their work so that every piece is computed exactly as it
//! would be on one thread (whole rows of a matrix, whole attention heads,
//! whole rows of a tensor): results never depend on the thread count.

#[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
use rayon::prelude::*;

/// Whether this build runs tasks on more than one thread.
pub const THREADED: bool = cfg!(any(not(target_arch = "wasm32"), target_feature = "atomics"));

/// Threads the pool has: the most that [`map`] and [`chunks_mut`] use at
/// once (1 in a build without threads, or before the page started its pool).
pub fn pool_size() -> usize {
    #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
    return rayon::current_num_threads();
    #[cfg(not(any(not(target_arch = "wasm32"), target_feature = "atomics")))]
    1
}

/// `f` on every item, spread over the pool; results in order. One item
/// runs on the calling thread without touching the pool.
pub fn map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
    #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
    if items.len() > 1 {
        // One item per task: callers already sized the items for a thread each.
        return items.into_par_iter().with_max_len(1).map(f).collect();
    }
    items.into_iter().map(f).collect()
}

/// `f(i, chunk)` for each `len`-element chunk of `data` (the last may be
/// shorter), spread over the pool.
pub fn chunks_mut<T: Send>(data: &mut [T], len: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    let len = len.max(1);
    #[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
    if data.len() > len {
        data.par_chunks_mut(len)
            .with_max_len(1)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
        return;
    }
    for (i, c) in data.chunks_mut(len).enumerate() {
        f(i, c)
    }
}

/// How many pieces to cut `items` items into for `threads` threads, when a
/// piece should hold at least `min_items` (below that, handing it to another
/// thread costs more than it saves): between 1 and `threads`.
pub fn pieces(items: usize, min_items: usize, threads: usize) -> usize {
    (items / min_items.max(1)).clamp(1, threads.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keeps_order_and_runs_every_task() {
        for tasks in [0, 1, 2, 7, 64] {
            let got = map((0..tasks).collect(), |i| i * i);
            assert_eq!(got, (0..tasks).map(|i| i * i).collect::<Vec<_>>());
        }
    }

    #[test]
    fn chunks_mut_covers_every_element_once() {
        for (n, len) in [(0, 3), (1, 3), (10, 3), (12, 4), (5, 100), (9, 0)] {
            let mut v = vec![0usize; n];
            chunks_mut(&mut v, len, |i, c| {
                for (j, x) in c.iter_mut().enumerate() {
                    *x += i * len.max(1) + j + 1;
                }
            });
            assert_eq!(v, (1..=n).collect::<Vec<_>>(), "n {n} len {len}");
        }
    }

    #[test]
    fn pieces_stay_between_one_and_the_thread_count() {
        assert_eq!(pieces(0, 10, 4), 1);
        assert_eq!(pieces(25, 10, 4), 2);
        assert_eq!(pieces(1000, 10, 4), 4);
        assert_eq!(pieces(1000, 0, 0), 1);
    }
}
