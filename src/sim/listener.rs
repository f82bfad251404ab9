//! [`SimTcpListener`]: a bound address with its accept backlog.

use std::future::{poll_fn, Future};
use std::io;
use std::task::Poll;

use super::net::{register, wake_all, ListenerKey, SERVER};
use super::stream::SimTcpStream;
use super::world::WeakSimWorld;
use crate::provider::Listener;

/// A listener bound on the simulated network; implements [`Listener`].
///
/// Connections wait in its backlog (up to `NetworkConfig::accept_backlog`, then connects wait
/// for room) until [`accept`](Listener::accept)ed. Dropping the listener unbinds the address:
/// connections still in the backlog are reset (as Linux does, an RST to each client), and
/// waiting connects are refused.
#[derive(Debug)]
pub struct SimTcpListener {
    world: WeakSimWorld,
    key: ListenerKey,
    /// The bind's id: after a crash unbound it, a new bind of the address is another
    /// listener, which this handle neither accepts from nor unbinds.
    bind: u64,
}

impl SimTcpListener {
    pub(crate) fn new(world: WeakSimWorld, key: ListenerKey, bind: u64) -> Self {
        Self { world, key, bind }
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
                let listener = s.net.listener_of(self.key, self.bind)?;
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
                // Unbound by a crash of its host (the process that bound it is gone).
                None => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    format!("listener {} is not bound", self.key.1),
                ))),
                Some(Some(pending)) => {
                    let peer = pending.client.to_string();
                    let stream = SimTcpStream::new(
                        self.world.clone(),
                        pending.conn,
                        SERVER,
                        pending.server,
                        pending.client,
                    );
                    Poll::Ready(Ok((stream, peer)))
                }
                Some(None) => Poll::Pending,
            }
        })
    }

    fn local_addr(&self) -> io::Result<String> {
        Ok(self.key.1.to_string())
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
        if state.net.listener_of(self.key, self.bind).is_none() {
            return;
        }
        let Some(mut listener) = state.net.unbind(self.key) else {
            return;
        };
        for pending in listener.backlog.drain(..) {
            state.tcp_abort(pending.conn, SERVER);
        }
        wake_all(&mut listener.connectors);
        wake_all(&mut listener.acceptors);
    }
}
