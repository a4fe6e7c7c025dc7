//! COMPRESS=DEFLATE (RFC 4978): a stream that deflates what the session writes and inflates
//! what it reads, over any other stream (plain TCP, TLS, stdio).
//!
//! Raw deflate (no zlib header) both ways, with one compressor and one decompressor for the
//! whole connection. Every `flush` ends in a sync flush, so each batch of responses the
//! session flushes (it flushes before waiting for input, and IDLE flushes each update) reaches
//! the client whole. Memory stays bounded whatever the client sends: a read inflates at most
//! as many bytes as its caller's buffer holds, so a small input that inflates to gigabytes
//! (a decompression bomb) is taken in the connection's usual read-sized steps and meets the
//! line, literal and pipelining limits on its inflated bytes, as plain input would.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use async_std::io::{Read, Write};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Compressed input read from the peer and not yet inflated.
const READ_BUFFER: usize = 16 * 1024;
/// Compressed output above which a write first waits for the peer to take some.
const WRITE_BACKLOG: usize = 64 * 1024;

pub struct Deflate<S> {
    inner: S,
    deflate: Compress,
    inflate: Decompress,
    /// Compressed output not yet written to `inner`, from `written` on.
    out: Vec<u8>,
    written: usize,
    /// `total_in` of the compressor at its last sync flush.
    synced: u64,
    /// Compressed input from `inner`, `input[start..end]` not yet inflated.
    input: Box<[u8]>,
    start: usize,
    end: usize,
    /// The peer ended its deflate stream: nothing more is read.
    finished: bool,
}

impl<S> Deflate<S> {
    /// Start compressing on `inner`. `early` is compressed input that arrived before the
    /// switch (sent by the client right after its COMPRESS command).
    pub fn new(inner: S, early: &[u8]) -> Self {
        let mut input = vec![0; READ_BUFFER.max(early.len())].into_boxed_slice();
        input[..early.len()].copy_from_slice(early);
        Deflate {
            inner,
            deflate: Compress::new(Compression::default(), false),
            inflate: Decompress::new(false),
            out: Vec::new(),
            written: 0,
            synced: 0,
            input,
            start: 0,
            end: early.len(),
            finished: false,
        }
    }

    /// Deflate `data` into `out` (all of it), with `flush`.
    fn compress(&mut self, mut data: &[u8], flush: FlushCompress) -> io::Result<()> {
        loop {
            self.out.reserve(data.len() / 2 + 1024);
            let before_in = self.deflate.total_in();
            let before_out = self.out.len();
            self.deflate
                .compress_vec(data, &mut self.out, flush)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let used = (self.deflate.total_in() - before_in) as usize;
            data = &data[used..];
            // Done once the input is taken and the compressor had room to spare (a sync flush
            // that filled the space may have more to give).
            if data.is_empty() && self.out.len() < self.out.capacity() {
                return Ok(());
            }
            if used == 0 && self.out.len() == before_out && self.out.len() < self.out.capacity() {
                return Ok(());
            }
        }
    }
}

impl<S: Write + Unpin> Deflate<S> {
    /// Write compressed output to `inner` until at most `keep` bytes of it are left.
    fn drain(&mut self, cx: &mut Context<'_>, keep: usize) -> Poll<io::Result<()>> {
        while self.out.len() - self.written > keep {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
            if self.out.capacity() > WRITE_BACKLOG * 2 {
                self.out.shrink_to(4096);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: Write + Unpin> Write for Deflate<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx, WRITE_BACKLOG))?;
        self.compress(buf, FlushCompress::None)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A sync flush only when something was compressed since the last one: an empty one
        // would still put 5 bytes on the wire at every flush.
        if self.deflate.total_in() > self.synced {
            self.compress(&[], FlushCompress::Sync)?;
            self.synced = self.deflate.total_in();
        }
        ready!(self.drain(cx, 0))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl<S: Read + Unpin> Read for Deflate<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        loop {
            if this.finished || buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            // Also with no input left: the decompressor may hold output that did not fit in
            // the last caller's buffer.
            let before_in = this.inflate.total_in();
            let before_out = this.inflate.total_out();
            let status = this
                .inflate
                .decompress(
                    &this.input[this.start..this.end],
                    buf,
                    FlushDecompress::None,
                )
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            this.start += (this.inflate.total_in() - before_in) as usize;
            let produced = (this.inflate.total_out() - before_out) as usize;
            if status == Status::StreamEnd {
                this.finished = true;
            }
            if produced > 0 {
                return Poll::Ready(Ok(produced));
            }
            if this.finished {
                return Poll::Ready(Ok(0));
            }
            // The decompressor needs more input: keep what it has not taken, read more.
            this.input.copy_within(this.start..this.end, 0);
            this.end -= this.start;
            this.start = 0;
            if this.end == this.input.len() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "deflate input makes no progress",
                )));
            }
            let n = ready!(Pin::new(&mut this.inner).poll_read(cx, &mut this.input[this.end..]))?;
            if n == 0 {
                return Poll::Ready(Ok(0));
            }
            this.end += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_std::io::prelude::*;
    use async_std::io::Cursor;

    fn raw_inflate(data: &[u8]) -> Vec<u8> {
        let mut d = Decompress::new(false);
        let mut out = Vec::with_capacity(1 << 20);
        d.decompress_vec(data, &mut out, FlushDecompress::Sync)
            .unwrap();
        out
    }

    /// Input that inflates to far more than one read takes: every byte comes out, in reads no
    /// larger than the caller's buffer, though the compressed input was all taken by the first.
    #[test]
    fn reads_inflate_in_caller_sized_steps() {
        let plain: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 7) as u8).collect();
        // One deflate stream in two parts: the first arrived with the COMPRESS command.
        let mut c = Compress::new(Compression::default(), false);
        let mut early = Vec::with_capacity(1024);
        c.compress_vec(&plain[..10], &mut early, FlushCompress::Sync)
            .unwrap();
        let mut tail = Vec::with_capacity(plain.len() + 1024);
        c.compress_vec(&plain[10..], &mut tail, FlushCompress::Sync)
            .unwrap();
        let mut s = Deflate::new(Cursor::new(tail), &early);
        let mut got = Vec::new();
        let mut buf = [0u8; 100];
        async_std::task::block_on(async {
            loop {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n <= buf.len());
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        });
        assert_eq!(got, plain);
    }

    /// What is written comes out of the inner stream as raw deflate, complete at each flush.
    #[test]
    fn writes_are_complete_at_each_flush() {
        let mut s = Deflate::new(Cursor::new(Vec::new()), &[]);
        async_std::task::block_on(async {
            s.write_all(b"* 1 EXISTS\r\n").await.unwrap();
            s.flush().await.unwrap();
        });
        let first = s.inner.get_ref().clone();
        assert_eq!(raw_inflate(&first), b"* 1 EXISTS\r\n");
        // A flush with nothing new written adds nothing.
        async_std::task::block_on(s.flush()).unwrap();
        assert_eq!(s.inner.get_ref().len(), first.len());
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        async_std::task::block_on(async {
            s.write_all(&big).await.unwrap();
            s.flush().await.unwrap();
        });
        let all = raw_inflate(s.inner.get_ref());
        assert_eq!(&all[..12], b"* 1 EXISTS\r\n");
        assert_eq!(&all[12..], &big[..]);
    }
}
