#!/usr/bin/env node
// A stand-in for the `spot` daemon, for developing the web app before (or
// without) a Rust build: same CLI for `init` and `serve`, the README's HTTP API
// and gateway, state kept in DATA_DIR/mock-state.json so it survives restarts.
// It is NOT the product and is not used by `npm run test:e2e` unless you point
// SPOT_BIN at it:  SPOT_BIN=e2e/mock/spot-mock.mjs npm run test:e2e
//
// Simplifications: passwords are salted SHA-256, rate limits are absent,
// presence is online/offline by connection.

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');
const args = process.argv.slice(2);
const cmd = args[0];
const opt = (name, def) => {
  const i = args.indexOf('--' + name);
  return i >= 0 ? args[i + 1] : def;
};
const dataDir = opt('data-dir', process.env.SPOT_DATA_DIR || './.spot-data');
const stateFile = path.join(dataDir, 'mock-state.json');

const hash = (pw, salt) => createHash('sha256').update(salt + ':' + pw).digest('hex');
const token = () => randomBytes(24).toString('hex');
let lastId = 0n;
function newId() {
  let id = BigInt(Date.now()) << 16n;
  if (id <= lastId) id = lastId + 1n;
  lastId = id;
  return id.toString();
}

function load() {
  return JSON.parse(readFileSync(stateFile, 'utf8'));
}
let S;
const save = () => writeFileSync(stateFile, JSON.stringify(S));

if (cmd === 'init') {
  mkdirSync(dataDir, { recursive: true });
  const admin = opt('admin-user', 'admin');
  const pw = opt('admin-password', token().slice(0, 16));
  const salt = token();
  const id = newId();
  S = {
    seq: 0,
    users: [{ id, username: admin, display_name: admin, role: 'admin', disabled: false, created_at: Date.now(), salt, pw: hash(pw, salt) }],
    sessions: {},
    channels: [],
    messages: [],
    invites: [],
    reads: {},
    events: [],
  };
  save();
  console.log(`admin user: ${admin}\nadmin password: ${pw}`);
  process.exit(0);
}
if (cmd !== 'serve') {
  console.error('usage: spot-mock.mjs init|serve --data-dir D [--listen ADDR]');
  process.exit(2);
}
S = load();
const [host, port] = (opt('listen', '127.0.0.1:8080')).split(':');

// ------------------------------------------------------------------ helpers
const pub = (u) => ({ id: u.id, username: u.username, display_name: u.display_name, role: u.role, disabled: u.disabled, created_at: u.created_at });
const conns = new Set();
const presence = (uid) => ([...conns].some((c) => c.user.id === uid && c.ready) ? ([...conns].filter((c) => c.user.id === uid).every((c) => c.idle) ? 'idle' : 'online') : 'offline');
const withPresence = (u) => ({ ...pub(u), presence: presence(u.id) });
const cmp = (a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);
function channelView(c, uid) {
  const lr = S.reads[uid + ':' + c.id] ?? null;
  const unread = S.messages.filter((m) => m.channel_id === c.id && !m.deleted && m.author_id !== uid && (!lr || cmp(m.id, lr) > 0)).length;
  return { ...c, last_read_id: lr, unread_count: Math.min(unread, 100) };
}
const channelsFor = (uid) => [...S.channels].sort((a, b) => a.position - b.position || cmp(a.id, b.id)).map((c) => channelView(c, uid));

class ApiErr extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}
const bad = (code, msg) => new ApiErr(400, code, msg);

function emit(t, d, audience = null) {
  const ev = { s: ++S.seq, t, d, audience };
  S.events.push(ev);
  save();
  for (const c of conns) if (c.ready && (!audience || audience === c.user.id)) c.send({ op: 'event', s: ev.s, t, d });
}
function ephemeral(t, d) {
  for (const c of conns) if (c.ready) c.send({ op: 'ephemeral', t, d });
}

