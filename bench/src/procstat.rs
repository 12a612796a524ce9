//! Sampling a process from `/proc`: resident memory, CPU time, open files.

use serde::Serialize;

/// One look at a process.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
pub struct Sample {
    /// Seconds since the bench started.
    pub t: f64,
    /// `VmRSS` of `/proc/PID/status`, KiB.
    pub rss_kib: u64,
    /// `utime + stime` of `/proc/PID/stat`, clock ticks.
    pub cpu_ticks: u64,
    /// Entries of `/proc/PID/fd`.
    pub fds: u64,
}

pub fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// `None` once the process is gone.
pub fn sample(pid: u32, t: f64) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let cpu_ticks = cpu_ticks(pid)?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    Some(Sample {
        t,
        rss_kib,
        cpu_ticks,
        fds,
    })
}

/// `utime + stime` (fields 14 and 15 of `/proc/PID/stat`).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu(&stat)
}

fn parse_stat_cpu(stat: &str) -> Option<u64> {
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14 → index 11.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The machine, for the report.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub mem_total_kib: u64,
    /// `/proc/loadavg` when the run started and when it ended.
    pub loadavg_start: String,
    pub loadavg_end: String,
}

pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_total_kib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Machine {
        // Online CPUs, not this process's affinity (the bench may be pinned already).
        // SAFETY: sysconf has no preconditions.
        nproc: usize::try_from(unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) })
            .unwrap_or(1)
            .max(1),
        cpu_model,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string(),
        mem_total_kib,
        loadavg_start: loadavg(),
        loadavg_end: String::new(),
    }
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Pin the calling process (and the children it forks later) to `cpus` ("1", "0,2", "2-3").
/// This process's soft limit of open files.
pub fn fd_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid rlimit to write into.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } < 0 {
        return 1024;
    }
    r.rlim_cur
}

pub fn pin_self(cpus: &str) -> Result<(), String> {
    let set = parse_cpus(cpus)?;
    set_affinity(0, &set)
}

pub fn parse_cpus(list: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("bad cpu list {list:?}");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    if out.is_empty() {
        return Err(format!("empty cpu list {list:?}"));
    }
    Ok(out)
}

/// `sched_setaffinity(pid, cpus)`; pid 0 = the calling thread's process.
pub fn set_affinity(pid: libc::pid_t, cpus: &[usize]) -> Result<(), String> {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET write inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(format!(
                "sched_setaffinity({cpus:?}): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name() {
        let s = "1234 (a b) c)) S 1 2 3 4 5 6 7 8 9 10 250 13 0 0 20 0 1 0 100 0 0";
        assert_eq!(parse_stat_cpu(s), Some(263));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpus("1").unwrap(), vec![1]);
        assert_eq!(parse_cpus("0,2-3").unwrap(), vec![0, 2, 3]);
        assert!(parse_cpus("x").is_err());
    }

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id(), 0.0).unwrap();
        assert!(s.rss_kib > 0);
        assert!(s.fds > 0);
    }
}
