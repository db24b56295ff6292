//! A `Connection` owns the byte stream to the MCU and speaks whole frames over it (the shape of mini-redis's
//! `Connection`): `write_frame` encodes and flushes, `read_frame` returns the next decoded message. Reading is
//! cancel-safe: bytes already received stay in the decoder when a timeout drops the future.

use std::collections::VecDeque;

use proto::frame::{self, Decoder, FROM_MCU_MAX_FRAME, FrameError, TO_MCU_MAX_FRAME};
use proto::{FromMcu, ToMcu};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::stats::SharedStats;

pub struct Connection<S> {
    stream: S,
    decoder: Decoder<FROM_MCU_MAX_FRAME>,
    ready: VecDeque<FromMcu>,
    stats: SharedStats,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub fn new(stream: S, stats: SharedStats) -> Self {
        Connection { stream, decoder: Decoder::new(), ready: VecDeque::new(), stats }
    }

    /// Encode and send one frame.
    pub async fn write_frame(&mut self, msg: &ToMcu) -> std::io::Result<()> {
        let mut buf = [0u8; TO_MCU_MAX_FRAME];
        let bytes = frame::encode(msg, &mut buf).map_err(std::io::Error::other)?;
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        self.stats.update(|s| {
            s.frames_sent += 1;
            s.bytes_sent += bytes.len() as u64;
        });
        Ok(())
    }

    /// The next valid message from the MCU. Damaged frames are counted and skipped; end of stream is an error,
    /// because an MCU link never ends on purpose.
    pub async fn read_frame(&mut self) -> std::io::Result<FromMcu> {
        loop {
            if let Some(msg) = self.ready.pop_front() {
                return Ok(msg);
            }
            let mut buf = [0u8; 256];
            let n = self.stream.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the serial device closed"));
            }
            tracing::trace!(bytes = ?&buf[..n], "received");
            let (ready, stats) = (&mut self.ready, &self.stats);
            stats.update(|s| s.bytes_received += n as u64);
            self.decoder.feed(&buf[..n], |result: Result<FromMcu, FrameError>| {
                stats.update(|s| match result {
                    Ok(_) => s.frames_received += 1,
                    Err(FrameError::Crc) => s.crc_errors += 1,
                    Err(_) => s.decode_errors += 1,
                });
                match result {
                    // Diagnostics answer a request, but may arrive while another answer is awaited: keep
                    // them here, where every frame passes.
                    Ok(FromMcu::Diagnostics(d)) => stats.update(|s| s.mcu_diagnostics = Some(d)),
                    Ok(msg) => ready.push_back(msg),
                    Err(e) => tracing::debug!("dropped a frame from the MCU: {e}"),
                }
            });
        }
    }
}