function sendMessage(user, channel_id, { content, reply_to, nonce }) {
  const ch = S.channels.find((c) => c.id === channel_id);
  if (!ch) throw new ApiErr(404, 'not_found', 'No such channel.');
  if (ch.archived) throw new ApiErr(403, 'channel_archived', 'This channel is archived.');
  if (nonce) {
    const dup = S.messages.find((m) => m.author_id === user.id && m.nonce === nonce);
    if (dup) return dup;
  }
  content = String(content ?? '').trim();
  if (!content) throw bad('empty_message', 'Messages cannot be empty.');
  if (content.length > 4000) throw bad('message_too_long', 'Messages can be at most 4000 characters.');
  const m = { id: newId(), channel_id, author_id: user.id, content, reply_to: reply_to ?? null, created_at: Date.now(), edited_at: null, deleted: false, nonce: nonce ?? null };
  S.messages.push(m);
  ch.last_message_id = m.id;
  S.reads[user.id + ':' + channel_id] = m.id;
  emit('message.create', m);
  return m;
}
function editMessage(user, id, content) {
  const m = S.messages.find((x) => x.id === id);
  if (!m || m.deleted) throw new ApiErr(404, 'not_found', 'No such message.');
  if (m.author_id !== user.id) throw new ApiErr(403, 'forbidden', 'Only the author can edit a message.');
  m.content = String(content).trim();
  m.edited_at = Date.now();
  emit('message.update', m);
  return m;
}
function deleteMessage(user, id) {
  const m = S.messages.find((x) => x.id === id);
  if (!m) throw new ApiErr(404, 'not_found', 'No such message.');
  if (m.author_id !== user.id && user.role !== 'admin') throw new ApiErr(403, 'forbidden', 'Not yours.');
  m.deleted = true;
  m.content = '';
  emit('message.delete', m);
  return m;
}
function readAck(user, channel_id, message_id) {
  const k = user.id + ':' + channel_id;
  if (!S.reads[k] || cmp(message_id, S.reads[k]) > 0) {
    S.reads[k] = message_id;
    emit('read_state.update', { channel_id, last_read_id: message_id }, user.id);
  }
  return { channel_id, last_read_id: S.reads[k] };
}

function sessionUser(req) {
  const m = /(?:^|;\s*)spot_session=([^;]+)/.exec(req.headers.cookie || '');
  const s = m && S.sessions[m[1]];
  if (!s) return null;
  const u = S.users.find((x) => x.id === s.user_id);
  if (!u || u.disabled) return null;
  return { user: u, token: m[1], csrf: s.csrf };
}
function newSession(res, u) {
  const t = token();
  const csrf = token();
  S.sessions[t] = { user_id: u.id, csrf };
  save();
  res.setHeader('Set-Cookie', `spot_session=${t}; HttpOnly; SameSite=Lax; Path=/`);
  return { user: pub(u), csrf_token: csrf };
}

// ------------------------------------------------------------------ HTTP
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css' };

