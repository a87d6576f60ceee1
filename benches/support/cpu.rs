//! CPU time from `/proc`, in seconds.

/// User plus system CPU time in a `/proc/<pid>/stat` line.
fn stat_seconds(stat: &str) -> Option<f64> {
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// This process's CPU time: the sum of its threads' run time in nanoseconds from
/// `/proc/self/task/*/schedstat` (threads that have ended are not in it: measure while the
/// runtime's threads live), else clock ticks from `/proc/self/stat`.
pub(crate) fn own_seconds() -> f64 {
    let threads: Option<f64> = std::fs::read_dir("/proc/self/task").ok().map(|dir| {
        dir.flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
            .sum::<f64>()
            / 1e9
    });
    match threads {
        Some(t) if t > 0.0 => t,
        _ => stat_seconds(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default())
            .unwrap_or(0.0),
    }
}

/// The CPU time of every process named `postgres` on this machine (the server's backends,
/// as far as they are alive; a backend that exits takes its time with it).
#[allow(dead_code)]
pub(crate) fn postgres_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|s| s.contains(" (postgres) "))
        .filter_map(|s| stat_seconds(&s))
        .sum()
}
