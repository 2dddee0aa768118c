//! Channel mapping to the internal stereo: mono goes to both sides at its own level; stereo is
//! untouched; more channels are folded down ITU-style (front pair as is, centre and surrounds at
//! −3 dB into their side, LFE dropped), then scaled so in-phase material never exceeds full scale
//! (a tone at the same level in every main channel comes out at that level).

use symphonia::core::audio::{Channels, Position};

/// What one decoded channel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Mono,
    Left,
    Right,
    Center,
    Lfe,
    SurroundLeft,
    SurroundRight,
    /// Rear/top centre, or a channel with no known position: a little into both sides.
    Other,
}

/// The channels of a decoded stream, in their interleaved order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout(pub Vec<Role>);

impl Layout {
    pub fn channels(&self) -> usize {
        self.0.len()
    }

    /// A layout for `n` channels of unknown position (WAV default order for common counts).
    pub fn default_for(n: usize) -> Layout {
        use Role::*;
        let roles = match n {
            1 => vec![Mono],
            2 => vec![Left, Right],
            3 => vec![Left, Right, Center],
            4 => vec![Left, Right, SurroundLeft, SurroundRight],
            5 => vec![Left, Right, Center, SurroundLeft, SurroundRight],
            6 => vec![Left, Right, Center, Lfe, SurroundLeft, SurroundRight],
            7 => vec![Left, Right, Center, Lfe, Other, SurroundLeft, SurroundRight],
            8 => vec![
                Left,
                Right,
                Center,
                Lfe,
                SurroundLeft,
                SurroundRight,
                SurroundLeft,
                SurroundRight,
            ],
            n => vec![Other; n],
        };
        Layout(roles)
    }

    /// The order symphonia's decoders produce (its canonical order: ascending position bits).
    pub fn from_symphonia(ch: &Channels) -> Layout {
        match ch {
            Channels::Positioned(pos) => {
                let roles: Vec<Role> = (0..64)
                    .map(|bit| 1u64 << bit)
                    .filter(|b| pos.bits() & b != 0)
                    .map(|b| role_of(Position::from_bits_truncate(b)))
                    .collect();
                if roles.len() == 1 {
                    Layout(vec![Role::Mono])
                } else {
                    Layout(roles)
                }
            }
            other => Layout::default_for(other.count()),
        }
    }

    /// Opus/Vorbis channel order (RFC 7845 §5.1.1.2), for Opus mapping family 1.
    pub fn vorbis_order(n: usize) -> Layout {
        use Role::*;
        let roles = match n {
            1 => vec![Mono],
            2 => vec![Left, Right],
            3 => vec![Left, Center, Right],
            4 => vec![Left, Right, SurroundLeft, SurroundRight],
            5 => vec![Left, Center, Right, SurroundLeft, SurroundRight],
            6 => vec![Left, Center, Right, SurroundLeft, SurroundRight, Lfe],
            7 => vec![Left, Center, Right, SurroundLeft, SurroundRight, Other, Lfe],
            8 => vec![
                Left,
                Center,
                Right,
                SurroundLeft,
                SurroundRight,
                SurroundLeft,
                SurroundRight,
                Lfe,
            ],
            n => vec![Other; n],
        };
        Layout(roles)
    }
}

fn role_of(p: Position) -> Role {
    if p == Position::FRONT_LEFT {
        Role::Left
    } else if p == Position::FRONT_RIGHT {
        Role::Right
    } else if p == Position::FRONT_CENTER {
        Role::Center
    } else if p == Position::LFE1 || p == Position::LFE2 {
        Role::Lfe
    } else if p.intersects(
        Position::REAR_LEFT
            | Position::SIDE_LEFT
            | Position::FRONT_LEFT_CENTER
            | Position::FRONT_LEFT_WIDE
            | Position::TOP_FRONT_LEFT
            | Position::TOP_REAR_LEFT
            | Position::TOP_SIDE_LEFT
            | Position::BOTTOM_FRONT_LEFT,
    ) {
        Role::SurroundLeft
    } else if p.intersects(
        Position::REAR_RIGHT
            | Position::SIDE_RIGHT
            | Position::FRONT_RIGHT_CENTER
            | Position::FRONT_RIGHT_WIDE
            | Position::TOP_FRONT_RIGHT
            | Position::TOP_REAR_RIGHT
            | Position::TOP_SIDE_RIGHT
            | Position::BOTTOM_FRONT_RIGHT,
    ) {
        Role::SurroundRight
    } else {
        Role::Other
    }
}

