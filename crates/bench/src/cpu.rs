//! CPU time of the processes that serve the load, from `/proc` (Linux, same machine only):
//! the service (the process listening on the target port), the database cluster (the
//! postmaster listening on the database's port and every process it started: backends, and
//! the parallel workers and vacuum workers whose titles do not name a database), Redis (the
//! process listening on its port), this tool, and the whole machine. Read at the window's
//! start and end; the report shows cores used.

use std::collections::BTreeMap;
use std::fs;

use serde::{Deserialize, Serialize};

/// `/proc` reports times in USER_HZ, which is 100 on every Linux architecture we run on.
const TICKS_PER_SEC: f64 = 100.0;

/// What to watch.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    pub service_port: Option<u16>,
    pub redis_port: Option<u16>,
    /// The database's port: its postmaster and all its children are the database's CPU.
    pub database_port: Option<u16>,
}

/// Cumulative CPU ticks per group, and the machine's busy and total ticks.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    groups: BTreeMap<String, u64>,
    machine_busy: u64,
    machine_total: u64,
}

/// Cores used on average over the window, per group (`ims`, `postgres`, `redis`,
/// `ims-bench`, `other` = the rest of the machine) and in all.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CpuSplit {
    pub cores: BTreeMap<String, f64>,
    pub machine_busy_cores: f64,
    pub machine_cores: f64,
}

pub fn read(targets: &Targets) -> Reading {
    let mut reading = Reading::default();
    if let Ok(stat) = fs::read_to_string("/proc/stat") {
        if let Some(line) = stat.lines().next() {
            let fields: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|f| f.parse().ok())
                .collect();
            reading.machine_total = fields.iter().sum();
            // idle and iowait are the 4th and 5th fields.
            let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
            reading.machine_busy = reading.machine_total.saturating_sub(idle);
        }
    }
    let service = targets.service_port.and_then(pid_listening_on);
    let redis = targets.redis_port.and_then(pid_listening_on);
    let postmaster = targets.database_port.and_then(pid_listening_on);
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return reading;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Some(stat) = process_stat(pid) else {
            continue;
        };
        let (ppid, mut ticks) = (stat.ppid, stat.ticks);
        if Some(pid) == postmaster {
            // Backends that ended (a connection closed mid-query) were reaped by the
            // postmaster: their time is in its children's counters, not lost.
            ticks += stat.reaped_children;
        }
        let group = if Some(pid) == service {
            "ims"
        } else if Some(pid) == redis {
            "redis"
        } else if pid == me {
            "ims-bench"
        } else if postmaster.is_some() && (Some(pid) == postmaster || Some(ppid) == postmaster) {
            "postgres"
        } else {
            continue;
        };
        *reading.groups.entry(group.to_owned()).or_default() += ticks;
    }
    reading
}

/// Cores used between two readings `secs` apart.
pub fn split(before: &Reading, after: &Reading, secs: f64) -> CpuSplit {
    let per_sec = |ticks: u64| ticks as f64 / TICKS_PER_SEC / secs.max(1e-9);
    let mut cores = BTreeMap::new();
    for (group, ticks) in &after.groups {
        let start = before.groups.get(group).copied().unwrap_or(0);
        cores.insert(group.clone(), per_sec(ticks.saturating_sub(start)));
    }
    let busy = per_sec(after.machine_busy.saturating_sub(before.machine_busy));
    let total = per_sec(after.machine_total.saturating_sub(before.machine_total));
    let ours: f64 = cores.values().sum();
    cores.insert("other".into(), (busy - ours).max(0.0));
    CpuSplit {
        cores,
        machine_busy_cores: busy,
        machine_cores: total.round().max(1.0),
    }
}

/// A process's parent, CPU ticks (utime + stime, all threads) and its reaped children's.
#[derive(Debug, PartialEq)]
struct Stat {
    ppid: u32,
    ticks: u64,
    reaped_children: u64,
}

fn process_stat(pid: u32) -> Option<Stat> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

fn parse_stat(stat: &str) -> Option<Stat> {
    // "pid (comm) state ppid ..."; comm may hold spaces and parentheses, so split at the last ')'.
    let close = stat.rfind(')')?;
    let rest: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    let ppid: u32 = rest.get(1)?.parse().ok()?;
    // After the comm: state is field 3 of the line, utime 14 and stime 15.
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    let cutime: u64 = rest.get(13)?.parse().ok()?;
    let cstime: u64 = rest.get(14)?.parse().ok()?;
    Some(Stat {
        ppid,
        ticks: utime + stime,
        reaped_children: cutime + cstime,
    })
}

/// The process with a socket listening on 127.0.0.1:`port` (or any address), if this user
/// may see it.
pub fn pid_listening_on(port: u16) -> Option<u32> {
    let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| fs::read_to_string(f).ok())
        .flat_map(|table| listening_inodes(&table, port))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(link) = fs::read_link(fd.path()) {
                let link = link.to_string_lossy();
                if inodes.iter().any(|i| link == format!("socket:[{i}]")) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// Inodes of the sockets in LISTEN state (0A) on `port` in a /proc/net/tcp table.
fn listening_inodes(table: &str, port: u16) -> Vec<String> {
    let port_hex = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local = f.get(1)?;
            (local.ends_with(&port_hex) && f.get(3) == Some(&"0A"))
                .then(|| f.get(9).map(|s| s.to_string()))?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line =
            "4242 (tokio-rt (w) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 15 5 20 0 9 0 1 2 3";
        let stat = Stat {
            ppid: 1,
            ticks: 325,
            reaped_children: 20,
        };
        assert_eq!(parse_stat(line), Some(stat));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn listening_sockets_are_found_by_port_and_state() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0 100 0 0 10 0
   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1 0 100 0 0 10 0";
        assert_eq!(listening_inodes(table, 8080), ["111"]);
    }

    #[test]
    fn the_split_attributes_the_rest_of_the_machine_to_other() {
        let mut before = Reading::default();
        before.groups.insert("ims".into(), 100);
        let mut after = Reading {
            machine_busy: 300,
            machine_total: 400,
            ..Reading::default()
        };
        after.groups.insert("ims".into(), 250);
        let split = split(&before, &after, 2.0);
        assert_eq!(split.cores["ims"], 0.75);
        assert_eq!(split.cores["other"], 0.75);
        assert_eq!(split.machine_busy_cores, 1.5);
        assert_eq!(split.machine_cores, 2.0);
    }
}
