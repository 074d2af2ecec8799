//! Loopback ports chosen by the OS (bind `127.0.0.1:0`, read the port, close), never fixed,
//! so parallel tests and runs do not collide.
//!
//! There is an unavoidable window between closing our socket and the child binding the port;
//! callers retry a start whose log says "address already in use" (see `native`).

use std::collections::VecDeque;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Mutex, OnceLock};

/// How many recently handed-out ports are remembered so this process never hands out the same
/// port twice in quick succession (the OS may reuse a just-closed ephemeral port).
const RECENT: usize = 4096;

/// Allocating a port failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot allocate a loopback port")]
pub struct PortError(#[source] pub std::io::Error);

fn recent() -> &'static Mutex<VecDeque<u16>> {
    static RECENT_PORTS: OnceLock<Mutex<VecDeque<u16>>> = OnceLock::new();
    RECENT_PORTS.get_or_init(Default::default)
}

/// Returns `n` distinct free loopback ports. All `n` sockets are held open together while
/// choosing, so the OS cannot return the same port twice within one call.
pub fn allocate_ports(n: usize) -> Result<Vec<u16>, PortError> {
    let mut held = Vec::with_capacity(n);
    let mut ports = Vec::with_capacity(n);
    let mut recent = recent()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Bounded: each attempt holds its socket, so a port seen in `recent` is skipped and the
    // next bind gets another; 4n + 64 attempts is far more than the recent list can absorb.
    for _ in 0..(4 * n + 64) {
        if ports.len() == n {
            break;
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(PortError)?;
        let port = listener.local_addr().map_err(PortError)?.port();
        held.push(listener);
        if recent.contains(&port) {
            continue;
        }
        recent.push_back(port);
        if recent.len() > RECENT {
            recent.pop_front();
        }
        ports.push(port);
    }
    if ports.len() < n {
        return Err(PortError(std::io::Error::other(format!(
            "only {} of {n} distinct ports found",
            ports.len()
        ))));
    }
    Ok(ports)
}

/// One free loopback port.
pub fn allocate_port() -> Result<u16, PortError> {
    Ok(allocate_ports(1)?[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ports_are_distinct_and_bindable() {
        let a = allocate_ports(20).expect("ports");
        let b = allocate_ports(20).expect("ports");
        let all: BTreeSet<u16> = a.iter().chain(&b).copied().collect();
        assert_eq!(all.len(), 40, "no port handed out twice: {a:?} {b:?}");
        for p in a {
            assert_ne!(p, 0);
            TcpListener::bind((Ipv4Addr::LOCALHOST, p)).expect("port is free again");
        }
    }
}
