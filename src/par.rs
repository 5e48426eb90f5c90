//! Independent work spread over the machine's cores: a fleet's trusts (`run::check_many`), one trust's
//! deployments as they render (`render`) and expand (`check`).
//!
//! Work that is already running on one of [`map`]'s workers, or inside [`inline`], runs on the calling
//! thread: a fleet checking its trusts in parallel does not spawn again for each trust's deployments, so the
//! cores are never oversubscribed. (rayon was measured here and lost: its idle workers' wake-ups cost more
//! than one trust's few milliseconds of rendering gain; README, Performance.)

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

thread_local! {
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` with this thread marked as already parallel: [`map`] calls inside it run one item after another.
/// For callers that parallelise at a coarser grain on threads of their own (the fleet's async tasks).
pub fn inline<R>(f: impl FnOnce() -> R) -> R {
    /// Puts the mark back as it was, on a panic too.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            INSIDE.with(|i| i.set(self.0));
        }
    }
    let _restore = Restore(INSIDE.with(|i| i.replace(true)));
    f()
}

/// `items.iter().map(f).collect()`, over at most as many threads as the machine has cores (the calling thread
/// is one of them). Workers take the next item as they finish, the costliest first by `cost` (an estimate, in
/// any unit; equal costs keep their order), so one large item does not come last. Results keep the order of
/// `items`. A panic in `f` is passed on to the caller.
pub fn map<T: Sync, R: Send>(
    items: &[T],
    cost: impl Fn(&T) -> usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    map_over(items, cores, cost, f)
}

/// [`map`] over at most `workers` threads.
fn map_over<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    cost: impl Fn(&T) -> usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let workers = workers.min(items.len());
    if workers <= 1 || INSIDE.with(Cell::get) {
        return items.iter().map(f).collect();
    }
    let mut queue: Vec<usize> = (0..items.len()).collect();
    queue.sort_by_key(|&i| std::cmp::Reverse(cost(&items[i])));
    let next = AtomicUsize::new(0);
    let work = || {
        inline(|| {
            let mut mine = Vec::new();
            while let Some(&i) = queue.get(next.fetch_add(1, Ordering::Relaxed)) {
                mine.push((i, f(&items[i])));
            }
            mine
        })
    };
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let others: Vec<_> = (1..workers).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in others {
            all.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        all
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_items_whatever_the_workers() {
        let items: Vec<u64> = (0..100).collect();
        for workers in [1, 2, 3, 8, 200] {
            let got = map_over(
                &items,
                workers,
                |n| (n % 5) as usize,
                |n| {
                    // Uneven work, so workers finish out of order.
                    std::thread::sleep(std::time::Duration::from_micros(n % 7 * 50));
                    n * n
                },
            );
            assert_eq!(got, items.iter().map(|n| n * n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn work_runs_on_several_threads_and_nested_calls_stay_on_their_worker() {
        let items: Vec<u32> = (0..8).collect();
        let seen = std::sync::Mutex::new(std::collections::HashSet::new());
        let first_two = FirstTwo::default();
        let nested = map_over(
            &items,
            2,
            |_| 0,
            |_| {
                first_two.meet();
                seen.lock().unwrap().insert(std::thread::current().id());
                let me = std::thread::current().id();
                // Inside a worker, a nested map runs on that same worker.
                map_over(&[1, 2, 3], 4, |_| 0, |_| std::thread::current().id() == me)
            },
        );
        assert!(nested.iter().flatten().all(|same| *same));
        assert_eq!(seen.lock().unwrap().len(), 2, "two workers took items");
        assert!(!INSIDE.with(Cell::get), "the caller is unmarked afterwards");
    }

    /// Holds each of the first two items until both have started (for up to 10 s): two workers must each have
    /// taken one, and neither takes a third before the other has its first. With one worker, the first item
    /// waits out the 10 s and the test's assertions fail.
    #[derive(Default)]
    struct FirstTwo {
        started: AtomicUsize,
    }

    impl FirstTwo {
        /// Returns the position in which this item started.
        fn meet(&self) -> usize {
            let n = self.started.fetch_add(1, Ordering::SeqCst);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while n < 2
                && self.started.load(Ordering::SeqCst) < 2
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            n
        }
    }

    #[test]
    fn the_costliest_items_are_taken_first() {
        let items = [1usize, 9, 3, 7];
        let first_two = FirstTwo::default();
        let started = std::sync::Mutex::new(Vec::new());
        let got = map_over(
            &items,
            2,
            |n| *n,
            |n| {
                if first_two.meet() < 2 {
                    started.lock().unwrap().push(*n);
                }
                *n
            },
        );
        assert_eq!(got, items, "results in the order of the items");
        // The two workers' first items are the two costliest, whichever worker took which.
        let mut first = started.into_inner().unwrap();
        first.sort_unstable();
        assert_eq!(first, vec![7, 9]);
    }

    #[test]
    fn inline_runs_a_map_on_the_calling_thread() {
        let me = std::thread::current().id();
        let same = inline(|| {
            map_over(
                &[1, 2, 3, 4],
                4,
                |_| 0,
                |_| std::thread::current().id() == me,
            )
        });
        assert_eq!(same, vec![true; 4]);
    }

    #[test]
    fn a_panic_in_the_work_reaches_the_caller() {
        let items: Vec<u32> = (0..10).collect();
        let caught = std::panic::catch_unwind(|| {
            map_over(
                &items,
                2,
                |_| 0,
                |n| {
                    assert!(*n != 7, "item seven fails");
                    *n
                },
            )
        });
        assert!(caught.is_err());
    }
}
