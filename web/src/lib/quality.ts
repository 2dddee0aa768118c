// Connection quality in words and bars. The same thresholds as the box's SFU
// (firmware/voice/src/sfu/quality.rs), so my own figures and the ones the box tells about the
// others read alike; jitter only counts for my own (the box grades round trip and loss).

export type Grade = 'good' | 'fair' | 'poor';

export interface QualityFigures {
  grade: Grade;
  rtt_ms: number | null;
  loss_pct: number;
  jitter_ms?: number | null;
}

export function grade(rttMs: number | null, lossPct: number, jitterMs: number | null = null): Grade {
  const rtt = rttMs ?? 0;
  const jitter = jitterMs ?? 0;
  if (rtt > 400 || lossPct >= 8 || jitter > 60) return 'poor';
  if (rtt > 200 || lossPct >= 2 || jitter > 30) return 'fair';
  return 'good';
}

export const BARS: Record<Grade, number> = { good: 3, fair: 2, poor: 1 };

/** "Connection good: 12 ms round trip, 0.0 % loss" (for screen readers and the tooltip). */
export function qualityWords(q: QualityFigures): string {
  const parts: string[] = [];
  if (q.rtt_ms !== null && Number.isFinite(q.rtt_ms)) parts.push(`${Math.round(q.rtt_ms)} ms round trip`);
  parts.push(`${q.loss_pct.toFixed(1)} % loss`);
  if (q.jitter_ms != null && Number.isFinite(q.jitter_ms)) parts.push(`${Math.round(q.jitter_ms)} ms jitter`);
  return `Connection ${q.grade}: ${parts.join(', ')}`;
}

/** Tile columns for n people: one large tile, then a grid that stays near square. */
export function tileColumns(n: number, narrow: boolean): number {
  if (n <= 1) return 1;
  if (narrow) return n <= 4 ? 2 : 3;
  if (n <= 4) return 2;
  if (n <= 9) return 3;
  return 4;
}
