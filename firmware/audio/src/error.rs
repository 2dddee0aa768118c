//! The crate's one error type. Every variant has a stable `code()` (what the server puts in its
//! JSON error and what tests assert) and words a person can read (`Display`).

/// Channel counts above this are refused: 7.1 is the most any music file needs.
pub const MAX_CHANNELS: usize = 8;
/// Sample rates outside this range are refused (telephone speech up to high-resolution studio).
pub const MIN_RATE: u32 = 8_000;
pub const MAX_RATE: u32 = 384_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudioError {
    #[error("this is not an audio format the box can play ({0})")]
    UnsupportedFormat(String),
    #[error("the audio codec is not supported ({0})")]
    UnsupportedCodec(String),
    #[error("the file has no audio track")]
    NoAudioTrack,
    #[error("the file holds no audio")]
    Empty,
    #[error("the audio data is corrupt ({0})")]
    Corrupt(String),
    #[error("the audio has {0} channels; at most {MAX_CHANNELS} are supported")]
    TooManyChannels(usize),
    #[error("the audio's sample rate ({0} Hz) is outside {MIN_RATE}–{MAX_RATE} Hz")]
    BadSampleRate(u32),
    #[error("the file is too large to handle ({0})")]
    TooLarge(String),
    #[error("this source cannot seek")]
    NotSeekable,
    #[error("reading the audio failed: {0}")]
    Io(String),
    #[error("the stream stopped sending data")]
    Stalled,
    #[error("the Opus codec failed: {0}")]
    Opus(String),
}

impl AudioError {
    /// A stable, machine-readable code (snake_case); never changes once shipped.
    pub fn code(&self) -> &'static str {
        match self {
            AudioError::UnsupportedFormat(_) => "unsupported_format",
            AudioError::UnsupportedCodec(_) => "unsupported_codec",
            AudioError::NoAudioTrack => "no_audio_track",
            AudioError::Empty => "empty",
            AudioError::Corrupt(_) => "corrupt",
            AudioError::TooManyChannels(_) => "too_many_channels",
            AudioError::BadSampleRate(_) => "bad_sample_rate",
            AudioError::TooLarge(_) => "too_large",
            AudioError::NotSeekable => "not_seekable",
            AudioError::Io(_) => "io",
            AudioError::Stalled => "stalled",
            AudioError::Opus(_) => "opus",
        }
    }

    pub(crate) fn io(err: &std::io::Error) -> AudioError {
        if err.kind() == std::io::ErrorKind::TimedOut {
            AudioError::Stalled
        } else {
            AudioError::Io(err.to_string())
        }
    }
}

impl From<opus::Error> for AudioError {
    fn from(err: opus::Error) -> Self {
        AudioError::Opus(err.to_string())
    }
}

/// Checks a source's announced format against the limits above.
pub(crate) fn check_format(rate: u32, channels: usize) -> Result<(), AudioError> {
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(AudioError::BadSampleRate(rate));
    }
    if channels > MAX_CHANNELS {
        return Err(AudioError::TooManyChannels(channels));
    }
    if channels == 0 {
        return Err(AudioError::Corrupt("no channels".into()));
    }
    Ok(())
}
