//! Stream compression: zstd (default, multithreaded) or gzip (zlib-rs). Object names carry the
//! codec suffix so a person restoring by hand knows to use `zstd -d` or `gunzip`.

use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodecKind {
    Zstd,
    Gzip,
    None,
}

const ZSTD_JOB_BYTES: u32 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec {
    pub kind: CodecKind,
    pub level: i32,
    /// zstd worker threads; 0 compresses on the calling thread.
    pub threads: u32,
}

impl Codec {
    /// Level 1: measured on 1.2 GB it keeps the backup under a fifth of the seed script's time
    /// (7.9 s against 9.0 s at level 3) for 3 % more bytes (docs/BENCHMARKS.md).
    pub const DEFAULT_ZSTD_LEVEL: i32 = 1;
    pub const DEFAULT_GZIP_LEVEL: i32 = 1;

    pub fn zstd(level: i32) -> Self {
        Codec {
            kind: CodecKind::Zstd,
            level,
            threads: 2,
        }
    }

    pub fn name(&self) -> &'static str {
        match self.kind {
            CodecKind::Zstd => "zstd",
            CodecKind::Gzip => "gzip",
            CodecKind::None => "none",
        }
    }

    pub fn suffix(&self) -> &'static str {
        match self.kind {
            CodecKind::Zstd => ".zst",
            CodecKind::Gzip => ".gz",
            CodecKind::None => "",
        }
    }

    pub fn from_name(name: &str) -> Option<CodecKind> {
        match name {
            "zstd" => Some(CodecKind::Zstd),
            "gzip" => Some(CodecKind::Gzip),
            "none" => Some(CodecKind::None),
            _ => None,
        }
    }

    pub fn level_range(kind: CodecKind) -> std::ops::RangeInclusive<i32> {
        match kind {
            CodecKind::Zstd => 1..=19,
            CodecKind::Gzip => 0..=9,
            CodecKind::None => 0..=0,
        }
    }

    pub fn encoder<'a, W: Write + Send + 'a>(&self, out: W) -> io::Result<Encoder<'a, W>> {
        Ok(match self.kind {
            CodecKind::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(out, self.level)?;
                // A frame checksum lets a reader detect damage even without the manifest.
                enc.include_checksum(true)?;
                if self.threads > 0 {
                    enc.multithread(self.threads)?;
                    // zstd's default job is 4x the window (8 MiB at level 3) with several jobs
                    // in flight per worker; small jobs keep memory bounded at a negligible
                    // cost in ratio.
                    enc.set_parameter(zstd::zstd_safe::CParameter::JobSize(ZSTD_JOB_BYTES))?;
                }
                Encoder::Zstd(enc)
            }
            CodecKind::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::new(self.level.clamp(0, 9) as u32),
            )),
            CodecKind::None => Encoder::Plain(out),
        })
    }

    /// A decoder for an object whose name ends with this codec's suffix.
    pub fn decoder<'a, R: Read + 'a>(kind: CodecKind, input: R) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match kind {
            CodecKind::Zstd => Box::new(zstd::stream::read::Decoder::new(input)?),
            CodecKind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
            CodecKind::None => Box::new(input),
        })
    }
}

pub enum Encoder<'a, W: Write> {
    Zstd(zstd::stream::write::Encoder<'a, W>),
    Gzip(flate2::write::GzEncoder<W>),
    Plain(W),
}

impl<W: Write> Encoder<'_, W> {
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Zstd(e) => e.finish(),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Plain(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Encoder<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Plain(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Zstd(e) => e.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Plain(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_codec_round_trips() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for kind in [CodecKind::Zstd, CodecKind::Gzip, CodecKind::None] {
            let codec = Codec {
                kind,
                level: 1,
                threads: 2,
            };
            let mut enc = codec.encoder(Vec::new()).unwrap();
            enc.write_all(&data).unwrap();
            let packed = enc.finish().unwrap();
            let mut out = Vec::new();
            Codec::decoder(kind, &packed[..])
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{kind:?}");
        }
    }
}
