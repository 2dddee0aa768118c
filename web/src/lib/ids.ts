// IDs are time-ordered unsigned 64-bit integers sent as decimal strings. They do
// not fit in a JS number, so compare them as strings: a shorter canonical decimal
// is a smaller number; equal lengths compare lexicographically.

function canon(id: string): string {
  const t = id.replace(/^0+(?=\d)/, '');
  return t;
}

export function cmpId(a: string, b: string): number {
  const x = canon(a);
  const y = canon(b);
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

export function idGt(a: string | null | undefined, b: string | null | undefined): boolean {
  if (a == null) return false;
  if (b == null) return true;
  return cmpId(a, b) > 0;
}

/** Index at which `id` is or would be inserted in an array sorted ascending by id. */
export function lowerBound<T extends { id: string }>(arr: readonly T[], id: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmpId(arr[mid].id, id) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Merge `incoming` into the id-sorted `arr` (in place), replacing same-id items. */
export function mergeById<T extends { id: string }>(arr: T[], incoming: readonly T[]): T[] {
  for (const item of incoming) {
    const i = lowerBound(arr, item.id);
    if (i < arr.length && arr[i].id === item.id) arr[i] = item;
    else arr.splice(i, 0, item);
  }
  return arr;
}

export function newNonce(): string {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
