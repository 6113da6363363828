//! Deflate and zlib helpers with a bound on inflated size (no decompression bombs).

use std::io::{Read, Write};

use flate2::read::{DeflateDecoder, ZlibDecoder};
use flate2::write::{DeflateEncoder, ZlibEncoder};
use flate2::Compression;

/// The most bytes a compressed cookie or record may inflate to.
pub const MAX_INFLATED: usize = 64 * 1024;

/// Inflating failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InflateError {
    /// The bytes are not valid compressed data.
    #[error("the compressed data is malformed")]
    Malformed,
    /// The data inflates past the limit.
    #[error("the compressed data inflates past {0} bytes")]
    TooLarge(usize),
}

/// Raw deflate of `bytes`, if that is smaller by at least two bytes.
pub(crate) fn deflate_if_smaller(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    encoder.write_all(bytes).ok()?;
    let out = encoder.finish().ok()?;
    (out.len() + 1 < bytes.len()).then_some(out)
}

/// zlib (RFC 1950) compression at Python's default level, as `zlib.compress(bytes)`.
pub(crate) fn zlib_compress(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::new(6));
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

fn bounded(mut reader: impl Read, limit: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    reader
        .by_ref()
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| InflateError::Malformed)?;
    if out.len() > limit {
        return Err(InflateError::TooLarge(limit));
    }
    Ok(out)
}

/// Inflates raw deflate data, refusing more than `limit` bytes.
pub(crate) fn inflate(bytes: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    bounded(DeflateDecoder::new(bytes), limit)
}

/// Inflates zlib data, refusing more than `limit` bytes.
pub(crate) fn zlib_decompress(bytes: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    bounded(ZlibDecoder::new(bytes), limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bombs_are_refused() {
        let bomb = deflate_if_smaller(&vec![b' '; MAX_INFLATED * 4]).unwrap();
        assert_eq!(
            inflate(&bomb, MAX_INFLATED),
            Err(InflateError::TooLarge(MAX_INFLATED))
        );
        let zbomb = zlib_compress(&vec![0; MAX_INFLATED * 4]);
        assert!(zlib_decompress(&zbomb, MAX_INFLATED).is_err());
        assert_eq!(zlib_decompress(&zlib_compress(b"abc"), 10).unwrap(), b"abc");
        assert_eq!(inflate(b"\xff\xff", 10), Err(InflateError::Malformed));
    }
}
