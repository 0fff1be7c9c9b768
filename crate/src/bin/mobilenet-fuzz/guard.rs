//! What `catch_unwind` cannot catch: a failed allocation aborts the process, and a hang never
//! returns. The allocator notes every allocation over [`HUGE_BYTES`] (none is legitimate here) and,
//! should one fail, saves the input being run before the process aborts; a watchdog thread saves
//! an input still running after [`HANG`] and ends the process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An allocation this large is a finding (the inputs are capped far below it).
pub const HUGE_BYTES: u64 = 4 << 30;
/// An execution running this long is saved as a hang and ends the run.
const HANG: Duration = Duration::from_secs(120);

pub struct Guard;

#[global_allocator]
static ALLOCATOR: Guard = Guard;

/// The largest allocation over [`HUGE_BYTES`] asked for during the current execution.
static HUGE: AtomicUsize = AtomicUsize::new(0);
/// When the current execution started (ms since the epoch), 0 between executions.
static STARTED: AtomicU64 = AtomicU64::new(0);

struct Current {
    dir: PathBuf,
    target: &'static str,
    input: *const u8,
    len: usize,
}

// SAFETY: the input is only read, and only while `begin` … `end` keeps it alive (under the lock).
unsafe impl Send for Current {}

static CURRENT: Mutex<Option<Current>> = Mutex::new(None);

fn huge(size: usize) -> bool {
    size as u64 > HUGE_BYTES
}

fn note(size: usize) {
    if huge(size) {
        HUGE.fetch_max(size, Ordering::Relaxed);
    }
}

fn failed(size: usize) -> ! {
    let saved = save_current("abort", &format!("allocation of {size} bytes failed"));
    eprintln!(
        "mobilenet-fuzz: allocation of {size} bytes failed, which ends the run (it cannot be \
         caught); input saved to {saved}"
    );
    std::process::abort()
}

unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        let p = System.alloc(layout);
        if p.is_null() && huge(layout.size()) {
            failed(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        let p = System.alloc_zeroed(layout);
        if p.is_null() && huge(layout.size()) {
            failed(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        let p = System.realloc(ptr, layout, new_size);
        if p.is_null() && huge(new_size) {
            failed(new_size);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

/// The calling thread's CPU time (on 64-bit Linux; `None` elsewhere).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
pub fn thread_time() -> Option<Duration> {
    #[repr(C)]
    struct Timespec {
        seconds: i64,
        nanoseconds: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut time = Timespec {
        seconds: 0,
        nanoseconds: 0,
    };
    // SAFETY: `clock_gettime` (the C library's, which std links) writes one `timespec`.
    let read = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut time) } == 0;
    read.then(|| Duration::new(time.seconds as u64, time.nanoseconds as u32))
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
pub fn thread_time() -> Option<Duration> {
    None
}

/// What executions are timed by.
pub fn clock() -> &'static str {
    match thread_time() {
        Some(_) => "CPU time",
        None => "wall time",
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Marks `input` as running on `target` (artifacts under `dir`) until [`end`].
pub fn begin(dir: &Path, target: &'static str, input: &[u8]) {
    let mut current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    match current.as_mut() {
        Some(c) if c.dir == dir => {
            c.target = target;
            c.input = input.as_ptr();
            c.len = input.len();
        }
        _ => {
            *current = Some(Current {
                dir: dir.to_path_buf(),
                target,
                input: input.as_ptr(),
                len: input.len(),
            })
        }
    }
    HUGE.store(0, Ordering::Relaxed);
    STARTED.store(now_ms(), Ordering::Relaxed);
}

/// Whether an execution is running (between [`begin`] and [`end`]).
pub fn running() -> bool {
    STARTED.load(Ordering::Relaxed) != 0
}

/// Ends the execution [`begin`] marked; the largest huge allocation it asked for, if any.
pub fn end() -> Option<usize> {
    STARTED.store(0, Ordering::Relaxed);
    if let Some(c) = CURRENT.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        c.len = 0;
    }
    Some(HUGE.swap(0, Ordering::Relaxed)).filter(|&n| n > 0)
}

/// Saves the running input as `kind` with `note`; its path, or why it could not be saved.
fn save_current(kind: &str, note: &str) -> String {
    let current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    match current.as_ref().filter(|c| c.len > 0) {
        // SAFETY: `begin` stored a live input; `end` (which clears it) waits for this lock.
        Some(c) => {
            let input = unsafe { std::slice::from_raw_parts(c.input, c.len) };
            match save(&c.dir, c.target, kind, input, note) {
                Ok(path) => path.display().to_string(),
                Err(e) => format!("(not saved: {e})"),
            }
        }
        None => "(no input was running)".into(),
    }
}

/// Starts the thread that ends a run stuck in one execution.
pub fn watchdog() {
    std::thread::spawn(|| loop {
        std::thread::sleep(Duration::from_secs(1));
        let started = STARTED.load(Ordering::Relaxed);
        if started != 0 && now_ms().saturating_sub(started) > HANG.as_millis() as u64 {
            let saved = save_current("hang", &format!("still running after {HANG:?}"));
            eprintln!("mobilenet-fuzz: an input ran for over {HANG:?}; saved to {saved}");
            std::process::exit(3);
        }
    });
}

/// FNV-1a: a reproducer's name.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01B3)
    })
}

/// Writes `input` to `dir/<target>/<kind>-<hash>.bin` and `note` beside it (`.txt`).
pub fn save(
    dir: &Path,
    target: &str,
    kind: &str,
    input: &[u8],
    note: &str,
) -> std::io::Result<PathBuf> {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{kind}-{:016x}.bin", hash(input)));
    std::fs::write(&path, input)?;
    let replay = format!(
        "target: {target}\nkind: {kind}\n{note}\nreplay: cargo run --profile test --bin mobilenet-fuzz -- --replay {}\n",
        path.display()
    );
    std::fs::write(path.with_extension("txt"), replay)?;
    Ok(path)
}
