//! Decode: a `MediaSource` (a file, or a non-seekable stream) in, interleaved `f32` at the
//! source's own rate and channels out, one packet at a time.
//!
//! Decisions:
//! - symphonia probes the container (the `Hint`'s extension/MIME only orders the guesses) and the
//!   first audio track with a known codec is played. Opus (no symphonia decoder) goes to libopus.
//! - Everything symphonia reads passes `guard::Guard` first (oversized tags and pictures never
//!   reach memory), and the metadata limits are set too, for when symphonia enforces them.
//! - Rates outside 8–384 kHz and more than 8 channels are refused as soon as they are known.
//! - A packet that fails to decode is skipped and counted; `max_bad_packets` in a row (or a
//!   stream that never yields a good one) ends the decode as `corrupt`. A truncated file ends
//!   where its data ends. A chained Ogg stream (an internet radio's next song) re-selects its
//!   track and carries on, with the new song's tags.
//! - Seeking is sample-accurate where the format allows: symphonia seeks to the packet before,
//!   the samples up to the wanted time are dropped here.

use symphonia::core::codecs::audio::well_known as codecs;
use symphonia::core::codecs::audio::{AudioCodecId, AudioDecoder, AudioDecoderOptions};
use symphonia::core::codecs::CodecParameters;
use symphonia::core::common::Limit;
use symphonia::core::errors::{Error, SeekErrorKind};
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::{Time, TimeBase, Timestamp};

use crate::convert::Layout;
use crate::error::{check_format, AudioError};
use crate::guard::Guard;
use crate::opus_dec::OpusDec;
use crate::tags::Tags;

#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Largest tag block kept (an ID3v2 tag, a FLAC comment); larger ones are skipped unread.
    pub max_tag_bytes: u64,
    /// Total picture bytes kept (FLAC pictures over it are skipped unread; others are dropped).
    pub max_picture_bytes: u64,
    /// Bad packets in a row before the decode gives up as `corrupt`.
    pub max_bad_packets: u32,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_tag_bytes: 16 << 20,
            max_picture_bytes: 4 << 20,
            max_bad_packets: 64,
        }
    }
}

/// What a source turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    /// Container, as symphonia names it ("wave", "flac", "ogg", "isomp4", "mp3"…).
    pub format: String,
    /// "mp3", "flac", "aac", "vorbis", "opus", "alac", "pcm"…
    pub codec: String,
    pub rate: u32,
    pub channels: usize,
    pub duration_ms: Option<u64>,
    pub seekable: bool,
}

/// One decoded packet.
pub struct Chunk<'a> {
    pub samples: &'a [f32],
    pub rate: u32,
    pub layout: &'a Layout,
}

enum Codec {
    Symphonia(Box<dyn AudioDecoder>),
    Opus(OpusDec),
}

pub struct Decoder {
    reader: Box<dyn FormatReader>,
    codec: Codec,
    track_id: u32,
    time_base: Option<TimeBase>,
    info: SourceInfo,
    layout: Layout,
    buf: Vec<f32>,
    tags: Tags,
    tags_changed: bool,
    max_cover: usize,
    max_bad: u32,
    bad_in_row: u32,
    bad_total: u64,
    good_total: u64,
    /// Frames still to drop after an accurate seek.
    skip: u64,
    ended: bool,
}

impl Decoder {
    pub fn open(
        source: Box<dyn MediaSource>,
        hint: &Hint,
        opts: &DecodeOptions,
    ) -> Result<Decoder, AudioError> {
        guarded(|| Decoder::open_inner(source, hint, opts))
    }

