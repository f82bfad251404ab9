//! Port bookkeeping per host: which ports are in use, and the ephemeral port allocator.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;

use crate::sim::rng::Digest;

/// Linux's default `ip_local_port_range`: the ports handed to connects and port-0 binds.
pub(crate) const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

/// One host's ports.
#[derive(Debug)]
struct HostPorts {
    /// Users of each port in use: listeners and the client side of connections.
    used: BTreeMap<u16, u32>,
    /// Where the next ephemeral search starts.
    next: u16,
}

/// The ports of every host.
#[derive(Debug, Default)]
pub(crate) struct Ports {
    hosts: BTreeMap<IpAddr, HostPorts>,
}

impl Ports {
    fn host(&mut self, ip: IpAddr) -> &mut HostPorts {
        self.hosts.entry(ip).or_insert_with(|| {
            // Each host starts its search at its own offset, as Linux's hashed start does.
            let mut digest = Digest::new();
            digest.fold_bytes(ip.to_string().as_bytes());
            let span = u64::from(EPHEMERAL.end() - EPHEMERAL.start()) + 1;
            HostPorts {
                used: BTreeMap::new(),
                next: EPHEMERAL.start() + (digest.value() % span) as u16,
            }
        })
    }

    /// A free ephemeral port of `ip`, never one in use.
    ///
    /// # Errors
    /// `AddrNotAvailable` when every port of the range is in use (Linux's `EADDRNOTAVAIL`).
    pub(crate) fn ephemeral(&mut self, ip: IpAddr) -> io::Result<u16> {
        let host = self.host(ip);
        for _ in EPHEMERAL {
            let port = host.next;
            host.next = if port == *EPHEMERAL.end() {
                *EPHEMERAL.start()
            } else {
                port + 1
            };
            if !host.used.contains_key(&port) {
                return Ok(port);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("no free ephemeral port on {ip}"),
        ))
    }

    /// Counts one more user of `port` on `ip`.
    pub(crate) fn acquire(&mut self, ip: IpAddr, port: u16) {
        *self.host(ip).used.entry(port).or_insert(0) += 1;
    }

    /// Counts one user fewer of `port` on `ip`.
    pub(crate) fn release(&mut self, ip: IpAddr, port: u16) {
        let Some(host) = self.hosts.get_mut(&ip) else {
            return;
        };
        if let Some(users) = host.used.get_mut(&port) {
            *users -= 1;
            if *users == 0 {
                host.used.remove(&port);
            }
        }
    }
}
