#!/usr/bin/env python3
"""HTTP + gateway smoke test against a booted box (stdlib only).

smoke.py BASE_URL MESSAGE [USER PASSWORD]: the web app is served; without USER, the box must be
fresh: the first-run wizard's API claims it (box name, admin, time zone) the way the browser
does, and a captive-portal probe is redirected to the wizard; with USER/PASSWORD (an Imager
preset) that account logs in. Then a message is sent over the gateway WebSocket and
acknowledged, and history returns it. Exit 0 on success.
"""
import base64
import http.client
import json
import os
import socket
import struct
import sys
import urllib.parse


def fail(msg):
    print(f"smoke: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


base, text = sys.argv[1], sys.argv[2]
user = sys.argv[3] if len(sys.argv) > 3 else None
password = sys.argv[4] if len(sys.argv) > 4 else None
u = urllib.parse.urlparse(base)
host, port = u.hostname, u.port or 80


def request(method, path, body=None, headers=None):
    c = http.client.HTTPConnection(host, port, timeout=30)
    h = {"Host": f"{host}:{port}"}
    h.update(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    return r.status, r.getheaders(), r.read()


status, _, page = request("GET", "/")
if status != 200 or b'id="app"' not in page:
    fail(f"login page not served (status {status})")
print("smoke: the web app is served")

status, _, body = request("GET", "/api/setup")
if status != 200:
    fail(f"GET /api/setup: {status}")
setup = json.loads(body)
if user is None:
    if setup.get("claimed") or not setup.get("open"):
        fail(f"the fresh box is not open for setup: {setup}")
    # A phone on the setup network: its OS's probe is sent to the wizard.
    c = http.client.HTTPConnection(host, port, timeout=30)
    c.request("GET", "/generate_204", headers={"Host": "connectivitycheck.gstatic.com"})
    r = c.getresponse()
    loc = r.getheader("Location") or ""
    r.read()
    if r.status != 302 or not loc.endswith("/setup"):
        fail(f"captive probe not redirected to the wizard: {r.status} {loc}")
    print(f"smoke: captive probe redirected to {loc}")
    user = "owner"
    password = base64.urlsafe_b64encode(os.urandom(15)).decode()
    claim = {"box_name": "Smoke box", "username": user, "password": password, "timezone": "Europe/Berlin"}
    status, headers, body = request("POST", "/api/setup/claim", claim)
    if status != 200:
        fail(f"claim failed: {status} {body[:200]!r}")
    status, _, again = request("POST", "/api/setup/claim", dict(claim, username="second"))
    if status != 409:
        fail(f"a second claim was not refused: {status}")
    print("smoke: the wizard claimed the box (a second claim is refused)")
else:
    status, headers, body = request("POST", "/api/login", {"username": user, "password": password})
    if status != 200:
        fail(f"login failed: {status} {body[:200]!r}")
    print(f"smoke: {user} logged in")
cookie = next(v.split(";")[0] for k, v in headers if k.lower() == "set-cookie" and v.startswith("spot_session="))
csrf = json.loads(body)["csrf_token"]

status, _, body = request("GET", "/api/channels", headers={"Cookie": cookie})
channel = json.loads(body)[0]["id"]

# A minimal WebSocket client (RFC 6455): enough for text frames.
s = socket.create_connection((host, port), timeout=30)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(
    (
        f"GET /api/gateway HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n"
    ).encode()
)
buf = b""
while b"\r\n\r\n" not in buf:
    chunk = s.recv(4096)
    if not chunk:
        fail("gateway upgrade: connection closed")
    buf += chunk
head, buf = buf.split(b"\r\n\r\n", 1)
if b" 101 " not in head.split(b"\r\n")[0]:
    fail(f"gateway upgrade refused: {head[:100]!r}")


def send(obj):
    payload = json.dumps(obj).encode()
    mask = os.urandom(4)
    n = len(payload)
    hdr = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
    s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def recv_exact(n):
    global buf
    while len(buf) < n:
        chunk = s.recv(65536)
        if not chunk:
            fail("gateway closed")
        buf += chunk
    out, buf = buf[:n], buf[n:]
    return out


def recv():
    while True:
        b0, b1 = recv_exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", recv_exact(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", recv_exact(8))[0]
        payload = recv_exact(n)
        if b0 & 0x0F == 1:
            return json.loads(payload)
        if b0 & 0x0F == 8:
            fail(f"gateway closed: {payload[:2].hex()}")


if recv().get("op") != "hello":
    fail("no hello")
send({"op": "resume", "d": {"seq": None}})
while recv().get("op") != "ready":
    pass
send({"op": "request", "id": "smoke", "t": "message.send", "d": {"channel_id": channel, "content": text, "nonce": "smoke-1"}})
while True:
    f = recv()
    if f.get("id") == "smoke":
        if f.get("op") != "reply":
            fail(f"message refused: {f}")
        break
print(f"smoke: message sent over the gateway and acknowledged (id {f['d']['id']})")

status, _, body = request("GET", f"/api/channels/{channel}/messages", headers={"Cookie": cookie})
if not any(m["content"] == text for m in json.loads(body)):
    fail("the message is not in the history")
print("smoke: the message is in the history")
