//! The run-queue clock: how long this thread waited for a CPU, read from the kernel's
//! schedstat, so that timings can leave out contention from other work on the machine.

/// Nanoseconds the calling thread has spent waiting on a run queue. Only this thread: the
/// timed work runs on it (regress sets one worker thread), and idle pool threads that yield
/// accumulate run-queue time of their own that is no delay of the work.
pub(super) fn runqueue_wait_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Whether the run-queue clock is available here (else timings are plain wall-clock).
pub fn contention_clock_available() -> bool {
    runqueue_wait_ns().is_some()
}
