//! [`FramedStream`]: the accepting side's view of a Peer connection, one message at a time.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::Poll;

use futures::io::AsyncWriteExt;

use super::inbox::Inbox;
use super::{Codec, LengthChecksumCodec};
use crate::provider::Stream;

/// A stream that reads and writes whole messages with a [`Codec`]: what a server uses to talk
/// to [`Peer`](super::Peer)s it accepted from a [`Listener`](crate::Listener).
///
/// [`FramedStream::new`] accepts messages up to 1 MiB; a server talking to Peers with a larger
/// [`PeerConfig::max_message_size`](super::PeerConfig::max_message_size) uses
/// [`with_codec`](FramedStream::with_codec) with a
/// [`LengthChecksumCodec::new`](super::LengthChecksumCodec::new) of that size.
///
/// Reading errors are [`io::Error`]s: a bad frame is kind [`io::ErrorKind::InvalidData`]
/// (wrapping the [`FrameError`](super::FrameError)), end-of-file inside a frame is
/// [`io::ErrorKind::UnexpectedEof`].
///
/// # Examples
/// ```
/// use moonpool::peer::FramedStream;
/// use moonpool::{Listener, NetworkProvider, SimWorld};
///
/// let world = SimWorld::new(7);
/// let net = world.provider("10.0.0.1");
/// let echoed = world.block_on(async move {
///     let listener = net.bind("10.0.0.1:9000").await?;
///     let mut client = FramedStream::new(net.connect("10.0.0.1:9000").await?);
///     let (stream, _) = listener.accept().await?;
///     let mut server = FramedStream::new(stream);
///     client.send(b"hello").await?;
///     let message = server.recv().await?.expect("a message");
///     server.send(&message).await?;
///     client.recv().await
/// });
/// assert_eq!(echoed.unwrap().unwrap().unwrap(), b"hello");
/// ```
#[derive(Debug)]
pub struct FramedStream<S, C = LengthChecksumCodec> {
    stream: S,
    codec: C,
    inbox: Inbox,
    out: Vec<u8>,
    /// Bytes of `out` the stream already accepted.
    written: usize,
    /// A message lent by `recv_ref` is still in the inbox: the next receive frees it.
    lent: bool,
}

impl<S: Stream> FramedStream<S> {
    /// Frames `stream` with the default [`LengthChecksumCodec`] (1 MiB messages at most).
    pub fn new(stream: S) -> Self {
        Self::with_codec(stream, LengthChecksumCodec::default())
    }
}

impl<S: Stream, C: Codec> FramedStream<S, C> {
    /// Frames `stream` with `codec`.
    pub fn with_codec(stream: S, codec: C) -> Self {
        Self {
            stream,
            codec,
            inbox: Inbox::default(),
            out: Vec::new(),
            written: 0,
            lent: false,
        }
    }

    /// Receives the next whole message; `None` at end-of-file between messages.
    ///
    /// # Errors
    /// I/O errors of the stream; `InvalidData` for a bad frame; `UnexpectedEof` for a stream
    /// that ends inside a frame.
    pub async fn recv(&mut self) -> io::Result<Option<Vec<u8>>> {
        Ok(self
            .next_message()
            .await?
            .then(|| self.inbox.take_message()))
    }

    /// Like [`recv`](FramedStream::recv), but the message is borrowed from the read buffer
    /// instead of copied out: no allocation per message. It stays there until the next
    /// receive call.
    ///
    /// # Errors
    /// As [`recv`](FramedStream::recv).
    ///
    /// # Examples
    /// ```
    /// use moonpool::peer::FramedStream;
    /// use moonpool::{Listener, NetworkProvider, SimWorld};
    ///
    /// let world = SimWorld::new(7);
    /// let net = world.provider("10.0.0.1");
    /// let lengths = world.block_on(async move {
    ///     let listener = net.bind("10.0.0.1:9000").await?;
    ///     let mut client = FramedStream::new(net.connect("10.0.0.1:9000").await?);
    ///     let (stream, _) = listener.accept().await?;
    ///     let mut server = FramedStream::new(stream);
    ///     client.feed(b"one")?;
    ///     client.feed(b"three")?;
    ///     client.close().await?;
    ///     let mut lengths = Vec::new();
    ///     while let Some(message) = server.recv_ref().await? {
    ///         lengths.push(message.len());
    ///     }
    ///     Ok::<_, std::io::Error>(lengths)
    /// });
    /// assert_eq!(lengths.unwrap().unwrap(), [3, 5]);
    /// ```
    pub async fn recv_ref(&mut self) -> io::Result<Option<&[u8]>> {
        if !self.next_message().await? {
            return Ok(None);
        }
        self.lent = true;
        Ok(Some(self.inbox.message()))
    }

