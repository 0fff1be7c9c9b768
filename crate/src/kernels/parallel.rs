//! Work split over threads where there are threads: natively (rayon's pool), and in the threaded
//! wasm module (the pool `initThreadPool` starts in Web Workers). The SIMD128 and relaxed-SIMD
//! modules have no threads: their kernels run as before, with no pool consulted.
//!
//! Every split is by output rows (channels, or a fully connected layer's outputs): each output is
//! computed by the same code, summing in the same order, whichever thread runs it, so a threaded
//! run gives the single-threaded logits to the bit.
//!
//! A forward pass splits each of its ~50–150 layers, each in a fraction of a millisecond. A pool
//! thread that sleeps between splits takes tens of microseconds to wake in a browser (an
//! `Atomics.wait`), so a split per layer through rayon's own queues lost more than it gained (2
//! threads 1.1–1.3× one thread's time). So while a pass runs, the pool's other threads spin on
//! the pass's [`Board`], taking runs of each split as soon as it is posted; between passes they
//! sleep in rayon's pool.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// Whether this build has threads to split work over.
const THREADS: bool = cfg!(any(not(target_arch = "wasm32"), target_feature = "atomics"));

/// Work below this many multiply-adds runs on one thread: handing it to the others would cost
/// more than it saves.
const MIN_PARALLEL_WORK: usize = 1 << 18;

/// Runs per thread: more than one, so that a thread that finished early takes another's share.
const RUNS_PER_THREAD: usize = 2;

/// The threads kernels split their work over (1 without threads).
pub fn threads() -> usize {
    if THREADS {
        rayon::current_num_threads()
    } else {
        1
    }
}

thread_local! {
    /// The board of the pass this thread runs, if it runs one.
    static PASS: Cell<*const Board> = const { Cell::new(std::ptr::null()) };
}

/// Runs `work` (a forward pass) with the pool's other threads spinning on a [`Board`] for the
/// runs its kernels post, where there is a pool; else just runs it.
pub fn in_pool<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    if threads() <= 1 || !PASS.with(Cell::get).is_null() {
        return work();
    }
    let board = Board::default();
    // From outside the pool, the scope runs on one of the pool's threads: there waiting for a
    // run is spinning, never blocking a page's thread.
    rayon::scope(|scope| {
        for _ in 1..threads() {
            scope.spawn(|_| board.help());
        }
        let _pass = Pass::start(&board);
        work()
    })
}

/// While alive, this thread's pass: its board is the thread's, open to helpers.
struct Pass<'a> {
    board: &'a Board,
    /// The board this thread had before: a thread waiting in rayon may be handed another pass,
    /// and it keeps its own after.
    outer: *const Board,
}

impl<'a> Pass<'a> {
    fn start(board: &'a Board) -> Self {
        let outer = PASS.with(|pass| pass.replace(board));
        Pass { board, outer }
    }
}

impl Drop for Pass<'_> {
    /// Also when unwinding from a panic: helpers stop spinning, and the scope can end.
    fn drop(&mut self) {
        PASS.with(|pass| pass.set(self.outer));
        self.board.open.store(false, Ordering::Release);
    }
}

/// Runs `work(first, run)` over `out` cut into runs of whole `unit`-long rows, `first` being the
/// index of the run's first row: on several threads when `work_per_row` multiply-adds per row
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
    let work: &(dyn Fn(usize, &mut [T]) + Sync) = &work;
    if PASS.with(Cell::get).is_null() {
        // Not in a pass (a kernel called on its own): a pass of its own, so that every split
        // goes through the board.
        return in_pool(move || split(out, unit, per_run, work));
    }
    split(out, unit, per_run, work)
}

/// [`for_each_rows`]'s split into runs of `per_run` rows, posted on this thread's pass's board.
fn split<T: Send>(
    out: &mut [T],
    unit: usize,
    per_run: usize,
    work: &(dyn Fn(usize, &mut [T]) + Sync),
) {
    let board = PASS.with(Cell::get);
    assert!(!board.is_null(), "a split outside a pass");
    // Runs as `chunks_mut` cuts them: the last takes what is left, a partial row included.
    let runs = out.len().div_ceil(per_run * unit);
    let (len, rows_out) = (out.len(), SharedSlice(out.as_mut_ptr()));
    let run = |i: usize| {
        let start = i * per_run * unit;
        let end = len.min(start + per_run * unit);
        // SAFETY: run `i` covers rows `i * per_run..` and no other run's; each run is taken once
        // (Board::take), and `out` outlives the split (Board::split returns when all are done).
        let rows = unsafe { std::slice::from_raw_parts_mut(rows_out.at(start), end - start) };
        work(i * per_run, rows)
    };
    // SAFETY: the board is the one this thread's pass made, alive until the pass ends.
    unsafe { &*board }.split(runs, &run);
}

/// `out`'s pointer, shared by the runs of one split (each makes its own disjoint slice).
struct SharedSlice<T>(*mut T);
// SAFETY: runs reach disjoint rows only (see for_each_rows).
unsafe impl<T: Send> Sync for SharedSlice<T> {}
impl<T> SharedSlice<T> {
    fn at(&self, offset: usize) -> *mut T {
        // SAFETY: callers stay within the slice this pointer came from.
        unsafe { self.0.add(offset) }
    }
}

/// One run of a split: called with the run's index.
type Run<'a> = &'a (dyn Fn(usize) + Sync);

