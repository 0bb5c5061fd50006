//! The open-file limit: every connection is a file descriptor, and the usual soft limit
//! (1,024) is far below 10,000 users. The tool raises its own soft limit up to the hard
//! limit and says so when that is not enough.

/// Descriptors the tool needs besides its connections (database, stdio, epoll, files).
const SPARE: u64 = 256;

/// Raises the soft limit for `connections`; returns a note when it falls short.
pub fn raise_for(connections: usize) -> Option<String> {
    let wanted = connections as u64 + SPARE;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(got) if got >= wanted => None,
        Ok(got) => Some(format!(
            "open-file limit is {got}, below the {wanted} that {connections} connections need: \
             raise the hard limit (ulimit -Hn, or LimitNOFILE= for a service) and run again; \
             connections beyond it fail"
        )),
        Err(e) => Some(format!("could not raise the open-file limit: {e}")),
    }
}
