//! [`SimTcpListener`]: a bound address with its accept backlog.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::task::Poll;

use super::net::{accepted, register, wake_all};
use super::stream::SimTcpStream;
use super::world::WeakSimWorld;
use crate::provider::Listener;

/// A listener bound on the simulated network; implements [`Listener`].
///
/// Connections wait in its backlog (up to `NetworkConfig::accept_backlog`, then connects wait
/// for room) until [`accept`](Listener::accept)ed. Dropping the listener unbinds the address:
/// connections still in the backlog are reset, and waiting connects are refused.
#[derive(Debug)]
pub struct SimTcpListener {
    world: WeakSimWorld,
    addr: SocketAddr,
}

impl SimTcpListener {
    pub(crate) fn new(world: WeakSimWorld, addr: SocketAddr) -> Self {
        Self { world, addr }
    }
}

impl Listener for SimTcpListener {
    type Stream = SimTcpStream;

    fn accept(&self) -> impl Future<Output = io::Result<(SimTcpStream, String)>> {
        poll_fn(move |cx| {
            let world = match self.world.io_upgrade() {
                Ok(world) => world,
                Err(e) => return Poll::Ready(Err(e)),
            };
            let pending = world.with_state(|s| {
                let listener = s.net.listeners.get_mut(&self.addr)?;
                match listener.backlog.pop_front() {
                    Some(pending) => {
                        wake_all(&mut listener.connectors);
                        Some(Some(pending))
                    }
                    None => {
                        register(&mut listener.acceptors, cx.waker());
                        Some(None)
                    }
                }
            });
            match pending {
                // Unreachable while `self` lives; an error rather than a panic all the same.
                None => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    format!("listener {} is not bound", self.addr),
                ))),
                Some(Some(pending)) => {
                    let peer = pending.client.to_string();
                    Poll::Ready(Ok((accepted(self.world.clone(), pending), peer)))
                }
                Some(None) => Poll::Pending,
            }
        })
    }

    fn local_addr(&self) -> io::Result<String> {
        Ok(self.addr.to_string())
    }
}

impl Drop for SimTcpListener {
    fn drop(&mut self) {
        let Some(world) = self.world.upgrade() else {
            return;
        };
        let Ok(mut state) = world.shared.state.try_borrow_mut() else {
            return;
        };
        let Some(mut listener) = state.net.listeners.remove(&self.addr) else {
            return;
        };
        for pending in listener.backlog.drain(..) {
            if let Some(conn) = state.net.conns.get_mut(&pending.conn) {
                conn.reset();
            }
            state.net.release(pending.conn);
        }
        wake_all(&mut listener.connectors);
        wake_all(&mut listener.acceptors);
    }
}
