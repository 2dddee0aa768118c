#!/usr/bin/env python3
"""Updates end to end against a booted qemu-arm64 box, through the admin API as the web page uses
it (stdlib only). Driven by recipes/qemu-test-ota.sh, which boots the box and reads its console.

ota-e2e.py BASE_URL STEP [ARGS]; the session (cookie, CSRF token) is kept in $OTA_E2E_SESSION.
  claim                        claims the fresh box through the first-run wizard's API
  install BUNDLE VERSION       uploads BUNDLE, follows the progress until it is staged
  feed-install URL NAME VERSION  sets the update feed, checks it, downloads NAME until staged
  restart                      "restart now"
  expect-committed VERSION     waits until the box runs VERSION and has committed it
  expect-rolled-back GOOD BAD  waits until the box runs GOOD again and reports BAD rolled back
  expect-refused BUNDLE CODE   uploads BUNDLE; the install must fail with CODE
Exit 0 on success.
"""
import base64
import http.client
import json
import os
import sys
import time
import urllib.parse

base, step, args = sys.argv[1], sys.argv[2], sys.argv[3:]
u = urllib.parse.urlparse(base)
host, port = u.hostname, u.port or 80
SESSION = os.environ.get("OTA_E2E_SESSION", "/tmp/ota-e2e.session")


