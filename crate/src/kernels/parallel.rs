//! Work split over threads where there are threads: natively (rayon's pool), and in the threaded
//! wasm module (the pool `initThreadPool` starts in Web Workers). The SIMD128 and relaxed-SIMD
//! modules have no threads: their kernels run as before, with no pool consulted.
//!
//! Every split is by output rows (channels, or a fully connected layer's outputs): each output is
//! computed by the same code, summing in the same order, whichever thread runs it, so a threaded
//! run gives the single-threaded logits to the bit.

use rayon::prelude::*;

/// Whether this build has threads to split work over.
const THREADS: bool = cfg!(any(not(target_arch = "wasm32"), target_feature = "atomics"));

/// Work below this many multiply-adds (about 0.1 ms) runs on one thread: handing it to the others
/// would cost more than it saves.
const MIN_PARALLEL_WORK: usize = 1 << 20;

/// Runs per thread: two, so that a thread that finished early takes another's half.
const RUNS_PER_THREAD: usize = 2;

/// The threads kernels split their work over (1 without threads).
pub fn threads() -> usize {
    if THREADS {
        rayon::current_num_threads()
    } else {
        1
    }
}

/// Runs `work` on one of the pool's threads where there is a pool, else here. A forward pass runs
/// this way, so that each layer's split starts from inside the pool: the thread that splits it
/// takes the first half itself and, if the other thread is slow to wake, the second too, where
/// a split started from outside would wait for a sleeping thread to wake for every layer.
pub fn in_pool<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    if threads() > 1 && rayon::current_thread_index().is_none() {
        rayon::scope(|_| work())
    } else {
        work()
    }
}

/// Runs `work(first, run)` over `out` cut into runs of whole `unit`-long rows, `first` being the
/// index of the run's first row: on the pool's threads when `work_per_row` multiply-adds per row
/// make that worth it, else in one call over all of `out`.
pub fn for_each_rows<T: Send>(
    out: &mut [T],
    unit: usize,
    work_per_row: usize,
    work: impl Fn(usize, &mut [T]) + Sync,
) {
    let rows = out.len().checked_div(unit).unwrap_or(0);
    let threads = threads();
    if threads <= 1 || rows <= 1 || rows * work_per_row < MIN_PARALLEL_WORK {
        return work(0, out);
    }
    let per_run = rows.div_ceil(threads * RUNS_PER_THREAD);
    out.par_chunks_mut(per_run * unit)
        .enumerate()
        .for_each(|(i, run)| work(i * per_run, run));
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn runs_cover_every_row_once() {
        for (rows, unit, work) in [
            (1, 5, 1 << 20),
            (7, 3, 1 << 20),
            (100, 1, 1 << 20),
            (9, 2, 1),
        ] {
            let mut out = vec![0u32; rows * unit];
            for_each_rows(&mut out, unit, work, |first, run| {
                for (i, row) in run.chunks_mut(unit).enumerate() {
                    row.iter_mut().for_each(|v| *v += (first + i) as u32 + 1);
                }
            });
            let expected: Vec<u32> = (0..rows).flat_map(|r| vec![r as u32 + 1; unit]).collect();
            assert_eq!(out, expected, "{rows} rows of {unit}");
        }
    }
}
