#!/usr/bin/env python3
"""powercut-nbd.py DISK SOCKET [STATS]: an NBD server for the power-cut test whose disk has a
volatile write cache, like an SD card or an SSD: the writes it acknowledged reach DISK only when
the client flushes (NBD_CMD_FLUSH, or a write with FUA). Until then they live in this process's
memory, and reads see them. When the client goes away without NBD_CMD_DISC (QEMU killed with
SIGKILL: the power cut), whatever was not flushed is dropped, exactly as a power cut drops a
disk's cache, and STATS gets a JSON line saying how much.

Why not one of QEMU's own cache modes on a plain file (recipes/qemu-test-powercut.sh has the
long form): every one of them keeps, after a `kill -9` of QEMU, everything the guest wrote,
flushed or not, because the writes sit in the host's page cache (writeback, unsafe) or on the
host's disk (none, directsync, writethrough) and the host does not lose power. Only the guest's
own page cache would be lost. This server makes the line between "flushed" and "not flushed"
the line between kept and lost, which is what a durability test must check.

One connection, then the process exits (the test starts one server per boot). Fixed newstyle
handshake with NBD_OPT_GO / NBD_OPT_EXPORT_NAME, simple replies only (QEMU falls back to them
when structured replies are refused), READ, WRITE (+FUA), FLUSH, DISC. Stdlib only.
"""
import json
import os
import socket
import struct
import sys

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
REPLY_MAGIC = 0x3E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698

FLAG_FIXED_NEWSTYLE, FLAG_NO_ZEROES = 1, 2
OPT_EXPORT_NAME, OPT_ABORT, OPT_INFO, OPT_GO = 1, 2, 6, 7
REP_ACK, REP_INFO = 1, 3
REP_ERR_UNSUP = 0x80000001
INFO_EXPORT, INFO_BLOCK_SIZE = 0, 3
# Transmission flags: has flags, flush and FUA supported (a volatile cache the client manages).
TFLAGS = 0x1 | 0x4 | 0x8
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH = 0, 1, 2, 3
CMD_FLAG_FUA = 1
EIO, EINVAL, ENOSPC, ENOTSUP = 5, 22, 28, 95

BLOCK = 4096