    /// Frees the message [`recv_ref`](FramedStream::recv_ref) lent, if any.
    fn return_lent(&mut self) {
        if std::mem::take(&mut self.lent) {
            self.inbox.consume();
        }
    }

    /// Reads until a whole message is decoded in the inbox (true) or the stream ends
    /// between messages (false).
    async fn next_message(&mut self) -> io::Result<bool> {
        self.return_lent();
        let limit = self
            .codec
            .max_message_size()
            .saturating_add(self.codec.overhead(self.codec.max_message_size()));
        poll_fn(|cx| loop {
            match self.inbox.poll_message(&mut self.codec) {
                Ok(Some(_)) => return Poll::Ready(Ok(true)),
                Ok(None) => {}
                Err(error) => {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, error)))
                }
            }
            if self.inbox.buffered() > limit {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "frame exceeds the codec's maximum",
                )));
            }
            let n = match Pin::new(&mut self.stream).poll_read(cx, self.inbox.spare()) {
                Poll::Ready(result) => result?,
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(match self.inbox.buffered() {
                    0 => Ok(false),
                    _ => Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "stream ended inside a frame",
                    )),
                });
            }
            self.inbox.filled(n);
        })
        .await
    }

    /// The next whole message if one is already buffered, without reading from the stream.
    ///
    /// # Errors
    /// `InvalidData` for a bad frame.
    pub fn recv_buffered(&mut self) -> io::Result<Option<Vec<u8>>> {
        self.return_lent();
        match self.inbox.poll_message(&mut self.codec) {
            Ok(Some(_)) => Ok(Some(self.inbox.take_message())),
            Ok(None) => Ok(None),
            Err(error) => Err(io::Error::new(io::ErrorKind::InvalidData, error)),
        }
    }

    /// Like [`recv_buffered`](FramedStream::recv_buffered), but the message is lent as by
    /// [`recv_ref`](FramedStream::recv_ref): no copy, and it stays in the read buffer until
    /// the next receive call.
    ///
    /// # Errors
    /// `InvalidData` for a bad frame.
    pub fn recv_buffered_ref(&mut self) -> io::Result<Option<&[u8]>> {
        self.return_lent();
        match self.inbox.poll_message(&mut self.codec) {
            Ok(Some(_)) => {
                self.lent = true;
                Ok(Some(self.inbox.message()))
            }
            Ok(None) => Ok(None),
            Err(error) => Err(io::Error::new(io::ErrorKind::InvalidData, error)),
        }
    }

    /// Encodes one message made of `head` then `body` (see [`Codec::encode_parts`]).
    pub(crate) fn feed_parts(&mut self, head: &[u8], body: &[u8]) -> io::Result<()> {
        self.codec
            .encode_parts(head, body, &mut self.out)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))
    }

    /// Encodes `message` into the write buffer without writing it; see
    /// [`flush`](FramedStream::flush).
    ///
    /// # Errors
    /// `InvalidInput` if the codec refuses the message (too large, say).
    pub fn feed(&mut self, message: &[u8]) -> io::Result<()> {
        self.codec
            .encode(message, &mut self.out)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))
    }

    /// Writes everything fed so far and flushes the stream.
    ///
    /// Cancel-safe: if the future is dropped part-way, the next `flush` (or `send`) writes
    /// the rest, so the remote never sees a frame twice or torn.
    ///
    /// # Errors
    /// I/O errors of the stream.
    pub async fn flush(&mut self) -> io::Result<()> {
        // Track what the stream accepted, so a flush that is cancelled or fails part-way
        // resumes where it stopped instead of writing bytes twice.
        while self.written < self.out.len() {
            let n = self.stream.write(&self.out[self.written..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.written += n;
        }
        self.out.clear();
        self.written = 0;
        self.stream.flush().await
    }

    /// Sends one message: [`feed`](FramedStream::feed) then [`flush`](FramedStream::flush).
    ///
    /// # Errors
    /// As `feed` and `flush`.
    pub async fn send(&mut self, message: &[u8]) -> io::Result<()> {
        self.feed(message)?;
        self.flush().await
    }

    /// Closes the write side (end-of-file to the remote) after flushing.
    ///
    /// # Errors
    /// I/O errors of the stream.
    pub async fn close(&mut self) -> io::Result<()> {
        self.flush().await?;
        self.stream.close().await
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The underlying stream, mutably (bytes read or written directly bypass the framing).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The underlying stream; buffered bytes are discarded.
    pub fn into_inner(self) -> S {
        self.stream
    }
}