    fn open_inner(
        source: Box<dyn MediaSource>,
        hint: &Hint,
        opts: &DecodeOptions,
    ) -> Result<Decoder, AudioError> {
        let guard = Guard::new(source, opts.max_tag_bytes, opts.max_picture_bytes)?;
        let seekable = guard.is_seekable();
        let mss = MediaSourceStream::new(Box::new(guard), Default::default());
        let meta = MetadataOptions::default()
            .limit_tag_bytes(Limit::Maximum(opts.max_tag_bytes as usize))
            .limit_visual_bytes(Limit::Maximum(opts.max_picture_bytes as usize));
        let mut reader = symphonia::default::get_probe()
            .probe(hint, mss, FormatOptions::default(), meta)
            .map_err(probe_error)?;
        let mut tags = Tags::default();
        read_metadata(reader.as_mut(), &mut tags, opts.max_picture_bytes as usize);
        let (track_id, time_base, codec, info, layout) = select_track(reader.as_ref(), seekable)?;
        Ok(Decoder {
            reader,
            codec,
            track_id,
            time_base,
            info,
            layout,
            buf: Vec::new(),
            tags,
            tags_changed: true,
            max_cover: opts.max_picture_bytes as usize,
            max_bad: opts.max_bad_packets.max(1),
            bad_in_row: 0,
            bad_total: 0,
            good_total: 0,
            skip: 0,
            ended: false,
        })
    }

    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    pub fn tags(&self) -> &Tags {
        &self.tags
    }

    /// The tags, if they changed since the last call (the first call always returns them).
    pub fn take_changed_tags(&mut self) -> Option<&Tags> {
        std::mem::take(&mut self.tags_changed).then_some(&self.tags)
    }

    /// Packets skipped because they did not decode.
    pub fn bad_packets(&self) -> u64 {
        self.bad_total
    }

