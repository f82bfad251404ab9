//! Address resolution for the real providers: IP literals at once, host names on a helper
//! thread so the executor never blocks on the system resolver.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use crate::provider::split_host_port;

/// The socket addresses `addr` (`"ip:port"` or `"name:port"`) stands for, in resolver order.
///
/// A name is looked up by the system resolver on a short-lived helper thread (what
/// `async-net` does through the `blocking` crate's pool; one thread per lookup keeps the
/// dependency graph small, and lookups are rare: once per connect).
///
/// # Errors
/// `InvalidInput` for an address that does not parse; `NotFound` for a name that does not
/// resolve (or resolves to nothing).
pub(crate) async fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    if let Ok(addr) = addr.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let (host, port) = split_host_port(addr)?;
    let host = host.to_string();
    let (tx, rx) = futures::channel::oneshot::channel();
    let name = host.clone();
    std::thread::Builder::new()
        .name("moonpool-resolve".into())
        .spawn(move || {
            let _ = tx.send((name.as_str(), port).to_socket_addrs().map(Vec::from_iter));
        })?;
    let not_found = |reason: String| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("failed to resolve {host:?}: {reason}"),
        )
    };
    match rx.await {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(not_found("no addresses".into())),
        Ok(Err(e)) => Err(not_found(e.to_string())),
        Err(_) => Err(not_found("the resolver thread failed".into())),
    }
}

/// Tries `connect` on each address in turn; the last error if none works.
pub(crate) async fn connect_any<T, F, Fut>(addrs: Vec<SocketAddr>, mut connect: F) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in addrs {
        match connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address to try")))
}

/// Sets `SO_LINGER` to zero, so that closing the socket sends an RST (an abortive close).
pub(crate) fn set_linger_zero(socket: impl rustix::fd::AsFd) -> io::Result<()> {
    rustix::net::sockopt::set_socket_linger(socket, Some(std::time::Duration::ZERO))?;
    Ok(())
}
