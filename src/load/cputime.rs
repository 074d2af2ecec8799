//! The generator's own CPU time, for `gauntlet bench load`.
//!
//! The benchmark endpoint shares the process with the generator (its own threads, all named
//! [`ENDPOINT_THREAD`]), so the generator's time is the process's user+system time minus the
//! endpoint threads' time. Both come from Linux's `/proc` (proc(5): `/proc/self/stat` counts
//! every thread the process ever had, `/proc/self/task/<tid>/stat` one thread), in the same
//! clock ticks, so the subtraction is consistent. Elsewhere the measurement is unavailable.

use std::time::Duration;

/// Thread name of the benchmark endpoint's runtime (at most 15 bytes: Linux truncates).
pub(crate) const ENDPOINT_THREAD: &str = "bench-endpoint";

/// USER_HZ: the unit of the tick counts in `/proc/*/stat`; fixed at 100 by the Linux ABI
/// on every architecture Rust's std supports for Linux.
const TICKS_PER_SEC: u64 = 100;

/// A reading of CPU time used so far, in clock ticks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuReading {
    process: u64,
    endpoint: u64,
}

impl CpuReading {
    /// Reads the process's and the endpoint threads' CPU time; the error says why not.
    pub(crate) fn now() -> Result<CpuReading, String> {
        let stat = std::fs::read_to_string("/proc/self/stat")
            .map_err(|e| format!("cannot read /proc/self/stat: {e}"))?;
        let (_, process) =
            parse_stat(&stat).ok_or_else(|| format!("unexpected /proc/self/stat: {stat:?}"))?;
        let tasks = std::fs::read_dir("/proc/self/task")
            .map_err(|e| format!("cannot list /proc/self/task: {e}"))?;
        let mut endpoint = 0;
        for task in tasks.flatten() {
            // A thread may exit between listing and reading; it is then not counted.
            let Ok(text) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            if let Some((name, ticks)) = parse_stat(&text)
                && name == ENDPOINT_THREAD
            {
                endpoint += ticks;
            }
        }
        Ok(CpuReading { process, endpoint })
    }

    /// CPU time the rest of the process (the generator) used since `earlier`.
    pub(crate) fn generator_since(&self, earlier: &CpuReading) -> Duration {
        let process = self.process.saturating_sub(earlier.process);
        let endpoint = self.endpoint.saturating_sub(earlier.endpoint);
        let ticks = process.saturating_sub(endpoint);
        Duration::from_millis(ticks * 1_000 / TICKS_PER_SEC)
    }
}

/// `(comm, utime + stime)` from one `stat` line: `pid (comm) state ppid … utime stime …`.
/// comm may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat(line: &str) -> Option<(&str, u64)> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let comm = line.get(open + 1..close)?;
    let mut rest = line.get(close + 1..)?.split_ascii_whitespace();
    // After comm: state is field 3; utime and stime are fields 14 and 15.
    let utime: u64 = rest.nth(11)?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    Some((comm, utime + stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines_with_odd_names() {
        let line = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    37 5 0 0 20 0 3 0 1000 0 0";
        assert_eq!(parse_stat(line), Some(("a) b (c)", 42)));
        assert_eq!(parse_stat("1 (x) S 1"), None);
    }

    #[test]
    fn counts_this_threads_work() {
        let a = CpuReading::now().expect("linux /proc");
        // Spin until the kernel has charged at least 5 ticks, bounded in wall time.
        let started = std::time::Instant::now();
        let mut b = a;
        let mut x = 0u64;
        while b.process < a.process + 5 && started.elapsed() < Duration::from_secs(30) {
            for i in 0..1_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            b = CpuReading::now().expect("linux /proc");
        }
        std::hint::black_box(x);
        // No endpoint threads here: the whole process counts as the generator.
        assert_eq!(b.endpoint, a.endpoint);
        assert!(
            b.generator_since(&a) >= Duration::from_millis(50),
            "{a:?} {b:?}"
        );
    }
}