    /// The next decoded packet; `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk<'_>>, AudioError> {
        if !guarded(|| self.step())? {
            return Ok(None);
        }
        Ok(Some(Chunk {
            samples: &self.buf,
            rate: self.info.rate,
            layout: &self.layout,
        }))
    }

    /// Decodes the next packet into `buf`; false at the end.
    fn step(&mut self) -> Result<bool, AudioError> {
        loop {
            if self.ended {
                return Ok(false);
            }
            let packet = match self.reader.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return self.end(),
                Err(Error::ResetRequired) => {
                    self.reselect()?;
                    continue;
                }
                Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return self.end()
                }
                Err(Error::IoError(e)) => return Err(AudioError::io(&e)),
                Err(Error::DecodeError(why)) => {
                    self.bad(why)?;
                    continue;
                }
                Err(e) => return Err(map_error(e)),
            };
            if !self.reader.metadata().is_latest()
                && read_metadata(self.reader.as_mut(), &mut self.tags, self.max_cover)
            {
                self.tags_changed = true;
            }
            if packet.track_id != self.track_id {
                continue;
            }
            let result = match &mut self.codec {
                Codec::Symphonia(dec) => match dec.decode(&packet) {
                    Ok(audio) => {
                        let spec = audio.spec();
                        let (rate, layout) = (spec.rate(), Layout::from_symphonia(spec.channels()));
                        audio.copy_to_vec_interleaved(&mut self.buf);
                        Ok(Some((rate, layout)))
                    }
                    Err(Error::DecodeError(why)) => Err(why.to_string()),
                    Err(Error::IoError(e)) => Err(e.to_string()),
                    Err(Error::ResetRequired) => {
                        self.reselect()?;
                        continue;
                    }
                    Err(e) => return Err(map_error(e)),
                },
                Codec::Opus(dec) => match dec.decode(&packet.data, &mut self.buf) {
                    Ok(()) => {
                        // The demuxer's trims (pre-skip, end padding) are in 48 kHz frames.
                        let ch = dec.channels;
                        let frames = self.buf.len() / ch;
                        let start = (packet.trim_start.get() as usize).min(frames);
                        let end = frames
                            .saturating_sub(packet.trim_end.get() as usize)
                            .max(start);
                        self.buf.truncate(end * ch);
                        self.buf.drain(..start * ch);
                        Ok(None)
                    }
                    Err(e) => Err(e.to_string()),
                },
            };
            match result {
                Err(why) => {
                    self.bad(&why)?;
                    continue;
                }
                Ok(Some((rate, layout))) => {
                    check_format(rate, layout.channels())?;
                    self.info.rate = rate;
                    self.info.channels = layout.channels();
                    self.layout = layout;
                }
                Ok(None) => {}
            }
            self.bad_in_row = 0;
            self.good_total += 1;
            let ch = self.layout.channels().max(1);
            if self.skip > 0 {
                let drop = (self.skip as usize).min(self.buf.len() / ch);
                self.buf.drain(..drop * ch);
                self.skip -= drop as u64;
            }
            if self.buf.is_empty() {
                continue;
            }
            return Ok(true);
        }
    }

    /// Seeks to `ms` from the start. Past the end, the decode simply ends.
    pub fn seek(&mut self, ms: u64) -> Result<(), AudioError> {
        guarded(|| self.seek_inner(ms))
    }

    fn seek_inner(&mut self, ms: u64) -> Result<(), AudioError> {
        if !self.info.seekable {
            return Err(AudioError::NotSeekable);
        }
        let time = Time::try_from_secs_f64(ms as f64 / 1000.0).ok_or(AudioError::NotSeekable)?;
        let to = SeekTo::Time {
            time,
            track_id: Some(self.track_id),
        };
        match self.reader.seek(SeekMode::Accurate, to) {
            Ok(seeked) => {
                self.ended = false;
                let delta = seeked
                    .required_ts
                    .get()
                    .saturating_sub(seeked.actual_ts.get())
                    .max(0);
                self.skip = match self.time_base {
                    Some(tb) => tb
                        .calc_time(Timestamp::new(delta))
                        .map(|t| (t.as_secs_f64() * f64::from(self.info.rate)) as u64)
                        .unwrap_or(0),
                    None => 0,
                };
            }
            Err(Error::SeekError(SeekErrorKind::OutOfRange)) => self.ended = true,
            Err(Error::SeekError(_)) => return Err(AudioError::NotSeekable),
            Err(Error::IoError(e)) => return Err(AudioError::io(&e)),
            Err(e) => return Err(map_error(e)),
        }
        match &mut self.codec {
            Codec::Symphonia(d) => d.reset(),
            Codec::Opus(d) => d.reset(),
        }
        Ok(())
    }

    fn end(&mut self) -> Result<bool, AudioError> {
        self.ended = true;
        if self.good_total == 0 {
            return Err(if self.bad_total > 0 {
                AudioError::Corrupt("no packet decoded".into())
            } else {
                AudioError::Empty
            });
        }
        Ok(false)
    }

    fn bad(&mut self, why: &str) -> Result<(), AudioError> {
        self.bad_in_row += 1;
        self.bad_total += 1;
        tracing::debug!(why, "skipping a bad packet");
        if self.bad_in_row >= self.max_bad {
            return Err(AudioError::Corrupt(format!(
                "{} bad packets in a row ({why})",
                self.bad_in_row
            )));
        }
        Ok(())
    }

    /// A chained stream changed its tracks: pick the audio track again.
    fn reselect(&mut self) -> Result<(), AudioError> {
        read_metadata(self.reader.as_mut(), &mut self.tags, self.max_cover);
        self.tags_changed = true;
        let (track_id, time_base, codec, info, layout) =
            select_track(self.reader.as_ref(), self.info.seekable)?;
        self.track_id = track_id;
        self.time_base = time_base;
        self.codec = codec;
        self.info = info;
        self.layout = layout;
        Ok(())
    }
}

/// Runs symphonia under `catch_unwind`: a decoder bug on hostile data (symphonia 0.6 still has
/// unchecked arithmetic in places) becomes a `corrupt` error, never a dead DJ thread.
fn guarded<T>(f: impl FnOnce() -> Result<T, AudioError>) -> Result<T, AudioError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(AudioError::Corrupt(
            "the decoder failed on this data".into(),
        ))
    })
}

type Selected = (u32, Option<TimeBase>, Codec, SourceInfo, Layout);

