//! Ports for the servers a test starts as processes of their own (nginx, `ims serve`, a
//! private Redis), which must bind a port the test names in advance.
//!
//! Asking the kernel for port 0 and passing the number on is racy twice over: the number
//! comes from the ephemeral range (32768-60999), where any outgoing connection (a test's
//! pool, say) may take it before the server binds it or while it restarts; and two calls in
//! a row may return the same number, as the first listener is gone. So a test takes its
//! ports below that range, in a band no script's default uses, and holds a file lock per
//! port for as long as the test process lives: tests run as separate processes, and the
//! lock is the one thing they all see. (No crate does this: `portpicker` neither avoids the
//! race between processes nor lets a port be held across a server's restart.)

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::sync::Mutex;

use rand::Rng;

/// The band: above every default port of `scripts/` (the highest, Sentinel's, is 26382) and
/// below the kernel's default ephemeral range.
const BAND: std::ops::Range<u16> = 27_000..32_700;

/// Locks of the ports this process holds, released when it exits.
static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());

fn lock_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("ims-test-ports");
    std::fs::create_dir_all(&dir).expect("the test ports' lock folder");
    dir
}

/// A port no other test holds and nothing listens on, held by this test process until it
/// exits (so a server may stop and start on it again).
pub fn reserve() -> u16 {
    let dir = lock_dir();
    let mut rng = rand::thread_rng();
    for _ in 0..1_000 {
        let port = rng.gen_range(BAND);
        let Ok(file) = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{port}.lock")))
        else {
            continue;
        };
        if file.try_lock().is_err() {
            continue; // another test holds it
        }
        // Something outside the tests (a developer's server) may listen there.
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        HELD.lock().unwrap_or_else(|e| e.into_inner()).push(file);
        return port;
    }
    panic!("no free port in {BAND:?} after 1,000 tries");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_reserved_in_a_row_differ_and_lie_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| reserve()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "{ports:?}");
        assert!(ports.iter().all(|p| BAND.contains(p)), "{ports:?}");
    }
}
