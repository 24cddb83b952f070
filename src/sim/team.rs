//! A two-thread team for the passes of a step loop: the calling thread and the pool's other
//! rayon worker, held in a spin loop for the whole loop, instead of a rayon hand-over per
//! pass.
//!
//! A pass over a few thousand particles lasts 10–60 µs, and rayon spends 1.3–2 µs of each
//! beyond the ideal split handing the work to its other worker and collecting it
//! (`docs/performance.md`); the 3945-particle NPT stage runs four such passes per step.
//! Inside [`run`], [`map_items`] hands its items out through one atomic word: this thread
//! takes them from the front, the helper from the back, so each runs a contiguous share (as
//! rayon's halving does: neighbouring items touch the same particles), and a pass costs a
//! few cache-line round trips. Results come back in item order, so sums keep their order
//! and their bits. Rayon's parallel iterators still work inside [`run`] (list builds,
//! fixes): the helper steals their jobs between passes. Outside [`run`], or in a pool of
//! other than two threads, [`map_items`] is rayon's `map_init`.
//!
//! Teams form only inside [`allow`], which a caller grants where its simulation is the
//! pool's only work: `etwin` for every command but `fit`, a sweep for each case in its own
//! pool (not the viewer, where a paused run would leave a core spinning). Two simulations
//! as jobs of one pool (a swarm's members evaluated in parallel) must not lead teams: a
//! worker waiting inside one's job could take the other's helper and spin while that one
//! waits on the job beneath it.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

/// Items per pass, at most (a 16-bit field of [`Shared::word`]); beyond, rayon's path.
const MAX_ITEMS: usize = u16::MAX as usize;

/// Idle spins of the helper between looks for a pending rayon job.
const SPINS_PER_STEAL: u32 = 16;

/// Idle spins after which the helper also yields its core at every turn: the leader is in
/// a long serial stretch (output, a stability check), where other threads may want it.
const SPINS_BEFORE_YIELDING: u32 = 1 << 12;

/// What the two threads share: the current job and what is left of it.
struct Shared {
    /// epoch << 32 | front << 16 | back: the items front..back are still to take.
    word: AtomicU64,
    /// The current job, a `*const Job` (a thin pointer to the leader's fat one); valid
    /// while its epoch has items left or taken and unfinished.
    job: AtomicPtr<()>,
    /// Items of the current job finished.
    done: AtomicUsize,
    /// The first panic of an item of the current job, resumed by the leader once every
    /// item has finished (the job lives on its stack until then).
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
    stop: AtomicBool,
}

/// `f(item, worker)`: worker 0 is the leader, 1 the helper.
type Job<'a> = &'a (dyn Fn(usize, usize) + Sync);

thread_local! {
    /// The team this thread leads, while inside [`run`] and not running a job's item.
    static LEADING: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
    /// Whether [`run`] may form a team on this thread (inside [`allow`]).
    static ALLOWED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with teams allowed on this thread: for a caller whose simulations are, one at a
/// time, the only work of the pool it runs in (module doc).
pub fn allow<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ALLOWED.with(|a| a.set(self.0));
        }
    }
    let _restore = Restore(ALLOWED.with(|a| a.replace(true)));
    f()
}

/// Runs `body` leading a team of two where teams are allowed ([`allow`]) and the pool has
/// exactly two threads (elsewhere, or inside another team, it just runs `body`): there
/// [`map_items`] on this thread shares its items with the pool's other worker, which spins
/// between passes.
pub fn run<R>(body: impl FnOnce() -> R) -> R {
    if !ALLOWED.with(|a| a.get()) || rayon::current_num_threads() != 2 || !leading().is_null() {
        return body();
    }
    let shared = Shared {
        word: AtomicU64::new(0),
        job: AtomicPtr::new(std::ptr::null_mut()),
        done: AtomicUsize::new(0),
        panic: Mutex::new(None),
        stop: AtomicBool::new(false),
    };
    /// Stops the helper however `body` ends (a panic included), so the scope can close.
    struct Lead<'a>(&'a Shared);
    impl Drop for Lead<'_> {
        fn drop(&mut self) {
            LEADING.with(|l| l.set(std::ptr::null()));
            self.0.stop.store(true, Ordering::Release);
        }
    }
    rayon::in_place_scope(|scope| {
        // Taken by the other worker (rayon wakes it); if it never is, this thread runs it
        // when the scope closes, after `stop`, and it returns at once.
        scope.spawn(|_| help(&shared));
        let _lead = Lead(&shared);
        LEADING.with(|l| l.set(&shared));
        body()
    })
}

