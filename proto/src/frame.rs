//! Framing: `COBS(postcard(msg) ++ crc) ++ 0x00`.
//!
//! `crc` is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0) over the postcard bytes,
//! appended little-endian. COBS removes every zero from the frame, so `0x00` marks its end and a receiver that
//! joins mid-stream, or sees garbage, is back in step at the next `0x00`. Nothing here allocates.

use postcard::experimental::max_size::MaxSize;
use postcard::ser_flavors::{Cobs, Slice, crc::CrcModifier};
use serde::{Serialize, de::DeserializeOwned};

use crate::{FromMcu, ToMcu};

/// CRC-16/CCITT-FALSE, which the CRC catalogue calls CRC-16/IBM-3740.
pub const CRC: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_3740);

/// The longest frame a message type of at most `postcard_max` bytes can produce: COBS overhead over the
/// postcard bytes and the 2-byte CRC, plus the delimiter.
pub const fn max_frame_len(postcard_max: usize) -> usize {
    cobs::max_encoding_length(postcard_max + 2) + 1
}

/// Longest daemon → MCU frame; the MCU's receive buffer is this big.
pub const TO_MCU_MAX_FRAME: usize = max_frame_len(ToMcu::POSTCARD_MAX_SIZE);
/// Longest MCU → daemon frame.
pub const FROM_MCU_MAX_FRAME: usize = max_frame_len(FromMcu::POSTCARD_MAX_SIZE);

/// Why bytes up to a delimiter did not yield a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// More bytes than the longest valid frame before a delimiter; they were dropped.
    Overflow,
    /// Not valid COBS, or shorter than a CRC.
    Cobs,
    /// The CRC does not match: the bytes were damaged on the way.
    Crc,
    /// The CRC matches but the bytes are not a message of this protocol (or trail extra bytes).
    Decode,
    /// The output buffer is too small for the frame.
    BufferFull,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FrameError::Overflow => "frame longer than the protocol's maximum",
            FrameError::Cobs => "not a COBS frame",
            FrameError::Crc => "CRC mismatch",
            FrameError::Decode => "CRC ok but not a message of this protocol",
            FrameError::BufferFull => "output buffer too small for the frame",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FrameError {}

/// Encode `msg` as one whole frame, delimiter included, into `buf`; returns the frame.
pub fn encode<'a, T: Serialize>(msg: &T, buf: &'a mut [u8]) -> Result<&'a mut [u8], FrameError> {
    let cobs = Cobs::try_new(Slice::new(buf)).map_err(|_| FrameError::BufferFull)?;
    postcard::serialize_with_flavor(msg, CrcModifier::new(cobs, CRC.digest())).map_err(|_| FrameError::BufferFull)
}

/// Decode the bytes of one frame without its delimiter, in place (COBS decoding overwrites `bytes`).
pub fn decode<T: DeserializeOwned>(bytes: &mut [u8]) -> Result<T, FrameError> {
    let len = cobs::decode_in_place(bytes).map_err(|_| FrameError::Cobs)?;
    let Some(body_len) = len.checked_sub(2) else {
        return Err(FrameError::Cobs);
    };
    let (body, crc) = bytes[..len].split_at(body_len);
    if CRC.checksum(body).to_le_bytes() != crc {
        return Err(FrameError::Crc);
    }
    match postcard::take_from_bytes::<T>(body) {
        Ok((msg, [])) => Ok(msg),
        _ => Err(FrameError::Decode),
    }
}

/// A streaming decoder with a fixed buffer of `N` bytes (use [`TO_MCU_MAX_FRAME`] or [`FROM_MCU_MAX_FRAME`]).
/// Feed it bytes as they arrive; it yields one result per delimiter and never needs to be reset.
pub struct Decoder<const N: usize> {
    buf: [u8; N],
    len: usize,
    overflowed: bool,
}

impl<const N: usize> Default for Decoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Decoder<N> {
    pub const fn new() -> Self {
        Decoder { buf: [0; N], len: 0, overflowed: false }
    }

    /// Take one byte; at a delimiter, the message (or why there is none). Empty frames (two delimiters in a
    /// row, as a sender uses to flush a line) yield nothing.
    pub fn push<T: DeserializeOwned>(&mut self, byte: u8) -> Option<Result<T, FrameError>> {
        if byte != 0 {
            if self.len == N {
                self.overflowed = true;
            } else {
                self.buf[self.len] = byte;
                self.len += 1;
            }
            return None;
        }
        let len = core::mem::take(&mut self.len);
        if core::mem::take(&mut self.overflowed) {
            return Some(Err(FrameError::Overflow));
        }
        (len > 0).then(|| decode(&mut self.buf[..len]))
    }

    /// Take a run of bytes, calling `on_frame` for each delimiter reached.
    pub fn feed<T: DeserializeOwned>(&mut self, bytes: &[u8], mut on_frame: impl FnMut(Result<T, FrameError>)) {
        for &byte in bytes {
            if let Some(result) = self.push(byte) {
                on_frame(result);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, PROTOCOL_VERSION, Version};

    fn hello() -> ToMcu {
        ToMcu { seq: 7, command: Command::Hello { protocol: PROTOCOL_VERSION, daemon: Version::default() } }
    }

    #[test]
    fn a_frame_ends_with_its_only_zero() {
        let mut buf = [0u8; TO_MCU_MAX_FRAME];
        let frame = encode(&hello(), &mut buf).unwrap();
        assert_eq!(frame.last(), Some(&0));
        assert!(!frame[..frame.len() - 1].contains(&0));
    }

    #[test]
    fn a_flipped_bit_is_a_crc_error_not_a_wrong_message() {
        let mut buf = [0u8; TO_MCU_MAX_FRAME];
        let frame = encode(&hello(), &mut buf).unwrap();
        let n = frame.len() - 1;
        frame[1] ^= 0x10; // the sequence number: a data byte, not a COBS code
        assert_eq!(decode::<ToMcu>(&mut frame[..n]), Err(FrameError::Crc));
    }

    #[test]
    fn an_overlong_run_is_reported_once_and_the_next_frame_decodes() {
        let mut decoder = Decoder::<16>::new();
        let mut results = heapless::Vec::<Result<ToMcu, FrameError>, 4>::new();
        decoder.feed(&[0x55; 40], |r| results.push(r).unwrap());
        decoder.feed(&[0], |r| results.push(r).unwrap());
        let mut buf = [0u8; TO_MCU_MAX_FRAME];
        let short = ToMcu { seq: 1, command: Command::Heartbeat };
        decoder.feed(encode(&short, &mut buf).unwrap(), |r| results.push(r).unwrap());
        assert_eq!(results.as_slice(), &[Err(FrameError::Overflow), Ok(short)]);
    }
}
