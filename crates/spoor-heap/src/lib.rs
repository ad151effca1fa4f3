//! A sampling heap profiler for Spoor's `/debug/pprof/heap`.
//!
//! [`Sampled`] wraps the process's allocator (mimalloc in the binary). Once [`enable`] was
//! called, it records one allocation per ~512 KiB allocated on each thread (the distance to the
//! next sample is drawn from an exponential distribution, as Go's and tcmalloc's profilers do, so
//! every byte has the same chance to be sampled): the allocation's backtrace, its size and its
//! weight, `1 / (1 - exp(-size / rate))`, the number of allocations it stands for. When a sampled
//! allocation is freed it leaves the in-use figures and stays in the allocated totals.
//! [`snapshot`] returns the figures per backtrace; the pprof extension symbolizes them and writes
//! pprof's heap profile (`alloc_objects`, `alloc_space`, `inuse_objects`, `inuse_space`).
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: spoor_heap::Sampled<std::alloc::System> = spoor_heap::Sampled::new(std::alloc::System);
//! ```
//!
//! Cost: before [`enable`], an allocation or a free pays one relaxed atomic load more. Once
//! enabled, an allocation decrements a thread-local counter and a free checks one slot of a
//! 64 Ki-entry counting filter; only sampled allocations (and the frees that hit their slot)
//! take the profiler's lock and walk the stack. Measured (`benches/alloc.rs`, loaded 2-core
//! machine): a 64-byte allocation and free costs about 1 ns more than mimalloc's 7–10 ns while
//! off, and 4–7 ns more while sampling.
//!
//! The allocator path never waits for the profiler's lock (a thread once deadlocked on it: a
//! refused nested `Busy` cleared the flag, so an allocation inside `snapshot` or `record` was
//! sampled and waited for the lock its own thread held): it tries a bounded
//! number of times; a sample that still finds it taken is skipped ([`dropped_samples`]) and a
//! free is queued in a fixed lock-free array that the next holder applies ([`missed_frees`]
//! counts those lost when it is full).
//!
//! It is not a leak checker: allocations made while the profiler itself runs on a thread are
//! not sampled, and a sample freed during such a moment stays counted as in use.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

/// The mean number of bytes allocated between two samples, as Go's `MemProfileRate`.
pub const DEFAULT_SAMPLE_BYTES: u64 = 512 * 1024;

/// Frames recorded per sample (the innermost ones).
const MAX_FRAMES: usize = 64;
/// Slots of the counting filter that frees consult.
const FILTER_SLOTS: usize = 1 << 16;

static ENABLED: AtomicBool = AtomicBool::new(false);
static RATE: AtomicU64 = AtomicU64::new(DEFAULT_SAMPLE_BYTES);
/// Sampled allocations not yet freed; frees skip the filter while it is 0.
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Samples ever taken.
static TAKEN: AtomicU64 = AtomicU64::new(0);
static FILTER: [AtomicU32; FILTER_SLOTS] = [const { AtomicU32::new(0) }; FILTER_SLOTS];
static STATE: Mutex<Option<State>> = Mutex::new(None);
/// Attempts to take [`STATE`] on the allocator path before giving up (spins, then yields).
const LOCK_TRIES: u32 = 256;
const LOCK_SPINS: u32 = 64;
/// Frees of sampled allocations that found [`STATE`] taken, for its next holder (0: empty).
static PENDING_FREES: [AtomicUsize; 1024] = [const { AtomicUsize::new(0) }; 1024];
/// Entries in [`PENDING_FREES`].
static PENDING: AtomicUsize = AtomicUsize::new(0);
/// Samples skipped because [`STATE`] stayed taken.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Frees lost because [`PENDING_FREES`] was full.
static MISSED_FREES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Bytes left until this thread's next sample; 0 before its first draw.
    static LEFT: Cell<i64> = const { Cell::new(0) };
    /// Set while this thread runs profiler code: its own allocations pass straight through.
    static BUSY: Cell<bool> = const { Cell::new(false) };
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// A global allocator that samples allocations of `A` for heap profiles.
pub struct Sampled<A> {
    inner: A,
}

impl<A> Sampled<A> {
    /// Wraps `inner`; nothing is sampled until [`enable`] is called.
    pub const fn new(inner: A) -> Self {
        Self { inner }
    }
}