fn leading() -> *const Shared {
    LEADING.with(|l| l.get())
}

/// The helper: takes items of each new job until told to stop, stealing rayon's jobs in
/// between.
fn help(shared: &Shared) {
    let mut idle = 0u32;
    while !shared.stop.load(Ordering::Acquire) {
        if take_items(shared, 1) {
            idle = 0;
            continue;
        }
        idle = idle.saturating_add(1);
        if idle.is_multiple_of(SPINS_PER_STEAL) && rayon::yield_now() == Some(rayon::Yield::Executed) {
            idle = 0;
        } else if idle >= SPINS_BEFORE_YIELDING {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Takes and runs items of the current job until none are left; true if any ran.
fn take_items(shared: &Shared, worker: usize) -> bool {
    let mut ran = false;
    loop {
        let w = shared.word.load(Ordering::Acquire);
        let (front, back) = ((w >> 16) & 0xffff, w & 0xffff);
        if front >= back {
            return ran;
        }
        // Read before claiming: the leader replaces the job only once all of its items are
        // finished, so if the claim below succeeds, this is the claimed item's job.
        let job = shared.job.load(Ordering::Acquire) as *const Job;
        let (item, claimed) = match worker {
            0 => (front, w + (1 << 16)),
            _ => (back - 1, w - 1),
        };
        if shared
            .word
            .compare_exchange_weak(w, claimed, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            continue;
        }
        // SAFETY: the claim succeeded, so the job stored before `w` was published is still
        // the current one, and the leader keeps it alive until `done` counts this item.
        let ran_item = std::panic::catch_unwind(AssertUnwindSafe(|| unsafe { (*job)(item as usize, worker) }));
        if let Err(payload) = ran_item {
            shared
                .panic
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(payload);
        }
        shared.done.fetch_add(1, Ordering::Release);
        ran = true;
    }
}

/// `f(item, worker)` for every item in 0..n: shared with the helper if this thread leads a
/// team (worker 0: this thread, 1: the helper), else on rayon's workers (worker 0).
fn for_each(n: usize, f: &(dyn Fn(usize, usize) + Sync)) {
    let lead = leading();
    if lead.is_null() || n > MAX_ITEMS {
        // Items that call back in here take rayon's path too.
        LEADING.with(|l| l.set(std::ptr::null()));
        (0..n).into_par_iter().for_each(|i| f(i, 0));
        LEADING.with(|l| l.set(lead));
        return;
    }
    // SAFETY: `run` set it for the duration of its body, on this thread, which is inside.
    let shared = unsafe { &*lead };
    let job: Job = f;
    shared.done.store(0, Ordering::Relaxed);
    shared.job.store(&job as *const Job as *mut (), Ordering::Release);
    let epoch = (shared.word.load(Ordering::Relaxed) >> 32) + 1;
    // An item that calls back in here takes rayon's path, not this job's word.
    LEADING.with(|l| l.set(std::ptr::null()));
    shared.word.store(epoch << 32 | n as u64, Ordering::Release);
    take_items(shared, 0);
    while shared.done.load(Ordering::Acquire) < n {
        std::hint::spin_loop();
    }
    LEADING.with(|l| l.set(lead));
    if let Some(payload) = shared.panic.lock().unwrap_or_else(|e| e.into_inner()).take() {
        std::panic::resume_unwind(payload);
    }
}

/// `f(state, item)` for each of `items`, in parallel, the results in item order; `init`
/// makes a state for each thread that takes items (as rayon's `map_init`, whose path this
/// is outside a team).
pub fn map_items<T: Send, S: Send, R: Send>(
    items: Vec<T>,
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, T) -> R + Sync + Send,
) -> Vec<R> {
    if leading().is_null() {
        return items.into_par_iter().map_init(init, f).collect();
    }
    let slots: Vec<Mutex<(Option<T>, Option<R>)>> = items.into_iter().map(|t| Mutex::new((Some(t), None))).collect();
    let states = [Mutex::new(None), Mutex::new(None)];
    for_each(slots.len(), &|i, worker| {
        let mut state = states[worker].lock().unwrap();
        let mut slot = slots[i].lock().unwrap();
        let item = slot.0.take().expect("each item is taken once");
        slot.1 = Some(f(state.get_or_insert_with(&init), item));
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().unwrap().1.expect("every item ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
    }

    /// `body` leading a team where one may form, in a pool of `threads`.
    fn in_team<R: Send>(threads: usize, body: impl FnOnce() -> R + Send) -> R {
        pool(threads).install(|| allow(|| run(body)))
    }

    /// Busy work of a few microseconds, so that both threads get items.
    fn work(i: usize) -> u64 {
        (0..2000u64).fold(i as u64, |a, k| a.wrapping_mul(6364136223846793005).wrapping_add(k))
    }

    /// Every item runs once, results in item order, on both threads of a team (each
    /// thread's state stays its own); the same results outside a team and on 1 or 3
    /// threads, where no team forms; none without `allow`.
    #[test]
    fn a_team_runs_every_item_once_and_returns_them_in_order() {
        let want: Vec<u64> = (0..37).map(work).collect();
        let got = in_team(2, || {
            assert!(!leading().is_null(), "a pool of two leads a team");
            (0..300)
                .map(|_| {
                    map_items((0..37).collect(), rayon::current_thread_index, |me, i| {
                        assert_eq!(*me, rayon::current_thread_index(), "a state stays on its thread");
                        work(i)
                    })
                })
                .collect::<Vec<_>>()
        });
        assert!(got.iter().all(|g| g == &want));
        // The helper joins once the pool's other thread gets a core: within some jobs, even
        // with other tests running.
        let by_helper = AtomicUsize::new(0);
        let jobs = in_team(2, || {
            let mut jobs = 0;
            while jobs < 300 || (by_helper.load(Ordering::Relaxed) == 0 && jobs < 100_000) {
                for_each(37, &|i, worker| {
                    std::hint::black_box(work(i));
                    if worker == 1 {
                        by_helper.fetch_add(1, Ordering::Relaxed);
                    }
                });
                jobs += 1;
            }
            jobs
        });
        let helped = by_helper.load(Ordering::Relaxed);
        assert!(
            helped > 0 && helped < jobs * 37,
            "the helper took {helped} of {} items",
            jobs * 37
        );
        for threads in [1, 2, 3] {
            assert_eq!(
                pool(threads).install(|| map_items((0..37).collect(), || (), |_, i| work(i))),
                want
            );
            assert_eq!(
                in_team(threads, || !leading().is_null()),
                threads == 2,
                "{threads} threads"
            );
        }
        assert!(
            pool(2).install(|| run(|| leading().is_null())),
            "no team unless allowed"
        );
    }

    /// Rayon's iterators inside a team (the helper steals their jobs), more items than the
    /// word holds, a pass inside an item, and panics in either thread's items, which reach
    /// the leader and leave the pool usable.
    #[test]
    fn a_team_serves_rayon_nested_passes_and_panics() {
        let (sum, many, nested) = in_team(2, || {
            let sum: u64 = (0..10_000u64).into_par_iter().map(|k| k * k).sum();
            let many = map_items((0..MAX_ITEMS + 5).collect(), || (), |_, i| i);
            let nested = map_items(
                (0..4).collect(),
                || (),
                |_, i| map_items(vec![i, i + 1], || (), |_, k| k * 2),
            );
            (sum, many, nested)
        });
        assert_eq!(sum, (0..10_000u64).map(|k| k * k).sum::<u64>());
        assert!(many.iter().enumerate().all(|(i, &v)| i == v));
        assert_eq!(nested, [[0, 2], [2, 4], [4, 6], [6, 8]]);
        let p = pool(2);
        let caught = std::panic::catch_unwind(AssertUnwindSafe(|| {
            p.install(|| {
                allow(|| {
                    run(|| {
                        map_items(
                            (0..8).collect(),
                            || (),
                            |_, i| if i == 5 { panic!("item 5") } else { i },
                        )
                    })
                })
            })
        }));
        assert!(caught.is_err());
        let on_helper = p.install(|| {
            allow(|| {
                run(|| {
                    (0..100_000).any(|_| {
                        std::panic::catch_unwind(|| {
                            for_each(8, &|i, worker| {
                                std::hint::black_box(work(i));
                                assert!(worker == 0, "the helper's item");
                            })
                        })
                        .is_err()
                    })
                })
            })
        });
        assert!(on_helper, "a panic in the helper's item reaches the leader");
        let again = p.install(|| allow(|| run(|| map_items((0..8).collect(), || (), |_, i| i + 1))));
        assert_eq!(again, (1..9).collect::<Vec<_>>());
    }
}
