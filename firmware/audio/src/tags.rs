//! The few tags the box uses, read out of symphonia's metadata revisions: title, artist, album,
//! track number, ReplayGain (track gain and peak), Opus's R128 track gain, and a cover picture.
//! Values that do not parse or are absurd are ignored, never an error.

use symphonia::core::meta::{MetadataRevision, RawValue, StandardTag, StandardVisualKey, Tag};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tags {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub track_number: Option<u32>,
    pub replaygain: Option<ReplayGain>,
    /// `R128_TRACK_GAIN` (Opus), in dB: the gain that brings the track to −23 LUFS.
    pub r128_track_gain_db: Option<f32>,
    pub cover: Option<Picture>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplayGain {
    /// The gain that brings the track to the ReplayGain 2 reference (−18 LUFS).
    pub track_gain_db: f32,
    /// The track's sample peak, linear (1.0 = full scale).
    pub track_peak: Option<f32>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Picture {
    pub mime: String,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Picture({}, {} bytes)", self.mime, self.data.len())
    }
}

/// Longest text tag kept (a title of a megabyte is junk).
const MAX_TEXT: usize = 512;

impl Tags {
    /// Folds one metadata revision in (later revisions win, as a chained stream's next song).
    pub(crate) fn merge(&mut self, rev: &MetadataRevision, max_cover: usize) {
        let tags = rev
            .media
            .tags
            .iter()
            .chain(rev.per_track.iter().flat_map(|t| t.metadata.tags.iter()));
        let mut gain = None;
        let mut peak = None;
        for tag in tags {
            self.merge_tag(tag, &mut gain, &mut peak);
        }
        if let Some(track_gain_db) = gain {
            self.replaygain = Some(ReplayGain {
                track_gain_db,
                track_peak: peak,
            });
        }
        let visuals = rev
            .media
            .visuals
            .iter()
            .chain(rev.per_track.iter().flat_map(|t| t.metadata.visuals.iter()));
        let mut best: Option<(bool, Picture)> = None;
        for v in visuals {
            if v.data.is_empty() || v.data.len() > max_cover {
                continue;
            }
            let front = v.usage == Some(StandardVisualKey::FrontCover);
            if best
                .as_ref()
                .is_some_and(|(was_front, _)| *was_front || !front)
            {
                continue;
            }
            let mime = v
                .media_type
                .clone()
                .filter(|m| m.starts_with("image/"))
                .or_else(|| sniff_image(&v.data));
            if let Some(mime) = mime {
                best = Some((
                    front,
                    Picture {
                        mime,
                        data: v.data.to_vec(),
                    },
                ));
            }
        }
        if let Some((_, pic)) = best {
            self.cover = Some(pic);
        }
    }

    fn merge_tag(&mut self, tag: &Tag, gain: &mut Option<f32>, peak: &mut Option<f32>) {
        match &tag.std {
            Some(StandardTag::TrackTitle(s)) => self.title = text(s),
            Some(StandardTag::Artist(s)) => self.artist = text(s),
            Some(StandardTag::Album(s)) => self.album = text(s),
            Some(StandardTag::TrackNumber(n)) => self.track_number = u32::try_from(*n).ok(),
            Some(StandardTag::ReplayGainTrackGain(s)) => *gain = parse_gain(s).or(*gain),
            Some(StandardTag::ReplayGainTrackPeak(s)) => *peak = parse_peak(s).or(*peak),
            _ => {
                let key = tag.raw.key.to_ascii_uppercase();
                let value = match &tag.raw.value {
                    RawValue::String(s) => s.as_str().to_owned(),
                    RawValue::StringList(l) => l.first().cloned().unwrap_or_default(),
                    _ => return,
                };
                if key.ends_with("REPLAYGAIN_TRACK_GAIN") {
                    *gain = parse_gain(&value).or(*gain);
                } else if key.ends_with("REPLAYGAIN_TRACK_PEAK") {
                    *peak = parse_peak(&value).or(*peak);
                } else if key.ends_with("R128_TRACK_GAIN") {
                    // Q7.8 fixed point (RFC 7845 §5.2.1).
                    if let Ok(q) = value.trim().parse::<i16>() {
                        self.r128_track_gain_db = Some(f32::from(q) / 256.0);
                    }
                }
            }
        }
    }
}

fn text(s: &str) -> Option<String> {
    let t = s.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if t.is_empty() {
        return None;
    }
    let mut end = t.len().min(MAX_TEXT);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    Some(t[..end].to_owned())
}

/// "-6.54 dB" → −6.54. Gains beyond ±60 dB are junk.
pub(crate) fn parse_gain(s: &str) -> Option<f32> {
    let t = s.trim();
    let t = t
        .strip_suffix("dB")
        .or_else(|| t.strip_suffix("db"))
        .or_else(|| t.strip_suffix("DB"))
        .unwrap_or(t);
    let g: f32 = t.trim().parse().ok()?;
    (g.is_finite() && g.abs() <= 60.0).then_some(g)
}

fn parse_peak(s: &str) -> Option<f32> {
    let p: f32 = s.trim().parse().ok()?;
    (p.is_finite() && p > 0.0 && p <= 16.0).then_some(p)
}

fn sniff_image(data: &[u8]) -> Option<String> {
    let mime = match data {
        [0xff, 0xd8, 0xff, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        _ => return None,
    };
    Some(mime.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gains_parse_and_junk_is_ignored() {
        assert_eq!(parse_gain("-6.50 dB"), Some(-6.5));
        assert_eq!(parse_gain(" +3.1 dB "), Some(3.1));
        assert_eq!(parse_gain("2"), Some(2.0));
        assert_eq!(parse_gain("loud"), None);
        assert_eq!(parse_gain("-900 dB"), None);
        assert_eq!(parse_gain("NaN dB"), None);
        assert_eq!(parse_peak("0.988"), Some(0.988));
        assert_eq!(parse_peak("-1"), None);
    }

    #[test]
    fn long_titles_are_cut_on_a_char_boundary() {
        let long = "é".repeat(1000);
        let t = text(&long).expect("text");
        assert!(t.len() <= MAX_TEXT && t.chars().all(|c| c == 'é'));
        assert_eq!(text("  \0 "), None);
    }
}