/// Where a pass posts its splits and the pool's other threads take runs of them.
struct Board {
    /// The posted split: its number (high 32 bits), its runs (bits 16–31) and the next run to
    /// take (bits 0–15), in one word so that taking a run is one compare-and-swap.
    ticket: AtomicU64,
    /// The split's [`Run`], behind a thin pointer; read only by a thread holding one of its runs.
    run: AtomicPtr<Run<'static>>,
    /// Runs of the posted split finished.
    done: AtomicUsize,
    /// The pass is still running: helpers keep spinning.
    open: AtomicBool,
}

impl Default for Board {
    fn default() -> Self {
        Board {
            ticket: AtomicU64::new(0),
            run: AtomicPtr::new(std::ptr::null_mut()),
            done: AtomicUsize::new(0),
            open: AtomicBool::new(true),
        }
    }
}

const RUNS_SHIFT: u32 = 16;
const FIELD: u64 = (1 << RUNS_SHIFT) - 1;

impl Board {
    /// Posts `runs` runs of `run`, takes runs itself until none is left, and returns once every
    /// run is done, whichever thread took it.
    fn split(&self, runs: usize, run: Run) {
        assert!(runs as u64 <= FIELD);
        let split = (self.ticket.load(Ordering::Relaxed) >> 32) + 1;
        // SAFETY: the pointer is read only by threads holding a run of this split, and this
        // function returns (ending `run`'s borrow) only when all of them are done.
        let erased: Run<'static> = unsafe { std::mem::transmute::<Run, Run<'static>>(run) };
        self.run
            .store(&erased as *const Run as *mut Run, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.ticket
            .store(split << 32 | (runs as u64) << RUNS_SHIFT, Ordering::Release);
        let _all_done = AllDone { board: self, runs };
        while let Some(i) = self.take() {
            let _done = RunDone(&self.done);
            run(i);
        }
    }

    /// The index of a run of the posted split that no thread has taken yet, now taken.
    fn take(&self) -> Option<usize> {
        let mut ticket = self.ticket.load(Ordering::Acquire);
        loop {
            let (runs, next) = (ticket >> RUNS_SHIFT & FIELD, ticket & FIELD);
            if next >= runs {
                return None;
            }
            match self.ticket.compare_exchange_weak(
                ticket,
                ticket + 1,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(next as usize),
                Err(now) => ticket = now,
            }
        }
    }

    /// A pool thread's loop while the pass is open: take any run posted, else spin. A thread that
    /// runs a pass itself (it waits in rayon on something, and rayon handed it this) returns at
    /// once: spinning there would wait on itself.
    fn help(&self) {
        if !PASS.with(Cell::get).is_null() {
            return;
        }
        while self.open.load(Ordering::Acquire) {
            match self.take() {
                Some(i) => {
                    // SAFETY: holding run `i` of the posted split, whose poster waits for it.
                    let run = unsafe { *self.run.load(Ordering::Relaxed) };
                    let _done = RunDone(&self.done);
                    run(i);
                }
                None => std::hint::spin_loop(),
            }
        }
    }
}

/// Counts a run done when dropped, also when the run panicked.
struct RunDone<'a>(&'a AtomicUsize);

impl Drop for RunDone<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

/// Waits, when dropped, until every run of the posted split is done: runs borrow the poster's
/// frame, so it may not return, nor unwind from a panicking run, while another thread runs one.
/// Runs nobody took by then are taken and skipped.
struct AllDone<'a> {
    board: &'a Board,
    runs: usize,
}

impl Drop for AllDone<'_> {
    fn drop(&mut self) {
        while self.board.take().is_some() {
            self.board.done.fetch_add(1, Ordering::Release);
        }
        while self.board.done.load(Ordering::Acquire) < self.runs {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// Each value gets its row's number plus one, from [`for_each_rows`] over `rows` rows of
    /// `unit` and a partial row of `partial`.
    fn numbered_rows(rows: usize, unit: usize, partial: usize, work: usize) -> Vec<u32> {
        let mut out = vec![0u32; rows * unit + partial];
        for_each_rows(&mut out, unit, work, |first, run| {
            for (i, row) in run.chunks_mut(unit).enumerate() {
                row.iter_mut().for_each(|v| *v += (first + i) as u32 + 1);
            }
        });
        out
    }

    const CASES: [(usize, usize, usize, usize); 7] = [
        (1, 5, 0, 1 << 20),
        (7, 3, 0, 1 << 20),
        (100, 1, 0, 1 << 20),
        (9, 2, 0, 1),
        (5, 3, 1, 1 << 20),
        (16, 4, 3, 1 << 20),
        (33, 7, 6, 1 << 20),
    ];

    fn check_cases() {
        for (rows, unit, partial, work) in CASES {
            let expected: Vec<u32> = (0..rows * unit + partial)
                .map(|i| (i / unit) as u32 + 1)
                .collect();
            assert_eq!(
                numbered_rows(rows, unit, partial, work),
                expected,
                "{rows} rows of {unit} and {partial}"
            );
        }
    }

    #[test]
    fn runs_cover_every_row_once() {
        check_cases();
    }

    /// The same inside a pass (the pool's threads spinning on its board), for pools of 2 to 4.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn runs_of_a_pass_cover_every_row_once() {
        for threads in 2..=4 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                in_pool(|| {
                    assert!(!PASS.with(Cell::get).is_null());
                    for _ in 0..50 {
                        check_cases();
                    }
                })
            });
        }
    }
}