async function handleApi(req, res, url, body) {
  const p = url.pathname.slice(4);
  const M = req.method;
  const changing = M !== 'GET' && M !== 'HEAD';
  if (changing && !/application\/json/.test(req.headers['content-type'] || '')) throw new ApiErr(415, 'json_required', 'Send JSON.');
  if (req.headers.origin && req.headers.origin !== `http://${req.headers.host}`) throw new ApiErr(403, 'bad_origin', 'Bad origin.');
  if (p === '/health') return { status: 'ok', version: 'mock' };
  if (M === 'POST' && p === '/login') {
    const u = S.users.find((x) => x.username === body.username);
    if (!u || u.disabled || hash(body.password, u.salt) !== u.pw) throw new ApiErr(401, 'bad_credentials', 'Wrong user name or password.');
    return newSession(res, u);
  }
  let mm;
  if ((mm = /^\/invites\/([^/]+)$/.exec(p)) && M === 'GET') {
    const inv = S.invites.find((i) => i.token === mm[1] && !i.used_by && !i.revoked && i.expires_at > Date.now());
    if (!inv) throw new ApiErr(404, 'invite_invalid', 'This invite is not valid.');
    return { valid: true, expires_at: inv.expires_at };
  }
  if ((mm = /^\/invites\/([^/]+)\/accept$/.exec(p)) && M === 'POST') {
    const inv = S.invites.find((i) => i.token === mm[1] && !i.used_by && !i.revoked && i.expires_at > Date.now());
    if (!inv) throw new ApiErr(404, 'invite_invalid', 'This invite is not valid.');
    if (!/^[a-z0-9_.-]{2,32}$/i.test(body.username || '')) throw bad('invalid_username', 'Usernames are 2–32 letters, digits, _ . -');
    if (S.users.some((u) => u.username === body.username)) throw new ApiErr(409, 'username_taken', 'That username is taken.');
    if ((body.password || '').length < 8) throw bad('weak_password', 'Passwords need at least 8 characters.');
    const salt = token();
    const u = { id: newId(), username: body.username, display_name: body.display_name || body.username, role: inv.role, disabled: false, created_at: Date.now(), salt, pw: hash(body.password, salt) };
    S.users.push(u);
    inv.used_by = u.id;
    emit('user.update', pub(u));
    return newSession(res, u);
  }
  const a = sessionUser(req);
  if (!a) throw new ApiErr(401, 'unauthorized', 'Log in first.');
  if (changing && req.headers['x-csrf-token'] !== a.csrf) throw new ApiErr(403, 'bad_csrf', 'Missing or wrong CSRF token.');
  const me = a.user;
  const admin = () => {
    if (me.role !== 'admin') throw new ApiErr(403, 'forbidden', 'Admins only.');
  };
  if (p === '/logout' && M === 'POST') {
    delete S.sessions[a.token];
    save();
    for (const c of conns) if (c.token === a.token) c.ws.close(4001, 'session ended');
    return null;
  }
  if (p === '/logout-all' && M === 'POST') {
    for (const [k, s] of Object.entries(S.sessions)) if (s.user_id === me.id) delete S.sessions[k];
    save();
    for (const c of conns) if (c.user.id === me.id) c.ws.close(4001, 'session ended');
    return null;
  }
  if (p === '/me' && M === 'GET') return { user: pub(me), csrf_token: a.csrf };
  if (p === '/me' && M === 'PATCH') {
    me.display_name = String(body.display_name || '').trim() || me.username;
    emit('user.update', pub(me));
    return { user: pub(me) };
  }
  if (p === '/me/password' && M === 'POST') {
    if (hash(body.current_password, me.salt) !== me.pw) throw new ApiErr(403, 'wrong_password', 'Your current password is not right.');
    me.pw = hash(body.new_password, me.salt);
    save();
    return null;
  }
  if (p === '/users' && M === 'GET') return S.users.map(withPresence);
  if (p === '/channels' && M === 'GET') return channelsFor(me.id);
  if (p === '/channels' && M === 'POST') {
    admin();
    const name = String(body.name || '').trim();
    if (!name) throw bad('invalid_channel_name', 'Channel names cannot be empty.');
    const c = { id: newId(), name, topic: body.topic || '', position: S.channels.length, archived: false, created_at: Date.now(), last_message_id: null };
    S.channels.push(c);
    emit('channel.create', c);
    return channelView(c, me.id);
  }
  if (p === '/channels/reorder' && M === 'POST') {
    admin();
    body.ids.forEach((id, i) => {
      const c = S.channels.find((x) => x.id === id);
      if (c) {
        c.position = i;
        emit('channel.update', c);
      }
    });
    return channelsFor(me.id);
  }
  if ((mm = /^\/channels\/(\d+)$/.exec(p)) && M === 'PATCH') {
    admin();
    const c = S.channels.find((x) => x.id === mm[1]);
    if (!c) throw new ApiErr(404, 'not_found', 'No such channel.');
    for (const k of ['name', 'topic', 'archived']) if (body[k] !== undefined) c[k] = body[k];
    emit('channel.update', c);
    return channelView(c, me.id);
  }
  if ((mm = /^\/channels\/(\d+)\/messages$/.exec(p))) {
    if (M === 'POST') return sendMessage(me, mm[1], body);
    const all = S.messages.filter((m) => m.channel_id === mm[1]).sort((x, y) => cmp(x.id, y.id));
    const limit = Math.min(100, Number(url.searchParams.get('limit') || 50));
    const before = url.searchParams.get('before');
    const after = url.searchParams.get('after');
    const around = url.searchParams.get('around');
    if (before) return all.filter((m) => cmp(m.id, before) < 0).slice(-limit);
    if (after) return all.filter((m) => cmp(m.id, after) > 0).slice(0, limit);
    if (around) {
      const older = all.filter((m) => cmp(m.id, around) < 0).slice(-Math.floor(limit / 2));
      const newer = all.filter((m) => cmp(m.id, around) >= 0).slice(0, limit - older.length);
      return [...older, ...newer];
    }
    return all.slice(-limit);
  }
  if ((mm = /^\/channels\/(\d+)\/read$/.exec(p)) && M === 'POST') {
    readAck(me, mm[1], body.message_id);
    return null;
  }
  if ((mm = /^\/messages\/(\d+)$/.exec(p))) {
    if (M === 'PATCH') return editMessage(me, mm[1], body.content);
    if (M === 'DELETE') {
      deleteMessage(me, mm[1]);
      return null;
    }
  }
  if (p === '/admin/users' && M === 'GET') {
    admin();
    return S.users.map(pub);
  }
  if (p === '/admin/users' && M === 'POST') {
    admin();
    if (S.users.some((u) => u.username === body.username)) throw new ApiErr(409, 'username_taken', 'That username is taken.');
    const salt = token();
    const u = { id: newId(), username: body.username, display_name: body.username, role: body.role || 'member', disabled: false, created_at: Date.now(), salt, pw: hash(body.password, salt) };
    S.users.push(u);
    emit('user.update', pub(u));
    return pub(u);
  }
  if ((mm = /^\/admin\/users\/(\d+)$/.exec(p)) && M === 'PATCH') {
    admin();
    const u = S.users.find((x) => x.id === mm[1]);
    if (body.role) u.role = body.role;
    if (body.disabled !== undefined) u.disabled = body.disabled;
    emit('user.update', pub(u));
    return pub(u);
  }
  if ((mm = /^\/admin\/users\/(\d+)\/password$/.exec(p)) && M === 'POST') {
    admin();
    const u = S.users.find((x) => x.id === mm[1]);
    u.pw = hash(body.password, u.salt);
    save();
    return null;
  }
  if (p === '/admin/invites' && M === 'GET') {
    admin();
    return S.invites.filter((i) => !i.revoked).map(({ id, role, created_at, expires_at, used_by }) => ({ id, role, created_at, expires_at, used_by }));
  }
  if (p === '/admin/invites' && M === 'POST') {
    admin();
    const t = token();
    const inv = { id: newId(), token: t, role: body.role || 'member', created_at: Date.now(), expires_at: Date.now() + (body.expires_in_hours || 72) * 3600_000, used_by: null };
    S.invites.push(inv);
    save();
    return { id: inv.id, token: t, url: `http://${req.headers.host}/invite/${t}`, role: inv.role, expires_at: inv.expires_at };
  }
  if ((mm = /^\/admin\/invites\/(\d+)$/.exec(p)) && M === 'DELETE') {
    admin();
    const inv = S.invites.find((i) => i.id === mm[1]);
    if (inv) inv.revoked = true;
    save();
    return null;
  }
  throw new ApiErr(404, 'not_found', 'No such endpoint.');
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname.startsWith('/api/')) {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', async () => {
      try {
        const body = raw ? JSON.parse(raw) : {};
        const out = await handleApi(req, res, url, body);
        if (out === null) {
          res.writeHead(204);
          res.end();
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(out));
        }
      } catch (e) {
        const status = e instanceof ApiErr ? e.status : 400;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: e.code || 'bad_request', message: e.message } }));
      }
    });
    return;
  }
  let file = path.join(DIST, path.normalize(url.pathname));
  if (!file.startsWith(DIST) || !existsSync(file) || !path.extname(file)) file = path.join(DIST, 'index.html');
  res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
  res.end(readFileSync(file));
});

