#!/usr/bin/env python3
"""A static file server for an update feed, with HTTP Range requests (stdlib only), for the
end-to-end update test: feed-server.py DIR PORT_FILE LOG. Listens on 127.0.0.1 (a QEMU guest
with user networking reaches it as 10.0.2.2), writes its port to PORT_FILE, and appends one JSON
line per response to LOG: {"path", "range", "bytes"} (the bytes of body actually sent), so the
test can count what a box downloaded.
"""
import http.server
import json
import os
import re
import sys
import threading

root, port_file, log_file = sys.argv[1:4]
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def record(self, rng, n):
        with lock, open(log_file, "a") as f:
            f.write(json.dumps({"path": self.path, "range": rng, "bytes": n}) + "\n")

    def do_GET(self):
        rel = os.path.normpath(self.path.split("?", 1)[0]).lstrip("/")
        path = os.path.join(root, rel)
        if rel.startswith("..") or not os.path.isfile(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.record(None, 0)
            return
        size = os.path.getsize(path)
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            if not m or int(m.group(1)) >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.record(rng, 0)
                return
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            status = 206
        n = end - start + 1
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        sent = 0
        try:
            with open(path, "rb") as f:
                f.seek(start)
                while sent < n:
                    b = f.read(min(1 << 16, n - sent))
                    if not b:
                        break
                    self.wfile.write(b)
                    sent += len(b)
        finally:
            self.record(rng, sent)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