fn select_track(reader: &dyn FormatReader, seekable: bool) -> Result<Selected, AudioError> {
    let track = reader
        .default_track(TrackType::Audio)
        .or_else(|| reader.first_track(TrackType::Audio))
        .ok_or(AudioError::NoAudioTrack)?;
    let Some(CodecParameters::Audio(params)) = &track.codec_params else {
        return Err(AudioError::NoAudioTrack);
    };
    let name = codec_name(params.codec);
    let (codec, rate, layout) = if params.codec == codecs::CODEC_ID_OPUS {
        let head = params
            .extra_data
            .as_deref()
            .ok_or_else(|| AudioError::Corrupt("Opus header missing".into()))?;
        let dec = OpusDec::from_head(head)?;
        let layout = dec.layout.clone();
        (Codec::Opus(dec), 48_000, layout)
    } else {
        if let Some(ch) = &params.channels {
            if ch.count() > crate::error::MAX_CHANNELS {
                return Err(AudioError::TooManyChannels(ch.count()));
            }
        }
        let rate = params.sample_rate.unwrap_or(0);
        if rate != 0 {
            check_format(
                rate,
                params.channels.as_ref().map(|c| c.count()).unwrap_or(1),
            )?;
        }
        let dec = symphonia::default::get_codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default())
            .map_err(|e| match e {
                Error::Unsupported(_) => AudioError::UnsupportedCodec(name.to_owned()),
                other => map_error(other),
            })?;
        let layout = params
            .channels
            .as_ref()
            .map(Layout::from_symphonia)
            .unwrap_or_else(|| Layout::default_for(2));
        (Codec::Symphonia(dec), rate, layout)
    };
    let time_base = track.time_base;
    let duration_ms = match (time_base, track.duration) {
        (Some(tb), Some(d)) => tb
            .calc_duration(d)
            .and_then(|t| u64::try_from(t.as_millis()).ok()),
        _ => None,
    };
    let info = SourceInfo {
        format: reader.format_info().short_name.to_owned(),
        codec: name.to_owned(),
        rate,
        channels: layout.channels(),
        duration_ms,
        seekable,
    };
    Ok((track.id, time_base, codec, info, layout))
}

/// Folds every pending metadata revision into `tags`; true if there was one.
fn read_metadata(reader: &mut dyn FormatReader, tags: &mut Tags, max_cover: usize) -> bool {
    let mut md = reader.metadata();
    let mut any = false;
    loop {
        if let Some(rev) = md.current() {
            tags.merge(rev, max_cover);
            any = true;
        }
        if md.pop().is_none() {
            break;
        }
    }
    any
}

fn codec_name(id: AudioCodecId) -> &'static str {
    match id {
        codecs::CODEC_ID_MP3 => "mp3",
        codecs::CODEC_ID_MP2 => "mp2",
        codecs::CODEC_ID_MP1 => "mp1",
        codecs::CODEC_ID_FLAC => "flac",
        codecs::CODEC_ID_AAC => "aac",
        codecs::CODEC_ID_VORBIS => "vorbis",
        codecs::CODEC_ID_OPUS => "opus",
        codecs::CODEC_ID_ALAC => "alac",
        codecs::CODEC_ID_ADPCM_MS
        | codecs::CODEC_ID_ADPCM_IMA_WAV
        | codecs::CODEC_ID_ADPCM_IMA_QT => "adpcm",
        codecs::CODEC_ID_PCM_ALAW | codecs::CODEC_ID_PCM_MULAW => "pcm",
        id if (codecs::CODEC_ID_PCM_S32LE..=codecs::CODEC_ID_PCM_F64BE_PLANAR).contains(&id) => {
            "pcm"
        }
        _ => "unknown",
    }
}

fn probe_error(e: Error) -> AudioError {
    match e {
        Error::Unsupported(why) => AudioError::UnsupportedFormat(why.to_owned()),
        Error::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            AudioError::Corrupt("the file ends inside its header".into())
        }
        other => map_error(other),
    }
}

fn map_error(e: Error) -> AudioError {
    match e {
        Error::IoError(e) => AudioError::io(&e),
        Error::DecodeError(why) => AudioError::Corrupt(why.to_owned()),
        Error::Unsupported(why) => AudioError::UnsupportedCodec(why.to_owned()),
        Error::LimitError(why) => AudioError::TooLarge(why.to_owned()),
        Error::SeekError(_) => AudioError::NotSeekable,
        other => AudioError::Corrupt(other.to_string()),
    }
}
