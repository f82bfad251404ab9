//! [`RealStream`]: an async-io TCP stream whose `close` sends end-of-file.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Shutdown, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};

use async_io::Async;
use futures::io::{AsyncRead, AsyncWrite};

use crate::provider::Stream;

/// A TCP connection of a [`RealNetworkProvider`](super::RealNetworkProvider).
///
/// A thin wrapper around `Async<std::net::TcpStream>` (with `TCP_NODELAY` on) that reads and
/// writes through it unchanged, except that
/// [`AsyncWriteExt::close`](futures::io::AsyncWriteExt::close) shuts down the write side, so
/// the other side reads end-of-file after everything written so far (async-io's own `close`
/// only flushes). Reading still works after a close; dropping the stream closes the socket.
#[derive(Debug)]
pub struct RealStream {
    inner: Async<TcpStream>,
}

impl RealStream {
    /// Wraps a connected stream, turning `TCP_NODELAY` on.
    ///
    /// # Errors
    /// The error of setting `TCP_NODELAY`.
    pub fn new(inner: Async<TcpStream>) -> io::Result<Self> {
        inner.get_ref().set_nodelay(true)?;
        Ok(Self { inner })
    }

    /// The underlying async-io stream.
    pub fn get_ref(&self) -> &Async<TcpStream> {
        &self.inner
    }

    /// Unwraps the underlying async-io stream.
    pub fn into_inner(self) -> Async<TcpStream> {
        self.inner
    }
}

impl Stream for RealStream {
    fn local_addr(&self) -> io::Result<String> {
        Ok(self.inner.get_ref().local_addr()?.to_string())
    }

    fn peer_addr(&self) -> io::Result<String> {
        Ok(self.inner.get_ref().peer_addr()?.to_string())
    }

    fn abort(self) {
        // If SO_LINGER cannot be set the socket is closed gracefully instead; there is no one
        // to report the error to, and the connection ends either way.
        let _ = super::resolve::set_linger_zero(self.inner.get_ref());
    }
}

impl AsyncRead for RealStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }

    fn poll_read_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read_vectored(cx, bufs)
    }
}

impl AsyncWrite for RealStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::ready!(self.as_mut().poll_flush(cx))?;
        Poll::Ready(self.inner.get_ref().shutdown(Shutdown::Write))
    }
}
