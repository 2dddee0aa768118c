import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay, DisconnectedError, Gateway, GatewayError, gatewayUrl, type SocketLike } from '../src/lib/gateway';
import { Outbox } from '../src/lib/outbox';
import { cmpId, mergeById } from '../src/lib/ids';
import type { Message } from '../src/lib/types';

class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: Record<string, unknown>[] = [];
  closedWith: number | null = null;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(public url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000) {
    this.closedWith = code;
    this.readyState = 3;
  }
  // test helpers
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  frame(f: unknown) {
    this.onmessage?.({ data: JSON.stringify(f) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  ops() {
    return this.sent.map((f) => f.op);
  }
}

function latest(): FakeSocket {
  return FakeSocket.all[FakeSocket.all.length - 1];
}

function setup(random = () => 0.5) {
  const events: [string, unknown, number][] = [];
  const readies: unknown[] = [];
  const statuses: string[] = [];
  let ended = 0;
  const errors: GatewayError[] = [];
  const gw = new Gateway(
    { url: 'ws://box/api/gateway', createSocket: (u) => new FakeSocket(u), random, baseDelayMs: 500, maxDelayMs: 8000 },
    {
      onEvent: (t, d, s) => events.push([t, d, s]),
      onReady: (d) => readies.push(d),
      onStatus: (s) => statuses.push(s),
      onSessionEnded: () => ended++,
      onError: (e) => errors.push(e),
    },
  );
  return { gw, events, readies, statuses, errors, ended: () => ended };
}

function connect(sock: FakeSocket, seq: number, snapshot: unknown = null, resumed = false) {
  sock.open();
  sock.frame({ op: 'hello', d: { heartbeat_ms: 20000, seq } });
  sock.frame({ op: 'ready', d: { seq, resumed, snapshot } });
}

const ev = (s: number, id = String(s)) => ({ op: 'event', s, t: 'message.create', d: { id, channel_id: '1' } });

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.all = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('gateway', () => {
  it('builds ws/wss URLs matching the page', () => {
    expect(gatewayUrl({ protocol: 'http:', host: 'spot.local:8080' })).toBe('ws://spot.local:8080/api/gateway');
    expect(gatewayUrl({ protocol: 'https:', host: 'spot.local' })).toBe('wss://spot.local/api/gateway');
  });

  it('sends resume with seq null on a fresh start and takes the snapshot seq', () => {
    const { gw, readies, statuses } = setup();
    gw.start();
    const s = latest();
    s.open();
    s.frame({ op: 'hello', d: { heartbeat_ms: 20000, seq: 7 } });
    expect(s.sent[0]).toEqual({ op: 'resume', d: { seq: null } });
    s.frame({ op: 'ready', d: { seq: 7, resumed: false, snapshot: { channels: [], users: [], me: {} } } });
    expect(gw.lastSeq).toBe(7);
    expect(readies).toHaveLength(1);
    expect(statuses).toEqual(['connecting', 'connected']);
    expect(gw.connected).toBe(true);
  });

  it('applies events in order and ignores duplicates and old ones', () => {
    const { gw, events } = setup();
    gw.start();
    connect(latest(), 10, {});
    const s = latest();
    s.frame(ev(11));
    s.frame(ev(11));
    s.frame(ev(9));
    s.frame(ev(14)); // gaps are fine: events for other users are filtered out
    s.frame(ev(12));
    expect(events.map((e) => e[2])).toEqual([11, 14]);
    expect(gw.lastSeq).toBe(14);
  });

  it('reconnects with backoff and resumes from the last applied seq', () => {
    const { gw, events, statuses } = setup();
    gw.start();
    connect(latest(), 10, {});
    latest().frame(ev(11));
    latest().drop(1006);
    expect(statuses.at(-1)).toBe('reconnecting');
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(500); // first retry: 250..500 ms
    expect(FakeSocket.all).toHaveLength(2);
    const s2 = latest();
    s2.open();
    s2.frame({ op: 'hello', d: { heartbeat_ms: 20000, seq: 13 } });
    expect(s2.sent[0]).toEqual({ op: 'resume', d: { seq: 11 } });
    // The server replays what was missed (possibly overlapping), then ready.
    s2.frame(ev(11));
    s2.frame(ev(12));
    s2.frame(ev(13));
    s2.frame({ op: 'ready', d: { seq: 13, resumed: true, snapshot: null } });
    expect(events.map((e) => e[2])).toEqual([11, 12, 13]);
    expect(gw.lastSeq).toBe(13);
    expect(statuses.at(-1)).toBe('connected');
  });

  it('a resume after ready does not skip events replayed after ready', () => {
    const { gw, events } = setup();
    gw.start();
    connect(latest(), 5, {});
    latest().drop();
    vi.advanceTimersByTime(1000);
    const s = latest();
    s.open();
    s.frame({ op: 'hello', d: { heartbeat_ms: 20000, seq: 8 } });
    s.frame({ op: 'ready', d: { seq: 8, resumed: true, snapshot: null } });
    s.frame(ev(6));
    s.frame(ev(7));
    s.frame(ev(8));
    expect(events.map((e) => e[2])).toEqual([6, 7, 8]);
  });

  it('a non-resumed ready with a snapshot replaces the position', () => {
    const { gw, readies } = setup();
    gw.start();
    connect(latest(), 5, {});
    latest().drop();
    vi.advanceTimersByTime(1000);
    const s = latest();
    s.open();
    s.frame({ op: 'hello', d: { heartbeat_ms: 20000, seq: 900 } });
    expect(s.sent[0]).toEqual({ op: 'resume', d: { seq: 5 } });
    s.frame({ op: 'ready', d: { seq: 900, resumed: false, snapshot: { channels: [] } } });
    expect(gw.lastSeq).toBe(900);
    expect(readies.at(-1)).toMatchObject({ resumed: false, snapshot: { channels: [] } });
  });

  it('backoff grows exponentially with jitter and is capped', () => {
    expect(backoffDelay(0, 500, 8000, () => 0)).toBe(250);
    expect(backoffDelay(0, 500, 8000, () => 1)).toBe(500);
    expect(backoffDelay(3, 500, 8000, () => 0)).toBe(2000);
    expect(backoffDelay(3, 500, 8000, () => 1)).toBe(4000);
    expect(backoffDelay(20, 500, 8000, () => 1)).toBe(8000);
    expect(backoffDelay(20, 500, 8000, () => 0)).toBe(4000);
  });

  it('keeps retrying while the server is down, with growing delays', () => {
    const { gw } = setup(() => 1);
    gw.start();
    connect(latest(), 1, {});
    latest().drop();
    const delays = [500, 1000, 2000, 4000, 8000, 8000];
    for (const d of delays) {
      const n = FakeSocket.all.length;
      vi.advanceTimersByTime(d - 1);
      expect(FakeSocket.all).toHaveLength(n);
      vi.advanceTimersByTime(1);
      expect(FakeSocket.all).toHaveLength(n + 1);
      latest().drop(1006); // connection refused
    }
    // Once connected again, the backoff resets.
    vi.advanceTimersByTime(8000);
    connect(latest(), 2, {}, true);
    latest().drop();
    const n = FakeSocket.all.length;
    vi.advanceTimersByTime(500);
    expect(FakeSocket.all).toHaveLength(n + 1);
  });

  it('close code 4001 ends the session without reconnecting', () => {
    const { gw, ended, statuses } = setup();
    gw.start();
    connect(latest(), 1, {});
    latest().drop(4001);
    expect(ended()).toBe(1);
    expect(statuses.at(-1)).toBe('closed');
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('close code 4008 (too slow) resumes immediately', () => {
    const { gw } = setup();
    gw.start();
    connect(latest(), 1, {});
    latest().drop(4008);
    vi.advanceTimersByTime(0);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('close code 4002 (permissions changed) reconnects at once with seq null for a fresh snapshot', () => {
    const { gw, readies, events } = setup();
    gw.start();
    connect(latest(), 5, {});
    latest().frame(ev(6));
    expect(gw.lastSeq).toBe(6);
    latest().drop(4002);
    expect(gw.lastSeq).toBeNull();
    vi.advanceTimersByTime(250);
    expect(FakeSocket.all).toHaveLength(2);
    const s = latest();
    s.open();
    s.frame({ op: 'hello', d: { heartbeat_ms: 20000, seq: 9 } });
    expect(s.sent[0]).toEqual({ op: 'resume', d: { seq: null } });
    const snapshot = { channels: [], users: [], me: {}, roles: [{ id: '1' }], emoji: [] };
    s.frame({ op: 'ready', d: { seq: 9, resumed: false, snapshot } });
    expect(gw.lastSeq).toBe(9);
    expect(readies.at(-1)).toMatchObject({ resumed: false, snapshot });
    // events after the snapshot apply; older ones are dropped
    s.frame(ev(9));
    s.frame(ev(10));
    expect(events.map((e) => e[2])).toEqual([6, 10]);
  });

  it('heartbeats, and a missing ack closes and reconnects', () => {
    const { gw } = setup();
    gw.start();
    connect(latest(), 1, {});
    const s = latest();
    vi.advanceTimersByTime(20000);
    expect(s.ops()).toContain('heartbeat');
    s.frame({ op: 'heartbeat_ack' });
    vi.advanceTimersByTime(20000);
    expect(s.ops().filter((o) => o === 'heartbeat')).toHaveLength(2);
    // no ack this time
    vi.advanceTimersByTime(20000);
    expect(s.closedWith).toBe(4000);
    vi.advanceTimersByTime(500);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('answers server heartbeats', () => {
    const { gw } = setup();
    gw.start();
    connect(latest(), 1, {});
    latest().frame({ op: 'heartbeat' });
    expect(latest().sent.at(-1)).toEqual({ op: 'heartbeat_ack' });
  });

  it('requests resolve with replies and reject with errors', async () => {
    const { gw, errors } = setup();
    gw.start();
    connect(latest(), 1, {});
    const s = latest();
    const p1 = gw.request('message.send', { channel_id: '1', content: 'hi' });
    const p2 = gw.request('typing.start', { channel_id: '1' });
    const [r1, r2] = s.sent.slice(-2) as { id: string; op: string; t: string }[];
    expect(r1).toMatchObject({ op: 'request', t: 'message.send' });
    s.frame({ op: 'reply', id: r1.id, d: { id: '99' } });
    s.frame({ op: 'error', id: r2.id, d: { code: 'rate_limited', message: 'slow down', retry_after_ms: 800 } });
    await expect(p1).resolves.toEqual({ id: '99' });
    await expect(p2).rejects.toMatchObject({ code: 'rate_limited', retryAfterMs: 800 });
    // An error without a pending request goes to onError (shown as a toast).
    s.frame({ op: 'error', d: { code: 'rate_limited', message: 'slow down' } });
    expect(errors.map((e) => e.code)).toEqual(['rate_limited']);
  });

  it('in-flight requests fail with DisconnectedError when the socket drops', async () => {
    const { gw } = setup();
    gw.start();
    connect(latest(), 1, {});
    const p = gw.request('message.send', {});
    latest().drop();
    await expect(p).rejects.toBeInstanceOf(DisconnectedError);
    await expect(gw.request('x', {})).rejects.toBeInstanceOf(DisconnectedError);
  });

  it('stop() closes and never reconnects', () => {
    const { gw } = setup();
    gw.start();
    connect(latest(), 1, {});
    gw.stop();
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(latest().closedWith).toBe(1000);
  });
});

// ------------------------------------------------------------------ outbox

function msg(id: string, nonce: string): Message {
  return {
    id,
    channel_id: '1',
    author_id: 'me',
    content: 'x',
    reply_to: null,
    created_at: 0,
    edited_at: null,
    deleted: false,
    nonce,
    thread: null,
    reactions: [],
    pinned_at: null,
    pinned_by: null,
    mentions: [],
    mention_everyone: false,
    attachments: [],
    embeds: [],
  };
}

describe('outbox', () => {
  beforeEach(() => {
    vi.useRealTimers();
  });

  function make(send: (nonce: string, attempt: number) => Promise<Message>) {
    const acked: string[] = [];
    const failed: string[] = [];
    const attempts: Record<string, number> = {};
    const ob = new Outbox({
      send: (item) => {
        attempts[item.nonce] = (attempts[item.nonce] ?? 0) + 1;
        return send(item.nonce, attempts[item.nonce]);
      },
      onAck: (item) => acked.push(item.nonce),
      onChange: () => {},
      onFailed: (item) => failed.push(item.nonce),
      sleep: () => Promise.resolve(),
    });
    return { ob, acked, failed, attempts };
  }
  const flush = () => new Promise((r) => setTimeout(r, 0));

  it('queues while disconnected and sends in order once connected', async () => {
    const order: string[] = [];
    const { ob, acked } = make(async (n) => {
      order.push(n);
      return msg('m-' + n, n);
    });
    ob.enqueue('1', 'a', null, 'n1');
    ob.enqueue('1', 'b', null, 'n2');
    await flush();
    expect(order).toEqual([]);
    expect(ob.items.map((i) => i.state)).toEqual(['queued', 'queued']);
    ob.setConnected(true);
    await flush();
    expect(order).toEqual(['n1', 'n2']);
    expect(acked).toEqual(['n1', 'n2']);
    expect(ob.items).toEqual([]);
  });

  it('re-sends with the same nonce after a disconnect mid-send', async () => {
    const seen: string[] = [];
    const { ob, acked, attempts } = make(async (n, attempt) => {
      seen.push(n);
      if (attempt === 1) throw new DisconnectedError();
      return msg('m1', n);
    });
    ob.setConnected(true);
    ob.enqueue('1', 'hello', null, 'nonce-1');
    await flush();
    expect(ob.items[0].state).toBe('queued');
    ob.setConnected(false);
    ob.setConnected(true);
    await flush();
    expect(seen).toEqual(['nonce-1', 'nonce-1']);
    expect(attempts['nonce-1']).toBe(2);
    expect(acked).toEqual(['nonce-1']);
  });

  it('a message.create with our nonce acks the pending copy (no duplicate)', async () => {
    const { ob, acked } = make(() => new Promise(() => {}));
    ob.enqueue('1', 'hello', null, 'n1');
    expect(ob.ackByNonce('n1', msg('5', 'n1'))).toBe(true);
    expect(ob.items).toEqual([]);
    expect(acked).toEqual(['n1']);
    expect(ob.ackByNonce('n1', msg('5', 'n1'))).toBe(false);
  });

  it('rate limits are retried, other errors mark the message failed for a manual retry', async () => {
    const { ob, failed, acked } = make(async (n, attempt) => {
      if (n === 'r' && attempt === 1) throw new GatewayError('rate_limited', 'slow', 10);
      if (n === 'bad' && attempt === 1) throw new GatewayError('message_too_long', 'too long');
      return msg('m-' + n, n);
    });
    ob.setConnected(true);
    ob.enqueue('1', 'a', null, 'r');
    ob.enqueue('1', 'b', null, 'bad');
    await flush();
    await flush();
    expect(acked).toEqual(['r']);
    expect(failed).toEqual(['bad']);
    expect(ob.items.map((i) => [i.nonce, i.state])).toEqual([['bad', 'failed']]);
    ob.retry('bad');
    await flush();
    expect(acked).toEqual(['r', 'bad']);
  });
});

describe('ids', () => {
  it('compares 64-bit decimal ids without precision loss', () => {
    expect(cmpId('9007199254740993', '9007199254740992')).toBe(1);
    expect(cmpId('99', '100')).toBe(-1);
    expect(cmpId('18446744073709551615', '18446744073709551614')).toBe(1);
    expect(cmpId('5', '5')).toBe(0);
  });
  it('merges by id keeping order and replacing duplicates', () => {
    const arr = [{ id: '1', v: 'a' }, { id: '3', v: 'c' }];
    mergeById(arr, [{ id: '2', v: 'b' }, { id: '3', v: 'C' }, { id: '10', v: 'j' }]);
    expect(arr.map((x) => x.id + x.v)).toEqual(['1a', '2b', '3C', '10j']);
  });
});
