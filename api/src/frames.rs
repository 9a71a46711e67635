//! Docker's multiplexed stream (`application/vnd.docker.multiplexed-stream`): without a tty,
//! stdout and stderr travel on one connection as frames, each an 8-byte header (the stream:
//! 1 stdout, 2 stderr; three zero bytes; the payload length, 4 bytes big-endian) and the
//! payload. With a tty there is one stream and no frames.

use bytes::Bytes;
use std::io::Write;
use tokio::sync::mpsc;

/// Stream numbers in a frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// 1.
    Stdout = 1,
    /// 2.
    Stderr = 2,
}

/// `payload` as one frame of `stream`.
pub fn frame(stream: Stream, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&[stream as u8, 0, 0, 0]);
    // A frame's length is 32 bits; the engine's log chunks are far smaller.
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A blocking writer (for the engine's log functions) that sends what it is given to a
/// streamed reply: as frames of one stream, raw (tty), or nowhere (a stream not asked for).
/// Fails once the client has gone, which ends the copy.
pub struct FrameWriter {
    tx: Option<mpsc::Sender<Bytes>>,
    stream: Stream,
    raw: bool,
}

impl FrameWriter {
    /// Frames of `stream` (or raw bytes if `raw`) to `tx`; `None` discards.
    pub fn new(tx: Option<mpsc::Sender<Bytes>>, stream: Stream, raw: bool) -> FrameWriter {
        FrameWriter { tx, stream, raw }
    }
}

impl Write for FrameWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some(tx) = &self.tx else {
            return Ok(buf.len());
        };
        if buf.is_empty() {
            return Ok(0);
        }
        let data = if self.raw {
            buf.to_vec()
        } else {
            frame(self.stream, buf)
        };
        tx.blocking_send(Bytes::from(data)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_header_is_dockers() {
        assert_eq!(
            frame(Stream::Stderr, b"hi\n"),
            [2, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n']
        );
    }
}
