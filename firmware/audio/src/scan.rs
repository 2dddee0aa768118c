//! The music library's probe of one file: tags, format, duration, cover art, and (when asked) a
//! whole decode for the measured loudness. Blocking; run it on a background thread at upload or
//! scan time. A missing title falls back to the file name without its extension.

use std::path::Path;

use symphonia::core::formats::probe::Hint;
use symphonia::core::io::MediaSource;

use crate::decode::{DecodeOptions, Decoder};
use crate::error::AudioError;
use crate::frames::FrameReader;
use crate::loudness::{gain_for_loudness, Meter, TARGET_LUFS};
use crate::tags::{Picture, ReplayGain};
use crate::{FRAME_LEN, FRAME_MS};

#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Decode the whole file and measure its loudness.
    pub measure: bool,
    pub max_cover_bytes: u64,
    pub target_lufs: f32,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            measure: false,
            max_cover_bytes: 4 << 20,
            target_lufs: TARGET_LUFS,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrackInfo {
    pub title: String,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub track_number: Option<u32>,
    /// From the container, or counted by the measuring decode.
    pub duration_ms: Option<u64>,
    pub format: String,
    pub codec: String,
    pub rate: u32,
    pub channels: usize,
    pub replaygain: Option<ReplayGain>,
    pub r128_track_gain_db: Option<f32>,
    pub cover: Option<Picture>,
    pub loudness: Option<Loudness>,
    /// Packets skipped as undecodable during the measuring decode.
    pub bad_packets: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loudness {
    pub integrated_lufs: f32,
    /// Sample peak of the internal format (linear).
    pub peak: f32,
    /// What to pass to `Player::load` to play it at the target.
    pub gain_db: f32,
}

pub fn scan_file(path: &Path, opts: &ScanOptions) -> Result<TrackInfo, AudioError> {
    let file = std::fs::File::open(path).map_err(|e| AudioError::io(&e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    scan(Box::new(file), &hint_for_path(path), &name, opts)
}

pub fn scan(
    source: Box<dyn MediaSource>,
    hint: &Hint,
    file_name: &str,
    opts: &ScanOptions,
) -> Result<TrackInfo, AudioError> {
    let decode = DecodeOptions {
        max_picture_bytes: opts.max_cover_bytes,
        ..DecodeOptions::default()
    };
    let dec = Decoder::open(source, hint, &decode)?;
    let tags = dec.tags().clone();
    let mut info = dec.info().clone();
    let mut loudness = None;
    let mut bad_packets = 0;
    if opts.measure {
        let mut reader = FrameReader::new(dec);
        let mut meter = Meter::new();
        let mut frame = [0.0; FRAME_LEN];
        let mut frames = 0u64;
        while reader.next_frame(&mut frame)? {
            meter.push(&frame);
            frames += 1;
        }
        // The rate and channels may only be known once decoding started (ADTS, some MP3s).
        info = reader.decoder().info().clone();
        bad_packets = reader.decoder().bad_packets();
        if info.duration_ms.is_none() {
            info.duration_ms = Some(frames * u64::from(FRAME_MS));
        }
        loudness = meter.integrated_lufs().map(|l| Loudness {
            integrated_lufs: l,
            peak: meter.peak(),
            gain_db: gain_for_loudness(l, opts.target_lufs)
                .min(-20.0 * meter.peak().max(1e-6).log10()),
        });
    }
    let title = tags
        .title
        .clone()
        .unwrap_or_else(|| title_from_file_name(file_name));
    Ok(TrackInfo {
        title,
        artist: tags.artist,
        album: tags.album,
        track_number: tags.track_number,
        duration_ms: info.duration_ms,
        format: info.format,
        codec: info.codec,
        rate: info.rate,
        channels: info.channels,
        replaygain: tags.replaygain,
        r128_track_gain_db: tags.r128_track_gain_db,
        cover: tags.cover,
        loudness,
        bad_packets,
    })
}

/// "03 - Song.flac" → "03 - Song"; an empty name → "Untitled".
pub fn title_from_file_name(name: &str) -> String {
    let stem = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 5 => stem,
        _ => name,
    };
    let t = stem.trim();
    if t.is_empty() {
        "Untitled".to_owned()
    } else {
        t.chars().take(256).collect()
    }
}

pub fn hint_for_path(path: &Path) -> Hint {
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(&ext.to_ascii_lowercase());
    }
    hint
}

/// A hint from an HTTP `Content-Type` (parameters dropped).
pub fn hint_for_mime(content_type: &str) -> Hint {
    let mut hint = Hint::new();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !mime.is_empty() {
        hint.mime_type(&mime);
    }
    let ext = match mime.as_str() {
        "audio/mpeg" | "audio/mp3" => Some("mp3"),
        "audio/aac" | "audio/aacp" | "audio/x-aac" => Some("aac"),
        "audio/ogg" | "application/ogg" | "audio/opus" | "audio/vorbis" => Some("ogg"),
        "audio/flac" | "audio/x-flac" => Some("flac"),
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" => Some("m4a"),
        "audio/wav" | "audio/x-wav" | "audio/wave" => Some("wav"),
        _ => None,
    };
    if let Some(ext) = ext {
        hint.with_extension(ext);
    }
    hint
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_from_file_names() {
        assert_eq!(title_from_file_name("03 - Song.flac"), "03 - Song");
        assert_eq!(title_from_file_name("no extension"), "no extension");
        assert_eq!(title_from_file_name(".mp3"), ".mp3");
        assert_eq!(title_from_file_name("   "), "Untitled");
        assert_eq!(title_from_file_name("a.b.mp3"), "a.b");
    }
}