#[allow(unsafe_code)]
// SAFETY: every call is forwarded to `inner` with its own arguments; the bookkeeping around it
// never touches the memory handed out.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Sampled<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { self.inner.alloc(layout) };
        if ENABLED.load(Ordering::Relaxed) && !ptr.is_null() {
            on_alloc(ptr as usize, layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        if ENABLED.load(Ordering::Relaxed) && !ptr.is_null() {
            on_alloc(ptr as usize, layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Before the memory is given back: afterwards another thread may get the same address.
        if LIVE.load(Ordering::Relaxed) != 0 {
            on_free(ptr as usize);
        }
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { self.inner.dealloc(ptr, layout) }
        give_back_after_large_free(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if LIVE.load(Ordering::Relaxed) != 0 {
            on_free(ptr as usize);
        }
        // SAFETY: forwarded with the caller's arguments.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if new != ptr {
            give_back_after_large_free(layout.size());
        }
        if ENABLED.load(Ordering::Relaxed) && !new.is_null() {
            on_alloc(new as usize, new_size);
        }
        new
    }
}

/// Starts sampling one allocation per `sample_bytes` (on average) and returns whether the
/// allocator of this process is a [`Sampled`] one (else there will never be samples).
pub fn enable(sample_bytes: u64) -> bool {
    RATE.store(sample_bytes.max(1), Ordering::Relaxed);
    ENABLED.store(true, Ordering::Relaxed);
    // Probe: the next allocation on this thread is sampled if it goes through `Sampled`.
    let before = TAKEN.load(Ordering::Relaxed);
    let _ = LEFT.try_with(|left| left.set(1));
    let probe = std::hint::black_box(Box::new([0u8; 64]));
    let installed = TAKEN.load(Ordering::Relaxed) != before;
    drop(probe);
    installed
}

/// Whether [`enable`] was called.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The mean bytes between samples.
pub fn sample_bytes() -> u64 {
    RATE.load(Ordering::Relaxed)
}

/// What one backtrace allocated: estimated counts and bytes (each sample weighted by how many
/// allocations it stands for).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Site {
    /// Instruction pointers, innermost first (return addresses, as captured).
    pub frames: Vec<usize>,
    /// Allocations since profiling began.
    pub alloc_objects: f64,
    /// Bytes allocated since profiling began.
    pub alloc_bytes: f64,
    /// Allocations not yet freed.
    pub inuse_objects: f64,
    /// Bytes not yet freed.
    pub inuse_bytes: f64,
}

/// The figures per backtrace so far.
pub fn snapshot() -> Vec<Site> {
    let Some(_busy) = Busy::enter() else {
        return Vec::new();
    };
    // Outside the allocator path a reader may wait: the holders never block while holding it.
    let mut guard = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(state) = guard.as_mut() else {
        return Vec::new();
    };
    drain_pending_frees(state);
    state.sites.clone()
}

/// Samples skipped because the profiler's lock stayed taken (see [`record`]).
pub fn dropped_samples() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Frees of sampled allocations that could neither take the lock nor be queued (their
/// allocations stay counted as in use).
pub fn missed_frees() -> u64 {
    MISSED_FREES.load(Ordering::Relaxed)
}

#[derive(Default)]
struct State {
    sites: Vec<Site>,
    by_frames: HashMap<Vec<usize>, usize>,
    /// Live sampled allocations: address → (site, objects, bytes).
    live: HashMap<usize, (usize, f64, f64)>,
}

/// Marks this thread as running profiler code until dropped; `None` when it already is.
struct Busy;

impl Busy {
    fn enter() -> Option<Busy> {
        let entered = BUSY.try_with(|b| !b.replace(true)).unwrap_or(false);
        // Not `entered.then_some(Busy)`: that builds a `Busy` either way, and dropping the unused
        // one clears the flag of the outer section. The next sampled allocation in that section
        // then took the lock it already held: the deadlock this crate once had.
        if entered { Some(Busy) } else { None }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let _ = BUSY.try_with(|b| b.set(false));
    }
}

fn slot(ptr: usize) -> &'static AtomicU32 {
    // Fibonacci hashing of the address (allocations are aligned: the low bits carry little).
    let h = (ptr as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48;
    &FILTER[h as usize % FILTER_SLOTS]
}

fn on_alloc(ptr: usize, size: usize) {
    let size = size as i64;
    let due = LEFT
        .try_with(|left| {
            let now = left.get();
            if now == 0 {
                // The first allocation on this thread starts its countdown.
                left.set(next_interval().max(1));
                return false;
            }
            if now > size {
                left.set(now - size);
                return false;
            }
            left.set(next_interval().max(1));
            true
        })
        .unwrap_or(false);
    if due {
        record(ptr, size as u64);
    }
}

fn record(ptr: usize, size: u64) {
    let Some(_busy) = Busy::enter() else { return };
    let mut frames = [0usize; MAX_FRAMES];
    let mut n = 0;
    // SAFETY (of the callee's contract): no other thread is unwinding through this walk's state;
    // `trace_unsynchronized` only reads this thread's stack.
    #[allow(unsafe_code)]
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            frames[n] = frame.ip() as usize;
            n += 1;
            n < MAX_FRAMES
        });
    }
    let rate = RATE.load(Ordering::Relaxed) as f64;
    let weight = 1.0 / (1.0 - (-(size as f64) / rate).exp());
    let objects = weight;
    let bytes = weight * size as f64;
    let Some(mut guard) = lock_without_blocking() else {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let state = guard.get_or_insert_with(State::default);
    // Frees queued before this allocation's address was handed out again go first.
    drain_pending_frees(state);
    let key = frames[..n].to_vec();
    let site = match state.by_frames.get(&key) {
        Some(&i) => i,
        None => {
            state.sites.push(Site {
                frames: key.clone(),
                ..Site::default()
            });
            state.by_frames.insert(key, state.sites.len() - 1);
            state.sites.len() - 1
        }
    };
    if let Some(s) = state.sites.get_mut(site) {
        s.alloc_objects += objects;
        s.alloc_bytes += bytes;
        s.inuse_objects += objects;
        s.inuse_bytes += bytes;
    }
    if let Some((old, o, b)) = state.live.insert(ptr, (site, objects, bytes)) {
        // The address was freed while this thread was busy: that free was missed.
        release(&mut state.sites, old, o, b);
    } else {
        slot(ptr).fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(1, Ordering::Relaxed);
    }
    TAKEN.fetch_add(1, Ordering::Relaxed);
}

