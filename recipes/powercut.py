#!/usr/bin/env python3
"""The power-cut test's client (stdlib only), driven by recipes/qemu-test-powercut.sh.

powercut.py setup  BASE STATE                 claim the fresh box through the wizard's API and
                                              make USERS-1 more accounts through invites; STATE
                                              (JSON) keeps names, passwords, sessions, the channel
powercut.py send   BASE STATE ACKED ROUND SECONDS QEMU_PID
                                              every account sends chat messages over the real
                                              API (POST /api/channels/ID/messages) as fast as its
                                              rate limit allows; each one the box acknowledged
                                              (200/201) is appended to ACKED at once. After
                                              SECONDS, the first acknowledgement that comes in
                                              is followed at once by SIGKILL to QEMU: the power
                                              cut, with other requests still in flight
powercut.py verify BASE STATE ACKED           after the next boot: every acknowledged message
                                              must be in the channel's history
"""
import base64
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

USERS = 4


def fail(msg):
    print(f"powercut: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


class Box:
    def __init__(self, base):
        u = urllib.parse.urlparse(base)
        self.host, self.port = u.hostname, u.port or 80

    def request(self, method, path, body=None, cookie=None, csrf=None, timeout=60):
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        h = {"Host": f"{self.host}:{self.port}"}
        if cookie:
            h["Cookie"] = cookie
        if csrf:
            h["X-CSRF-Token"] = csrf
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            out = r.read()
            return r.status, r.getheaders(), out
        finally:
            c.close()


def session_of(headers, body):
    cookie = next(v.split(";")[0] for k, v in headers if k.lower() == "set-cookie" and v.startswith("spot_session="))
    return cookie, json.loads(body)["csrf_token"]


def load(path):
    with open(path) as f:
        return json.load(f)


def save(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, path)


def login(box, user):
    """A session for USER: the saved one if the box still knows it (sessions are rows in the
    same database, so they must survive the cut too), else a fresh login."""
    if user.get("cookie"):
        status, _, body = box.request("GET", "/api/me", cookie=user["cookie"])
        if status == 200:
            user["csrf"] = json.loads(body)["csrf_token"]
            return
    for _ in range(5):
        status, headers, body = box.request("POST", "/api/login", {"username": user["name"], "password": user["password"]})
        if status == 200:
            user["cookie"], user["csrf"] = session_of(headers, body)
            return
        if status != 429:
            break
        time.sleep(json.loads(body).get("error", {}).get("retry_after_s", 5))
    fail(f"login as {user['name']}: {status} {body[:200]!r}")


def setup(base, state_path):
    box = Box(base)
    status, _, body = box.request("GET", "/api/setup")
    if status != 200 or json.loads(body).get("claimed"):
        fail(f"the box is not fresh: {status} {body[:200]!r}")
    admin = {"name": "owner", "password": base64.urlsafe_b64encode(os.urandom(15)).decode()}
    claim = {"box_name": "Power cut box", "username": admin["name"], "password": admin["password"], "timezone": "Europe/Berlin"}
    status, headers, body = box.request("POST", "/api/setup/claim", claim)
    if status != 200:
        fail(f"claim: {status} {body[:200]!r}")
    admin["cookie"], admin["csrf"] = session_of(headers, body)
    status, _, body = box.request("GET", "/api/channels", cookie=admin["cookie"])
    channel = json.loads(body)[0]["id"]
    users = [admin]
    for i in range(1, USERS):
        status, _, body = box.request("POST", "/api/admin/invites", {}, admin["cookie"], admin["csrf"])
        if status not in (200, 201):
            fail(f"invite: {status} {body[:200]!r}")
        token = json.loads(body)["token"]
        u = {"name": f"friend{i}", "password": base64.urlsafe_b64encode(os.urandom(15)).decode()}
        status, headers, body = box.request("POST", f"/api/invites/{token}/accept", {"username": u["name"], "password": u["password"]})
        if status != 200:
            fail(f"accept invite: {status} {body[:200]!r}")
        u["cookie"], u["csrf"] = session_of(headers, body)
        users.append(u)
    save(state_path, {"users": users, "channel": channel})
    print(f"powercut: claimed the box, {len(users)} accounts, channel {channel}")


def send(base, state_path, acked_path, rnd, seconds, qemu_pid):
    box = Box(base)
    state = load(state_path)
    for u in state["users"]:
        login(box, u)
    save(state_path, state)
    channel = state["channel"]
    lock = threading.Lock()
    cut = threading.Event()
    counts = {"acked": 0, "limited": 0, "in_flight_at_cut": 0, "after_cut": 0, "errors": 0}
    in_flight = {}
    start = time.monotonic()
    acked = open(acked_path, "a")

    def worker(idx, u):
        n = 0
        while not cut.is_set():
            n += 1
            content = f"powercut round {rnd} {u['name']} sender {idx} #{n} {os.urandom(4).hex()}"
            with lock:
                in_flight[content] = True
            try:
                status, _, body = box.request("POST", f"/api/channels/{channel}/messages", {"content": content, "nonce": f"pc-{rnd}-{idx}-{n}"}, u["cookie"], u["csrf"], timeout=30)
            except OSError:
                # The cut reached this request: it was never acknowledged.
                return
            wait = 0
            with lock:
                in_flight.pop(content, None)
                if status in (200, 201):
                    # Whatever answer arrives was sent before the kill: an acknowledgement,
                    # even when it raced the cut, and it must survive.
                    m = json.loads(body)
                    acked.write(json.dumps({"round": rnd, "id": m["id"], "content": content}) + "\n")
                    acked.flush()
                    os.fsync(acked.fileno())
                    counts["acked"] += 1
                    if cut.is_set():
                        counts["after_cut"] += 1
                        return
                    if time.monotonic() - start >= seconds:
                        # Power cut right after this acknowledgement, requests still in flight.
                        os.kill(qemu_pid, signal.SIGKILL)
                        cut.set()
                        counts["in_flight_at_cut"] = len(in_flight)
                        return
                elif cut.is_set():
                    return
                elif status == 429:
                    counts["limited"] += 1
                    wait = 0.25
                else:
                    counts["errors"] += 1
                    print(f"powercut: message refused: {status} {body[:200]!r}", file=sys.stderr)
                    wait = 1
            if wait:
                time.sleep(min(wait, 2))

    # Two senders per account (the rate limit allows a burst); each its own nonces: the box
    # answers a repeated nonce with the message it already has.
    threads = [threading.Thread(target=worker, args=(2 * i + k, u)) for i, u in enumerate(state["users"]) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    if not cut.is_set():
        os.kill(qemu_pid, signal.SIGKILL)
        fail("no acknowledgement came in to cut after")
    acked.close()
    print(f"powercut: round {rnd}: {counts['acked']} messages acknowledged in {time.monotonic() - start:.1f} s "
          f"({counts['limited']} rate-limited tries), QEMU killed right after the last one, "
          f"{counts['in_flight_at_cut']} requests in flight ({counts['after_cut']} of them answered as QEMU died)")
    if counts["errors"]:
        fail(f"{counts['errors']} messages refused")


def history(box, user, channel):
    seen = {}
    before = None
    while True:
        q = f"?limit=100" + (f"&before={before}" if before else "")
        status, _, body = box.request("GET", f"/api/channels/{channel}/messages{q}", cookie=user["cookie"])
        if status != 200:
            fail(f"history: {status} {body[:200]!r}")
        page = json.loads(body)
        for m in page:
            seen[str(m["id"])] = m["content"]
        if len(page) < 100:
            return seen
        before = page[0]["id"]


def verify(base, state_path, acked_path):
    box = Box(base)
    state = load(state_path)
    admin = state["users"][0]
    login(box, admin)
    save(state_path, state)
    seen = history(box, admin, state["channel"])
    contents = set(seen.values())
    acked = [json.loads(line) for line in open(acked_path)] if os.path.exists(acked_path) else []
    ids = {}
    for a in acked:
        if ids.setdefault(str(a["id"]), a["content"]) != a["content"]:
            fail(f"the box acknowledged two different messages as id {a['id']}")
    missing = [a for a in acked if a["content"] not in contents]
    rounds = sorted({a["round"] for a in acked})
    stored = sum(1 for c in contents if c.startswith("powercut round "))
    print(f"powercut: {len(acked)} acknowledged messages (rounds {rounds}), {len(acked) - len(missing)} present after the cut; "
          f"{stored} power-cut messages stored in all")
    if missing:
        for a in missing[:10]:
            print(f"powercut:   missing: round {a['round']} id {a['id']} {a['content']!r}", file=sys.stderr)
        fail(f"{len(missing)} acknowledged messages are gone after the power cut")
    for a in acked:
        if seen.get(str(a["id"])) not in (None, a["content"]):
            fail(f"message {a['id']} changed: {seen.get(str(a['id']))!r} != {a['content']!r}")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "setup" and len(sys.argv) == 4:
        setup(sys.argv[2], sys.argv[3])
    elif cmd == "send" and len(sys.argv) == 8:
        send(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]))
    elif cmd == "verify" and len(sys.argv) == 5:
        verify(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
