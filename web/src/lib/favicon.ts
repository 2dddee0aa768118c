// The tab's icon, drawn on a canvas: Spot's speech bubble, with a red count badge for mentions
// and DMs or a small dot for plain unread (lib/attention.ts decides which). Set as a PNG data URL
// on the page's `<link rel=icon>`, redrawn only when what it shows changes.

import type { FaviconBadge } from './attention';

const SIZE = 32;
let shown = '';

function link(): HTMLLinkElement {
  let el = document.querySelector<HTMLLinkElement>('link[rel="icon"]');
  if (!el) {
    el = document.createElement('link');
    el.rel = 'icon';
    el.type = 'image/png';
    document.head.appendChild(el);
  }
  return el;
}

function draw(badge: FaviconBadge): string | null {
  const canvas = document.createElement('canvas');
  canvas.width = SIZE;
  canvas.height = SIZE;
  const g = canvas.getContext('2d');
  if (!g) return null;
  // The bubble: a rounded square with a tail, in the accent colour.
  g.fillStyle = '#5865f2';
  g.beginPath();
  g.roundRect(2, 3, 26, 21, 7);
  g.moveTo(8, 22);
  g.lineTo(7, 30);
  g.lineTo(15, 23);
  g.closePath();
  g.fill();
  g.fillStyle = '#ffffff';
  g.font = 'bold 16px system-ui, sans-serif';
  g.textAlign = 'center';
  g.textBaseline = 'middle';
  g.fillText('S', 15, 14);
  if (badge.kind === 'count') {
    const w = badge.text.length > 1 ? 20 : 16;
    g.fillStyle = '#ed4245';
    g.strokeStyle = '#ffffff';
    g.lineWidth = 2;
    g.beginPath();
    g.roundRect(SIZE - w - 1, SIZE - 17, w, 16, 8);
    g.fill();
    g.stroke();
    g.fillStyle = '#ffffff';
    g.font = 'bold 12px system-ui, sans-serif';
    g.fillText(badge.text, SIZE - w / 2 - 1, SIZE - 8.5);
  } else if (badge.kind === 'dot') {
    g.fillStyle = '#f0b232';
    g.strokeStyle = '#ffffff';
    g.lineWidth = 2;
    g.beginPath();
    g.arc(SIZE - 7, SIZE - 7, 5.5, 0, Math.PI * 2);
    g.fill();
    g.stroke();
  }
  return canvas.toDataURL('image/png');
}

/** Shows `badge` on the tab's icon (no work when it already shows it). */
export function setFavicon(badge: FaviconBadge): void {
  if (typeof document === 'undefined') return;
  const key = badge.kind === 'count' ? `count:${badge.text}` : badge.kind;
  if (key === shown) return;
  const url = draw(badge);
  if (!url) return;
  shown = key;
  const el = link();
  el.href = url;
  el.dataset.badge = key;
}