fn on_free(ptr: usize) {
    if slot(ptr).load(Ordering::Relaxed) == 0 {
        return;
    }
    let Some(_busy) = Busy::enter() else { return };
    let Some(mut guard) = lock_without_blocking() else {
        defer_free(ptr);
        return;
    };
    let Some(state) = guard.as_mut() else { return };
    drain_pending_frees(state);
    free_sampled(state, ptr);
}

fn free_sampled(state: &mut State, ptr: usize) {
    if let Some((site, objects, bytes)) = state.live.remove(&ptr) {
        release(&mut state.sites, site, objects, bytes);
        slot(ptr).fetch_sub(1, Ordering::Relaxed);
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The profiler's lock, or `None` when it stays taken for [`LOCK_TRIES`] attempts.
///
/// The allocator path never waits for the lock: the thread holding it may be this very thread
/// (a signal handler, or any re-entry the [`Busy`] guard does not see, allocating or freeing
/// while the interrupted code holds it) or one that is itself waiting for a lock this thread
/// holds (the dynamic loader's, `backtrace`'s), and waiting would then hang the process.
fn lock_without_blocking() -> Option<MutexGuard<'static, Option<State>>> {
    for attempt in 0..LOCK_TRIES {
        match STATE.try_lock() {
            Ok(guard) => return Some(guard),
            Err(TryLockError::Poisoned(e)) => return Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => {
                if attempt < LOCK_SPINS {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
    None
}

/// Queues the free of `ptr` for the next holder of the lock (no allocation, no lock).
fn defer_free(ptr: usize) {
    for cell in &PENDING_FREES {
        if cell
            .compare_exchange(0, ptr, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            PENDING.fetch_add(1, Ordering::Release);
            return;
        }
    }
    MISSED_FREES.fetch_add(1, Ordering::Relaxed);
}

/// Applies the queued frees; called with the lock held.
fn drain_pending_frees(state: &mut State) {
    if PENDING.load(Ordering::Acquire) == 0 {
        return;
    }
    for cell in &PENDING_FREES {
        let ptr = cell.swap(0, Ordering::AcqRel);
        if ptr != 0 {
            PENDING.fetch_sub(1, Ordering::AcqRel);
            free_sampled(state, ptr);
        }
    }
}

fn release(sites: &mut [Site], site: usize, objects: f64, bytes: f64) {
    if let Some(s) = sites.get_mut(site) {
        s.inuse_objects = (s.inuse_objects - objects).max(0.0);
        s.inuse_bytes = (s.inuse_bytes - bytes).max(0.0);
    }
}

/// An exponentially distributed number of bytes with mean [`sample_bytes`].
fn next_interval() -> i64 {
    let x = RNG
        .try_with(|r| {
            let mut x = r.get();
            if x == 0 {
                // Seeded from the thread-local's address and the clock-free counter of samples.
                x = (r as *const Cell<u64> as u64)
                    ^ 0x2545_F491_4F6C_DD1D
                    ^ TAKEN.load(Ordering::Relaxed);
            }
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            r.set(x);
            x
        })
        .unwrap_or(0x9E37_79B9);
    // A uniform in (0, 1] from the top 53 bits.
    let u = ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let mean = RATE.load(Ordering::Relaxed) as f64;
    (-u.ln() * mean) as i64
}

/// One source frame of an instruction pointer (inlined calls give several, innermost first).
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The demangled function name, without the hash suffix.
    pub function: String,
    /// The source file, when the binary has line tables.
    pub file: String,
    /// The line, or 0.
    pub line: u32,
}

/// The source frames of a captured instruction pointer.
pub fn resolve(ip: usize) -> Vec<Frame> {
    let mut out = Vec::new();
    // A captured frame holds a return address: the call is the instruction before it.
    let addr = ip.saturating_sub(1) as *mut std::ffi::c_void;
    backtrace::resolve(addr, |symbol| {
        out.push(Frame {
            function: symbol
                .name()
                .map(|n| format!("{n:#}"))
                .unwrap_or_else(|| format!("{ip:#x}")),
            file: symbol
                .filename()
                .map(|f| f.display().to_string())
                .unwrap_or_default(),
            line: symbol.lineno().unwrap_or(0),
        });
    });
    if out.is_empty() {
        out.push(Frame {
            function: format!("{ip:#x}"),
            file: String::new(),
            line: 0,
        });
    }
    out
}

/// Whether a frame belongs to the profiler itself (left out of profiles).
pub fn is_profiler_frame(frame: &Frame) -> bool {
    frame.function.contains("spoor_heap::") || frame.function.starts_with("backtrace::")
}

/// Collects the calling thread's mimalloc heap (`mi_collect(false)`): its empty pages go back
/// to the allocator's arenas, and arena memory whose purge delay has passed goes back to the
/// OS (that part is process-wide). Pages freed by other threads become free only when the
/// thread that owns them collects, so each worker thread calls this itself (when it parks).
#[cfg(feature = "mimalloc")]
pub fn collect_thread_heap() {
    mimalloc_collect(false);
}

/// Frees of at least this many bytes give the allocator's delayed memory back at once.
pub const LARGE_FREE_BYTES: usize = 4 << 20;

/// After a free of [`LARGE_FREE_BYTES`] or more, purges the memory mimalloc keeps for its purge
/// delay now (`mi_collect(true)`: the calling thread's heap, and the arenas process-wide).
/// The delay pays for small pages a next request reuses at once; a large block is rare and
/// seldom refilled within the delay, and a burst of them (request bodies growing by
/// doubling, a block's buffer) would otherwise stay resident together.
#[inline]
fn give_back_after_large_free(size: usize) {
    #[cfg(feature = "mimalloc")]
    if size >= LARGE_FREE_BYTES {
        mimalloc_collect(true);
    }
    #[cfg(not(feature = "mimalloc"))]
    let _ = size;
}

#[cfg(feature = "mimalloc")]
fn mimalloc_collect(force: bool) {
    use libmimalloc_sys as _;
    #[allow(unsafe_code)]
    unsafe extern "C" {
        fn mi_collect(force: bool);
    }
    // SAFETY: `mi_collect` takes no pointers, allocates nothing through Rust, and may be
    // called on any thread at any time (here after a free has completed).
    #[allow(unsafe_code)]
    unsafe {
        mi_collect(force)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy() -> bool {
        BUSY.try_with(Cell::get).unwrap_or(false)
    }

    #[test]
    fn a_refused_nested_enter_keeps_the_outer_section_busy() {
        let outer = Busy::enter();
        assert!(outer.is_some() && busy());
        assert!(Busy::enter().is_none(), "re-entry is refused");
        assert!(
            busy(),
            "the refused enter did not clear the outer section's flag"
        );
        assert!(Busy::enter().is_none(), "still refused");
        drop(outer);
        assert!(!busy());
        assert!(Busy::enter().is_some(), "free again once the section ended");
    }
}