// ------------------------------------------------------------------ gateway
const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  const a = sessionUser(req);
  if (!a || new URL(req.url, 'http://x').pathname !== '/api/gateway') {
    socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const c = { ws, user: a.user, token: a.token, ready: false, idle: false, send: (f) => ws.readyState === 1 && ws.send(JSON.stringify(f)) };
    conns.add(c);
    c.send({ op: 'hello', d: { heartbeat_ms: 20000, seq: S.seq } });
    ws.on('message', (data) => {
      let f;
      try {
        f = JSON.parse(String(data));
      } catch {
        return c.send({ op: 'error', d: { code: 'invalid_json', message: 'Bad JSON.' } });
      }
      if (f.op === 'heartbeat') return c.send({ op: 'heartbeat_ack' });
      if (f.op === 'resume' && !c.ready) {
        const from = f.d?.seq;
        if (typeof from === 'number' && from <= S.seq) {
          for (const ev of S.events) if (ev.s > from && (!ev.audience || ev.audience === c.user.id)) c.send({ op: 'event', s: ev.s, t: ev.t, d: ev.d });
          c.send({ op: 'ready', d: { seq: S.seq, resumed: true, snapshot: null } });
        } else {
          c.send({ op: 'ready', d: { seq: S.seq, resumed: false, snapshot: { me: pub(c.user), users: S.users.map(withPresence), channels: channelsFor(c.user.id) } } });
        }
        c.ready = true;
        ephemeral('presence.update', { user_id: c.user.id, status: presence(c.user.id) });
        return;
      }
      if (f.op !== 'request') return;
      const reply = (d) => c.send({ op: 'reply', id: f.id, t: f.t, d });
      try {
        const d = f.d || {};
        switch (f.t) {
          case 'message.send':
            return reply(sendMessage(c.user, d.channel_id, d));
          case 'message.edit':
            return reply(editMessage(c.user, d.message_id, d.content));
          case 'message.delete':
            return reply({ message_id: deleteMessage(c.user, d.message_id).id });
          case 'typing.start':
            ephemeral('typing.start', { channel_id: d.channel_id, user_id: c.user.id });
            return reply(null);
          case 'presence.set':
            c.idle = d.status === 'idle';
            ephemeral('presence.update', { user_id: c.user.id, status: presence(c.user.id) });
            return reply(null);
          case 'read.ack':
            return reply(readAck(c.user, d.channel_id, d.message_id));
          default:
            throw bad('unknown_request', 'Unknown request type.');
        }
      } catch (e) {
        c.send({ op: 'error', id: f.id, d: { code: e.code || 'error', message: e.message } });
      }
    });
    ws.on('close', () => {
      conns.delete(c);
      ephemeral('presence.update', { user_id: c.user.id, status: presence(c.user.id) });
    });
  });
});

server.listen(Number(port), host, () => {
  console.log(`spot listening on http://${host}:${server.address().port}`);
});
const shutdown = () => {
  for (const c of conns) c.ws.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
