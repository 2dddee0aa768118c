//! Connection quality of each participant, as the box measures it from str0m's statistics: the
//! round trip of the media path (ICE consent checks on the selected pair, else RTCP), the loss of
//! what the participant sends us (our receiver reports) and of what we send it (its receiver
//! reports). Fed stats events and time; says when a new figure is worth telling the room.

use std::time::{Duration, Instant};

use str0m::stats::{MediaEgressStats, MediaIngressStats, PeerStats};

/// How often str0m hands us statistics for each participant.
pub(crate) const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// A changed grade is told at once; changed figures with the same grade at most this often, so
/// room state stays a trickle (a few frames per person per minute on a steady call).
pub const QUALITY_REFRESH: Duration = Duration::from_secs(5);
/// Weight of a new loss sample: one lost burst should not flip the grade, a lasting loss should
/// within a few seconds; a link that got better is believed sooner (a grade that stays red
/// after the network recovered reads as broken).
const LOSS_RISE: f32 = 0.4;
const LOSS_FALL: f32 = 0.7;

/// Good: a call like in the same room. Fair: noticeable (delay, some dropouts). Poor: hard to
/// talk. Thresholds follow what people notice in a voice call (ITU-T G.114: one-way delay above
/// ~150 ms, i.e. a round trip over ~300 ms, hurts conversation; Opus hides a few % of loss).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grade {
    Good,
    Fair,
    Poor,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Good => "good",
            Grade::Fair => "fair",
            Grade::Poor => "poor",
        }
    }
}

/// The grade for a round trip (ms) and a loss (percent). An unknown round trip counts as fine.
pub fn grade(rtt_ms: Option<u32>, loss_pct: f32) -> Grade {
    let rtt = rtt_ms.unwrap_or(0);
    if rtt > 400 || loss_pct >= 8.0 {
        Grade::Poor
    } else if rtt > 200 || loss_pct >= 2.0 {
        Grade::Fair
    } else {
        Grade::Good
    }
}

/// One participant's figures as the room state shows them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    pub grade: Grade,
    /// Round trip between the box and the participant, in ms.
    pub rtt_ms: Option<u32>,
    /// The worse of the two directions' packet loss, in percent (one decimal).
    pub loss_pct: f32,
}

#[derive(Debug, Default)]
pub(crate) struct Meter {
    rtt: Option<Duration>,
    /// Smoothed loss fraction (0..1) of what the participant sends us.
    loss_in: Option<f32>,
    /// Smoothed loss fraction of what we send the participant (the worst of its streams this
    /// round; reset after each peer stats event).
    loss_out: Option<f32>,
    loss_out_round: Option<f32>,
    /// Whether anything new arrived since the last `poll`.
    fresh: bool,
    told: Option<(Quality, Instant)>,
}

fn smooth(old: Option<f32>, sample: f32) -> f32 {
    match old {
        Some(o) => o + if sample > o { LOSS_RISE } else { LOSS_FALL } * (sample - o),
        None => sample,
    }
}

impl Meter {
    pub(crate) fn peer(&mut self, s: &PeerStats) {
        // The selected pair's consent checks measure the path itself, with or without media.
        let ice = s.selected_candidate_pair.as_ref().and_then(|p| p.current_round_trip_time);
        if let Some(rtt) = ice.or(s.rtt) {
            self.rtt = Some(rtt);
        }
        if let Some(l) = self.loss_out_round.take() {
            self.loss_out = Some(smooth(self.loss_out, l));
        }
        self.fresh = true;
    }

    pub(crate) fn ingress(&mut self, s: &MediaIngressStats) {
        if let Some(l) = s.loss {
            self.loss_in = Some(smooth(self.loss_in, l.clamp(0.0, 1.0)));
            self.fresh = true;
        }
        if self.rtt.is_none() {
            self.rtt = s.rtt;
        }
    }

    pub(crate) fn egress(&mut self, s: &MediaEgressStats) {
        if let Some(l) = s.loss {
            let l = l.clamp(0.0, 1.0);
            self.loss_out_round = Some(self.loss_out_round.map_or(l, |o| o.max(l)));
        }
        if self.rtt.is_none() {
            self.rtt = s.rtt;
        }
    }

    pub(crate) fn current(&self) -> Option<Quality> {
        if self.rtt.is_none() && self.loss_in.is_none() && self.loss_out.is_none() {
            return None;
        }
        let loss = self.loss_in.unwrap_or(0.0).max(self.loss_out.unwrap_or(0.0));
        let loss_pct = (loss * 1000.0).round() / 10.0;
        let rtt_ms = self.rtt.map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX));
        Some(Quality {
            grade: grade(rtt_ms, loss_pct),
            rtt_ms,
            loss_pct,
        })
    }

    /// The figures to tell the room now, if any: the first ones, a changed grade at once,
    /// changed figures every [`QUALITY_REFRESH`].
    pub(crate) fn poll(&mut self, now: Instant) -> Option<Quality> {
        if !std::mem::take(&mut self.fresh) {
            return None;
        }
        let q = self.current()?;
        let due = match self.told {
            None => true,
            Some((old, at)) => {
                old.grade != q.grade
                    || (now.saturating_duration_since(at) >= QUALITY_REFRESH && (old.rtt_ms != q.rtt_ms || old.loss_pct != q.loss_pct))
            }
        };
        if due {
            self.told = Some((q, now));
            Some(q)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_follow_round_trip_and_loss() {
        assert_eq!(grade(Some(5), 0.0), Grade::Good);
        assert_eq!(grade(None, 0.0), Grade::Good);
        assert_eq!(grade(Some(200), 1.9), Grade::Good);
        assert_eq!(grade(Some(201), 0.0), Grade::Fair);
        assert_eq!(grade(Some(20), 2.0), Grade::Fair);
        assert_eq!(grade(Some(401), 0.0), Grade::Poor);
        assert_eq!(grade(Some(20), 8.0), Grade::Poor);
    }

    fn ingress(loss: f32) -> MediaIngressStats {
        MediaIngressStats {
            mid: "0".into(),
            rid: None,
            bytes: 0,
            packets: 0,
            firs: 0,
            plis: 0,
            nacks: 0,
            jitter: 0,
            rtt: None,
            loss: Some(loss),
            timestamp: Instant::now(),
            remote: None,
        }
    }

    #[test]
    fn a_changed_grade_is_told_at_once_changed_figures_only_every_refresh() {
        let t0 = Instant::now();
        let mut m = Meter::default();
        assert_eq!(m.poll(t0), None, "nothing measured yet");
        m.ingress(&ingress(0.0));
        assert_eq!(m.poll(t0).map(|q| q.grade), Some(Grade::Good));
        assert_eq!(m.poll(t0), None, "nothing new");
        // A small change within the same grade waits for the refresh.
        m.ingress(&ingress(0.01));
        assert_eq!(m.poll(t0 + Duration::from_secs(1)), None);
        m.ingress(&ingress(0.01));
        let q = m.poll(t0 + QUALITY_REFRESH).expect("refreshed");
        assert_eq!(q.grade, Grade::Good);
        assert!(q.loss_pct > 0.0);
        // Lasting heavy loss: poor within a few samples, told at once.
        let mut told = None;
        for i in 0..4 {
            m.ingress(&ingress(0.25));
            if let Some(q) = m.poll(t0 + QUALITY_REFRESH + Duration::from_secs(i)) {
                told = Some(q);
            }
        }
        assert_eq!(told.map(|q| q.grade), Some(Grade::Poor));
    }
}
