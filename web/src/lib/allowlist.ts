// The link-preview allowlist (README: "host", "host:port", "10.0.0.0/8"). The box has the
// last word; this only catches typos before saving. Unit-tested in tests/allowlist.test.ts.

const HOST = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

function ipv4(s: string): boolean {
  const p = s.split('.');
  return p.length === 4 && p.every((x) => /^\d{1,3}$/.test(x) && Number(x) <= 255 && !(x.length > 1 && x[0] === '0'));
}

function ipv6(s: string): boolean {
  if (!/^[0-9a-f:.]+$/i.test(s) || !s.includes(':')) return false;
  if ((s.match(/::/g) ?? []).length > 1) return false;
  const groups = s.split(':').filter((g) => g !== '');
  return groups.length <= 8 && groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g) || ipv4(g));
}

/** null when the entry looks valid, otherwise why not (in words). */
export function allowEntryProblem(raw: string): string | null {
  const s = raw.trim();
  if (!s) return 'Empty entry.';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) return `“${s}”: write only the host, without http://.`;
  if (/[/?#]/.test(s) && !/^[^/]+\/\d{1,3}$/.test(s)) return `“${s}”: write a host, host:port or a network like 10.0.0.0/8.`;
  const cidr = /^(.+)\/(\d{1,3})$/.exec(s);
  if (cidr) {
    const [, addr, bits] = cidr;
    const n = Number(bits);
    if (ipv4(addr)) return n <= 32 ? null : `“${s}”: an IPv4 network has at most /32.`;
    const a6 = addr.replace(/^\[|\]$/g, '');
    if (ipv6(a6)) return n <= 128 ? null : `“${s}”: an IPv6 network has at most /128.`;
    return `“${s}”: “${addr}” is not an IP address.`;
  }
  let host = s;
  let port: string | null = null;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracket) {
    host = bracket[1];
    port = bracket[2] ?? null;
    if (!ipv6(host)) return `“${s}”: “${host}” is not an IPv6 address.`;
  } else if ((s.match(/:/g) ?? []).length === 1) {
    [host, port] = s.split(':');
  } else if (ipv6(s)) {
    return null;
  }
  if (port !== null) {
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return `“${s}”: the port must be 1–65535.`;
  }
  if (bracket || ipv4(host) || HOST.test(host)) return null;
  return `“${s}”: not a host name.`;
}

/** Splits a textarea (one entry per line, commas or spaces also separate) into clean entries. */
export function parseAllowlist(text: string): string[] {
  const out: string[] = [];
  for (const e of text.split(/[\s,]+/)) {
    const t = e.trim().toLowerCase();
    if (t && !out.includes(t)) out.push(t);
  }
  return out;
}