/// Folds interleaved audio of one layout into interleaved stereo.
#[derive(Debug, Clone)]
pub struct Downmix {
    layout: Layout,
    /// Per input channel: (into left, into right).
    coeffs: Vec<(f32, f32)>,
}

const M3DB: f32 = std::f32::consts::FRAC_1_SQRT_2;

impl Downmix {
    pub fn new(layout: Layout) -> Downmix {
        let mut coeffs: Vec<(f32, f32)> = layout
            .0
            .iter()
            .map(|r| match r {
                Role::Mono => (1.0, 1.0),
                Role::Left => (1.0, 0.0),
                Role::Right => (0.0, 1.0),
                Role::Center => (M3DB, M3DB),
                Role::Lfe => (0.0, 0.0),
                Role::SurroundLeft => (M3DB, 0.0),
                Role::SurroundRight => (0.0, M3DB),
                Role::Other => (0.5, 0.5),
            })
            .collect();
        // A lone "Left" or "Right" (a two-channel stream of unknown roles) still reaches both sides.
        if coeffs.iter().all(|c| c.1 == 0.0) || coeffs.iter().all(|c| c.0 == 0.0) {
            for c in &mut coeffs {
                let m = c.0.max(c.1);
                *c = (m, m);
            }
        }
        let left: f32 = coeffs.iter().map(|c| c.0).sum();
        let right: f32 = coeffs.iter().map(|c| c.1).sum();
        let norm = left.max(right);
        if norm > 1.0 {
            for c in &mut coeffs {
                c.0 /= norm;
                c.1 /= norm;
            }
        }
        Downmix { layout, coeffs }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Appends the stereo version of `input` (whole frames only) to `out`.
    pub fn apply(&self, input: &[f32], out: &mut Vec<f32>) {
        let n = self.coeffs.len();
        match n {
            1 => {
                out.reserve(input.len() * 2);
                for &s in input {
                    out.push(s);
                    out.push(s);
                }
            }
            2 if self.coeffs == [(1.0, 0.0), (0.0, 1.0)] => out.extend_from_slice(input),
            _ => {
                out.reserve(input.len() / n * 2);
                for frame in input.chunks_exact(n) {
                    let (mut l, mut r) = (0.0f32, 0.0f32);
                    for (s, c) in frame.iter().zip(&self.coeffs) {
                        l += s * c.0;
                        r += s * c.1;
                    }
                    out.push(l);
                    out.push(r);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_goes_to_both_sides_at_its_level() {
        let mut out = Vec::new();
        Downmix::new(Layout::default_for(1)).apply(&[0.5, -0.25], &mut out);
        assert_eq!(out, [0.5, 0.5, -0.25, -0.25]);
    }

    #[test]
    fn five_one_keeps_in_phase_level_and_drops_lfe() {
        let d = Downmix::new(Layout::default_for(6));
        let mut out = Vec::new();
        // The same sample in every main channel, something loud in the LFE.
        d.apply(&[0.5, 0.5, 0.5, 0.9, 0.5, 0.5], &mut out);
        assert!(
            (out[0] - 0.5).abs() < 1e-6 && (out[1] - 0.5).abs() < 1e-6,
            "{out:?}"
        );
        // Left only reaches the left.
        let mut out = Vec::new();
        d.apply(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0], &mut out);
        assert!(out[0] > 0.3 && out[1] == 0.0);
    }

    #[test]
    fn symphonia_positions_map_in_bit_order() {
        let pos =
            Position::FRONT_LEFT | Position::FRONT_RIGHT | Position::FRONT_CENTER | Position::LFE1;
        let l = Layout::from_symphonia(&Channels::Positioned(pos));
        assert_eq!(l.0, vec![Role::Left, Role::Right, Role::Center, Role::Lfe]);
        let mono = Layout::from_symphonia(&Channels::Positioned(Position::FRONT_CENTER));
        assert_eq!(mono.0, vec![Role::Mono]);
    }
}