def fail(msg):
    print(f"ota-e2e: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def log(msg):
    print(f"ota-e2e: {msg}", flush=True)


def session():
    with open(SESSION) as f:
        return json.load(f)


def request(method, path, body=None, headers=None, timeout=30, raw=None, length=None):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    h = {"Host": f"{host}:{port}"}
    if os.path.exists(SESSION):
        s = session()
        h["Cookie"] = s["cookie"]
        h["X-CSRF-Token"] = s["csrf"]
    h.update(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if length is not None:
        h["Content-Length"] = str(length)
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    out = r.read()
    return r.status, r.getheaders(), out


def status():
    """GET /api/admin/updates, or None while the box does not answer (restarting)."""
    try:
        st, _, body = request("GET", "/api/admin/updates", timeout=10)
    except OSError:
        return None
    if st != 200:
        if st in (502, 503):
            return None
        fail(f"GET /api/admin/updates: {st} {body[:200]!r}")
    return json.loads(body)


def wait(what, pred, timeout):
    t0 = time.time()
    last = None
    while time.time() - t0 < timeout:
        s = status()
        if s is not None:
            last = s
            got = pred(s)
            if got:
                return s
        time.sleep(3)
    fail(f"{what}: not within {timeout} s; last status: {json.dumps(last)[:1500]}")


def slots(s):
    return " ".join(
        f"{x['name']}={x['version'] or '-'}({x['state']}{',running' if x['running'] else ''}{',primary' if x['primary'] else ''}{',trial' if x['trial'] else ''})"
        for x in s["ota"]["slots"]
    )


def upload(bundle):
    size = os.path.getsize(bundle)
    t0 = time.time()
    with open(bundle, "rb") as f:
        st, _, body = request(
            "POST", "/api/admin/updates/upload", raw=f, length=size, timeout=600,
            headers={"Content-Type": "application/octet-stream"},
        )
    if st != 202:
        fail(f"upload of {os.path.basename(bundle)}: {st} {body[:300]!r}")
    dt = time.time() - t0
    log(f"uploaded {os.path.basename(bundle)}: {size / 1048576:.0f} MiB in {dt:.1f} s ({size / 1048576 / max(dt, 0.001):.0f} MiB/s)")
    return t0


if step == "claim":
    if os.path.exists(SESSION):
        os.remove(SESSION)
    # The password rules refuse the user's or the box's name in it: a random one.
    claim = {"box_name": "Kitchen box", "username": "owner", "password": base64.urlsafe_b64encode(os.urandom(15)).decode(), "timezone": "UTC"}
    st, headers, body = request("POST", "/api/setup/claim", claim)
    if st != 200:
        fail(f"claim: {st} {body[:200]!r}")
    cookie = next(v.split(";")[0] for k, v in headers if k.lower() == "set-cookie" and v.startswith("spot_session="))
    with open(SESSION, "w") as f:
        json.dump({"cookie": cookie, "csrf": json.loads(body)["csrf_token"]}, f)
    s = status()
    if not s or not s.get("managed"):
        fail(f"the box does not manage its updates: {s}")
    log(f"claimed; runs {s['ota']['version']} on {s['ota']['board']}: {slots(s)}")

elif step == "install":
    bundle, version = args
    before = len(status()["ota"]["history"])
    t0 = upload(bundle)
    seen = set()

    def staged(s):
        o = s["ota"]
        ph = o["status"]
        if ph["phase"] == "installing" and ph.get("total"):
            pct = int(100 * (ph.get("done") or 0) / ph["total"]) // 10 * 10
            if pct not in seen:
                seen.add(pct)
                log(f"installing {ph.get('version')}: {pct} % ({ph.get('done')} of {ph['total']} bytes, {ph.get('speed') or 0} B/s, {ph.get('eta')} s left)")
        if len(o["history"]) > before and o["history"][0]["outcome"] == "install_failed":
            fail(f"the install failed: {o['history'][0]}")
        return ph["phase"] == "staged" and ph.get("version") == version

    s = wait(f"{version} staged", staged, 900)
    if len(seen) < 2:
        fail(f"the progress was not reported while installing (saw {sorted(seen)})")
    log(f"{version} staged in {time.time() - t0:.0f} s after the upload began; slots {slots(s)}; history[0] {s['ota']['history'][0]}")

elif step == "feed-install":
    # The admin sets the feed, checks it, downloads the offered bundle (a delta: only what the
    # running system lacks), and it installs.
    url, name, version = args
    st, _, body = request("PUT", "/api/admin/updates/feed", {"url": url})
    if st not in (200, 204):
        fail(f"setting the feed: {st} {body[:200]!r}")
    st, _, body = request("POST", "/api/admin/updates/check", {}, timeout=120)
    if st != 200:
        fail(f"checking the feed: {st} {body[:300]!r}")
    check = json.loads(body)
    if check.get("error") or not any(u["name"] == name and u["version"] == version for u in check["updates"]):
        fail(f"the feed check does not offer {name} ({version}): {check}")
    log(f"the feed offers {[(u['name'], u['version'], u['length']) for u in check['updates']]}")
    t0 = time.time()
    st, _, body = request("POST", "/api/admin/updates/download", {"name": name}, timeout=60)
    if st not in (200, 202):
        fail(f"download: {st} {body[:300]!r}")
    last = {}

    def staged(s):
        d = s.get("download")
        if d:
            last.update(d)
            if d.get("state") == "failed":
                fail(f"the download failed: {d}")
        ph = s["ota"]["status"]
        if s["ota"]["history"] and s["ota"]["history"][0]["outcome"] == "install_failed" and s["ota"]["history"][0].get("at", 0) >= t0 - 5:
            fail(f"the install failed: {s['ota']['history'][0]}")
        return ph["phase"] == "staged" and ph.get("version") == version

    s = wait(f"{version} downloaded and staged", staged, 1200)
    if last.get("mode") != "delta":
        fail(f"the download was not a delta: {last}")
    log(f"{version} from the feed: {last.get('mode')} download of {last.get('total')} bytes, staged in {time.time() - t0:.0f} s; slots {slots(s)}")

elif step == "restart":
    st, _, body = request("POST", "/api/admin/updates/restart", {})
    if st != 202:
        fail(f"restart: {st} {body[:200]!r}")
    log("restart requested")
    t0 = time.time()
    while time.time() - t0 < 120:
        try:
            request("GET", "/api/health", timeout=3)
        except OSError:
            break
        time.sleep(1)
    else:
        fail("the box did not go down within 120 s of the restart")
    log(f"the box went down {time.time() - t0:.0f} s after the restart request")

elif step == "expect-committed":
    (version,) = args

    def committed(s):
        o = s["ota"]
        return o["version"] == version and o["history"] and o["history"][0]["outcome"] == "committed" and o["history"][0]["version"] == version

    t0 = time.time()
    s = wait(f"{version} committed", committed, 900)
    o = s["ota"]
    running = next(x for x in o["slots"] if x["running"])
    if not running["primary"] or running["trial"] or running["version"] != version:
        fail(f"the running slot is not the committed {version}: {slots(s)}")
    if o["floor"] != version:
        fail(f"the version floor is {o['floor']}, not {version}")
    log(f"runs {version}, committed (seen {time.time() - t0:.0f} s after the box answered again); floor {o['floor']}; slots {slots(s)}")

elif step == "expect-rolled-back":
    good, bad = args

    def rolled_back(s):
        o = s["ota"]
        return o["version"] == good and any(h["outcome"] == "rolled_back" and h.get("version") == bad for h in o["history"])

    s = wait(f"back on {good} with {bad} reported rolled back", rolled_back, 1500)
    o = s["ota"]
    h = next(h for h in o["history"] if h["outcome"] == "rolled_back")
    if not h.get("message"):
        fail(f"the rolled-back record does not say why: {h}")
    running = next(x for x in o["slots"] if x["running"])
    if not running["primary"] or running["version"] != good:
        fail(f"not running the committed {good}: {slots(s)}")
    bad_slot = next(x for x in o["slots"] if not x["running"])
    if bad_slot["state"] != "empty":
        fail(f"the given-up slot is not marked empty: {slots(s)}")
    log(f"runs {good} again; history says {bad} rolled back: {h['message']!r}; slots {slots(s)}")

elif step == "expect-refused":
    bundle, code = args
    before = len(status()["ota"]["history"])
    upload(bundle)

    def refused(s):
        o = s["ota"]
        if o["status"]["phase"] == "staged":
            fail(f"the bundle was staged: {slots(s)}")
        return len(o["history"]) > before and o["history"][0]["outcome"] == "install_failed"

    s = wait("the install refused", refused, 300)
    h = s["ota"]["history"][0]
    if h.get("code") != code:
        fail(f"refused with {h.get('code')}, expected {code}: {h}")
    log(f"refused as {code}: {h.get('message')!r}; slots {slots(s)}")

else:
    fail(__doc__)