class Disk:
    """DISK plus a cache of dirty blocks (index -> 4 KiB) that only a flush writes out."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR)
        self.size = os.fstat(self.fd).st_size
        self.dirty = {}
        self.stats = {"writes": 0, "written_bytes": 0, "flushes": 0, "flushed_blocks": 0, "fua_writes": 0}

    def _base(self, idx):
        data = os.pread(self.fd, BLOCK, idx * BLOCK)
        return data + bytes(BLOCK - len(data))

    def read(self, off, n):
        buf = bytearray(os.pread(self.fd, n, off))
        buf.extend(bytes(n - len(buf)))
        if self.dirty:
            first, last = off // BLOCK, (off + n - 1) // BLOCK
            if last - first + 1 < len(self.dirty):
                hits = [i for i in range(first, last + 1) if i in self.dirty]
            else:
                hits = [i for i in self.dirty if first <= i <= last]
            for i in hits:
                b = self.dirty[i]
                s = max(off, i * BLOCK)
                e = min(off + n, (i + 1) * BLOCK)
                buf[s - off : e - off] = b[s - i * BLOCK : e - i * BLOCK]
        return bytes(buf)

    def write(self, off, data, fua):
        self.stats["writes"] += 1
        self.stats["written_bytes"] += len(data)
        n = len(data)
        first, last = off // BLOCK, (off + n - 1) // BLOCK
        for i in range(first, last + 1):
            s = max(off, i * BLOCK)
            e = min(off + n, (i + 1) * BLOCK)
            if s == i * BLOCK and e == (i + 1) * BLOCK:
                blk = bytearray(data[s - off : e - off])
            else:
                blk = self.dirty.get(i)
                blk = bytearray(blk if blk is not None else self._base(i))
                blk[s - i * BLOCK : e - i * BLOCK] = data[s - off : e - off]
            self.dirty[i] = blk
        if fua:
            # Forced unit access: this write is durable when acknowledged. Its whole blocks go
            # out (a real disk may also persist more than it must, never less).
            self.stats["fua_writes"] += 1
            for i in range(first, last + 1):
                self._persist(i, self.dirty.pop(i))

    def _persist(self, i, blk):
        end = min(BLOCK, self.size - i * BLOCK)
        os.pwrite(self.fd, bytes(blk[:end]), i * BLOCK)

    def flush(self):
        self.stats["flushes"] += 1
        self.stats["flushed_blocks"] += len(self.dirty)
        for i in sorted(self.dirty):
            self._persist(i, self.dirty[i])
        self.dirty.clear()
        # The host does not lose power in this test: DISK in the host's page cache is the
        # "medium". No fdatasync, so flushes stay cheap.


def recv_exact(conn, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = conn.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf.extend(chunk)
    return bytes(buf)


def handshake(conn, disk):
    conn.sendall(struct.pack(">QQH", NBDMAGIC, IHAVEOPT, FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES))
    (cflags,) = struct.unpack(">I", recv_exact(conn, 4))
    no_zeroes = bool(cflags & FLAG_NO_ZEROES)

    def reply(opt, rtype, data=b""):
        conn.sendall(struct.pack(">QIII", REPLY_MAGIC, opt, rtype, len(data)) + data)

    while True:
        magic, opt, length = struct.unpack(">QII", recv_exact(conn, 16))
        if magic != IHAVEOPT:
            raise ValueError("bad option magic")
        data = recv_exact(conn, length)
        if opt == OPT_EXPORT_NAME:
            conn.sendall(struct.pack(">QH", disk.size, TFLAGS) + (b"" if no_zeroes else bytes(124)))
            return
        if opt in (OPT_GO, OPT_INFO):
            reply(opt, REP_INFO, struct.pack(">HQH", INFO_EXPORT, disk.size, TFLAGS))
            reply(opt, REP_INFO, struct.pack(">HIII", INFO_BLOCK_SIZE, 1, BLOCK, 32 << 20))
            reply(opt, REP_ACK)
            if opt == OPT_GO:
                return
        elif opt == OPT_ABORT:
            reply(opt, REP_ACK)
            raise EOFError
        else:
            # Structured replies, extended headers, meta contexts, TLS, LIST: not offered.
            reply(opt, REP_ERR_UNSUP)


def serve(conn, disk):
    while True:
        magic, flags, cmd, handle, off, length = struct.unpack(">IHHQQI", recv_exact(conn, 28))
        if magic != REQUEST_MAGIC:
            raise ValueError("bad request magic")
        err, payload = 0, b""
        in_range = off + length <= disk.size
        if cmd == CMD_READ:
            if in_range:
                payload = disk.read(off, length)
            else:
                err = EINVAL
        elif cmd == CMD_WRITE:
            data = recv_exact(conn, length)
            if in_range:
                disk.write(off, data, bool(flags & CMD_FLAG_FUA))
            else:
                err = ENOSPC
        elif cmd == CMD_FLUSH:
            disk.flush()
        elif cmd == CMD_DISC:
            # An orderly disconnect (QEMU quitting after the guest powered off): QEMU has
            # flushed already; keep what is left too, as a disk that is powered down cleanly.
            disk.flush()
            return "disconnect"
        else:
            err = ENOTSUP
        if err:
            payload = b""
        conn.sendall(struct.pack(">IIQ", SIMPLE_REPLY_MAGIC, err, handle) + payload)


def main():
    path, sock_path = sys.argv[1], sys.argv[2]
    stats_path = sys.argv[3] if len(sys.argv) > 3 else None
    disk = Disk(path)
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    conn, _ = srv.accept()
    srv.close()
    end = "cut"
    try:
        handshake(conn, disk)
        end = serve(conn, disk)
    except (EOFError, ConnectionResetError, BrokenPipeError):
        pass
    dropped = len(disk.dirty)
    out = dict(disk.stats, end=end, dropped_blocks=dropped, dropped_bytes=dropped * BLOCK)
    # What was not flushed is gone: the process exits without writing disk.dirty.
    line = json.dumps(out)
    print(f"powercut-nbd: {line}", file=sys.stderr)
    if stats_path:
        with open(stats_path, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
