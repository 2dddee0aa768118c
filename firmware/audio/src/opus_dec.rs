//! Opus decoding for Ogg Opus (symphonia demuxes it but has no Opus decoder): the `OpusHead`
//! identification header (RFC 7845 §5.1) picks a plain or multistream libopus decoder, always at
//! 48 kHz; the header's output gain is applied; the demuxer's trims drop pre-skip and padding.

use crate::convert::Layout;
use crate::error::AudioError;

/// 120 ms at 48 kHz: the longest an Opus packet can be.
const MAX_PACKET_FRAMES: usize = 5760;

pub(crate) struct OpusDec {
    kind: Kind,
    pub(crate) channels: usize,
    pub(crate) layout: Layout,
    gain: f32,
}

enum Kind {
    Plain(opus::Decoder),
    Multi(opus::MSDecoder),
}

impl OpusDec {
    pub(crate) fn from_head(head: &[u8]) -> Result<OpusDec, AudioError> {
        let bad = |why: &str| AudioError::Corrupt(format!("Opus header: {why}"));
        if head.len() < 19 || &head[..8] != b"OpusHead" {
            return Err(bad("missing"));
        }
        if head[8] >> 4 != 0 {
            return Err(AudioError::UnsupportedCodec(format!(
                "Opus header version {}",
                head[8]
            )));
        }
        let channels = usize::from(head[9]);
        if channels == 0 {
            return Err(bad("no channels"));
        }
        if channels > crate::error::MAX_CHANNELS {
            return Err(AudioError::TooManyChannels(channels));
        }
        let gain_q8 = i16::from_le_bytes([head[16], head[17]]);
        let family = head[18];
        let (kind, layout) = if family == 0 {
            let ch = match channels {
                1 => opus::Channels::Mono,
                2 => opus::Channels::Stereo,
                _ => return Err(bad("family 0 with more than two channels")),
            };
            (
                Kind::Plain(opus::Decoder::new(48_000, ch)?),
                Layout::default_for(channels),
            )
        } else {
            let table = head
                .get(19..21 + channels)
                .ok_or_else(|| bad("short channel mapping"))?;
            let (streams, coupled, mapping) = (table[0], table[1], &table[2..]);
            if streams == 0
                || coupled > streams
                || mapping.iter().any(|&m| m != 255 && m >= streams + coupled)
            {
                return Err(bad("channel mapping out of range"));
            }
            let layout = if family == 1 {
                Layout::vorbis_order(channels)
            } else {
                Layout::default_for(channels)
            };
            (
                Kind::Multi(opus::MSDecoder::new(48_000, streams, coupled, mapping)?),
                layout,
            )
        };
        Ok(OpusDec {
            kind,
            channels,
            layout,
            gain: 10f32.powf(f32::from(gain_q8) / 256.0 / 20.0),
        })
    }

    /// Decodes one packet into `out` (interleaved, 48 kHz), replacing its contents.
    pub(crate) fn decode(&mut self, packet: &[u8], out: &mut Vec<f32>) -> Result<(), AudioError> {
        out.resize(MAX_PACKET_FRAMES * self.channels, 0.0);
        let frames = match &mut self.kind {
            Kind::Plain(d) => d.decode_float(packet, out, false),
            Kind::Multi(d) => d.decode_float(packet, out, false),
        }
        .map_err(|e| AudioError::Corrupt(format!("Opus packet: {e}")))?;
        out.truncate(frames * self.channels);
        if self.gain != 1.0 {
            out.iter_mut().for_each(|s| *s *= self.gain);
        }
        Ok(())
    }

    pub(crate) fn reset(&mut self) {
        let _ = match &mut self.kind {
            Kind::Plain(d) => d.reset_state(),
            Kind::Multi(d) => d.reset_state(),
        };
    }
}
