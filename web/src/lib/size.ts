// Sizes in words, in the binary units the box's config uses (quota_mb = 1024 → "1 GB").

export function formatSize(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n) || n < 0) return '?';
  if (n < 1024) return `${n} byte${n === 1 ? '' : 's'}`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const s = v >= 100 || Number.isInteger(v) ? String(Math.round(v)) : String(Math.round(v * 10) / 10);
  return `${s} ${units[i]}`;
}
