//! Many threads allocate and free through the sampler while others take snapshots and resolve
//! frames: the allocator path never waits for the profiler's lock, so this always finishes. A
//! watchdog fails the test (instead of hanging the suite) if it does not within its time.

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: spoor_heap::Sampled<std::alloc::System> =
    spoor_heap::Sampled::new(std::alloc::System);

const WATCHDOG: Duration = Duration::from_secs(120);

#[inline(never)]
fn churn(round: usize) -> usize {
    // Mixed sizes, some kept across iterations so frees hit sampled addresses of older rounds.
    let mut kept: Vec<Vec<u8>> = Vec::new();
    let mut sum = 0;
    for i in 0..2_000 {
        let v = black_box(vec![(i % 251) as u8; 64 + (i * 37 + round) % 8192]);
        sum += v.len();
        if i % 3 == 0 {
            kept.push(v);
        }
        if kept.len() > 64 {
            kept.swap_remove((i + round) % kept.len());
        }
    }
    sum
}

#[test]
fn alloc_free_snapshot_and_resolve_from_many_threads_never_deadlock() {
    // Sample often (every ~4 KiB) so the lock is contended all the time.
    assert!(
        spoor_heap::enable(4 * 1024),
        "the sampler is this binary's allocator"
    );
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while !done.load(Ordering::Relaxed) {
                if start.elapsed() > WATCHDOG {
                    // A hung test would block the whole suite: fail the process instead. No
                    // formatting: an allocation here could wait on the very lock that hangs.
                    let _ = std::io::stderr()
                        .write_all(b"deadlock: the workers did not finish within 120 s\n");
                    std::process::abort();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..6)
        .map(|t| {
            std::thread::spawn(move || {
                let mut total = 0;
                for round in 0..150 {
                    total += churn(round * 7 + t);
                }
                total
            })
        })
        .collect();
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut snapshots = 0u64;
                let mut resolved = 0usize;
                while !stop.load(Ordering::Relaxed) || snapshots < 5 {
                    let sites = spoor_heap::snapshot();
                    snapshots += 1;
                    // Resolving allocates (and frees) a lot, from inside `backtrace`'s lock.
                    for site in sites.iter().skip(r).step_by(3).take(20) {
                        for &ip in site.frames.iter().take(8) {
                            resolved += spoor_heap::resolve(ip).len();
                        }
                    }
                }
                (snapshots, resolved)
            })
        })
        .collect();
    for w in workers {
        assert!(w.join().is_ok_and(|n| n > 0), "a worker failed");
    }
    stop.store(true, Ordering::Relaxed);
    let mut resolved = 0;
    for r in readers {
        let joined = r.join();
        assert!(joined.is_ok(), "a reader failed");
        if let Ok((snapshots, n)) = joined {
            assert!(snapshots >= 5);
            resolved += n;
        }
    }
    done.store(true, Ordering::Relaxed);
    assert!(watchdog.join().is_ok());
    assert!(resolved > 0, "frames were resolved");
    // Everything the workers kept is freed: the queued frees reached the figures.
    let sites = spoor_heap::snapshot();
    let inuse: f64 = sites
        .iter()
        .filter(|s| {
            s.frames
                .iter()
                .flat_map(|ip| spoor_heap::resolve(*ip))
                .any(|f| f.function.contains("churn"))
        })
        .map(|s| s.inuse_bytes)
        .sum();
    let allocated: f64 = sites.iter().map(|s| s.alloc_bytes).sum();
    assert!(allocated > 0.0, "samples were taken");
    assert!(
        inuse < allocated * 0.01,
        "freed memory still counted in use: {inuse} of {allocated}"
    );
    eprintln!(
        "dropped samples {}, missed frees {}",
        spoor_heap::dropped_samples(),
        spoor_heap::missed_frees()
    );
}
