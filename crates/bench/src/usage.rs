//! What the server and the machine spent, read from `/proc` (Linux) before and after a run.

use std::collections::BTreeMap;

/// CPU time (µs) of a process's threads so far, summed by thread name, from `/proc`. Threads
/// that ended are not counted.
pub(crate) fn thread_usage(pid: u32) -> BTreeMap<String, u64> {
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some((head, tail)), Some(open)) = (stat.rsplit_once(')'), stat.find('(')) else {
            continue;
        };
        let name = head[open + 1..].to_owned();
        let fields: Vec<&str> = tail.split_whitespace().collect();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
            .sum();
        *by_name.entry(name).or_default() += ticks * 10_000;
    }
    by_name
}

/// The machine's CPU time so far, in clock ticks, from the first line of `/proc/stat`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MachineTicks {
    pub(crate) total: u64,
    pub(crate) idle: u64,
    pub(crate) steal: u64,
}

pub(crate) fn machine_ticks() -> Option<MachineTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map_while(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is counted in user already).
    Some(MachineTicks {
        total: fields.iter().take(8).sum(),
        idle: fields.get(3)? + fields.get(4)?,
        steal: *fields.get(7)?,
    })
}

/// CPU time (µs) and peak RSS (MiB) of a process, from `/proc`.
pub(crate) fn process_usage(pid: u32) -> Option<(u64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 100 per second on Linux.
    let cpu_us = (utime + stime) * 10_000;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((cpu_us, hwm_kb / 1024.0))
}
