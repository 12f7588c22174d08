//! Free loopback ports for clusters started on 127.0.0.1 (tests, `raft-node bench`).
//!
//! The usual trick, binding port 0 and closing the listener, hands out a port from the kernel's
//! ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`, 32768-60999 on Linux). Between that
//! probe and the moment the node binds it, any outgoing connection on the machine (a peer
//! dialling another, a client, a parallel test) may take the same number as its source port,
//! and the node then dies with "address already in use". That happened to etcd in CI.
//!
//! So ports are drawn below the ephemeral range instead, where the kernel never picks source
//! ports: from a start that depends on the process id (parallel test binaries spread out), then
//! one after another within the process (parallel tests in one binary never share), each
//! probed with a bind before it is handed out.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// The range ports are drawn from: below Linux's default ephemeral range.
const FIRST: u32 = 20_000;
const LAST: u32 = 32_000;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A loopback TCP port that nothing listens on now and that the kernel will not hand out as a
/// source port, distinct from every other port this process got from here.
pub fn free_loopback_port() -> std::io::Result<u16> {
    draw(&NEXT)
}

fn draw(next: &AtomicU32) -> std::io::Result<u16> {
    let span = LAST - FIRST;
    let start = (std::process::id().wrapping_mul(2_654_435_761)) % span;
    for _ in 0..span {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (start + n) % span;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return Ok(port as u16);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!("no free loopback port in {FIRST}..{LAST}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| free_loopback_port().unwrap()).collect();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ports.len(), "{ports:?}");
        for p in ports {
            assert!((FIRST..LAST).contains(&(p as u32)), "{p}");
            TcpListener::bind(("127.0.0.1", p)).unwrap();
        }
    }

    #[test]
    fn a_port_in_use_is_skipped() {
        // A counter of its own, so that the second draw would return the first port again.
        let counter = AtomicU32::new(0);
        let taken = draw(&counter).unwrap();
        let _hold = TcpListener::bind(("127.0.0.1", taken)).unwrap();
        counter.store(0, Ordering::Relaxed);
        let next = draw(&counter).unwrap();
        assert_ne!(next, taken);
    }
}
