#!/usr/bin/env python3
"""The boot state files (spot/boot0.env, spot/boot1.env): U-Boot checksummed environments of
4096 bytes, the format ota::bootstate and recipes/boot.cmd.in read and write.

  bootenv.py make FILE NAME=VALUE...   write one copy (the image's factory state, a test's state)
  bootenv.py show FILE...              print each copy's variables, or "invalid"
  bootenv.py state FILE0 FILE1         print the state (the valid copy with the higher spot_seq)
                                       as NAME=VALUE lines, or nothing for no valid copy
"""
import sys
import zlib

SIZE = 4096


def make(pairs):
    data = b"".join(k.encode() + b"=" + v.encode() + b"\0" for k, v in pairs if v != "") + b"\0"
    if len(data) > SIZE - 4:
        sys.exit("bootenv.py: too much for one environment")
    data = data.ljust(SIZE - 4, b"\0")
    return zlib.crc32(data).to_bytes(4, "little") + data


def parse(raw):
    if len(raw) != SIZE or int.from_bytes(raw[:4], "little") != zlib.crc32(raw[4:]):
        return None
    out = {}
    for item in raw[4:].split(b"\0"):
        if not item:
            break
        k, _, v = item.decode().partition("=")
        out[k] = v
    return out


def load(path):
    try:
        with open(path, "rb") as f:
            return parse(f.read())
    except FileNotFoundError:
        return None


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "make":
        pairs = [a.split("=", 1) for a in args[1:]]
        with open(args[0], "wb") as f:
            f.write(make(pairs))
    elif cmd == "show":
        for p in args:
            env = load(p)
            print(p + ": " + ("invalid" if env is None else " ".join(f"{k}={v}" for k, v in sorted(env.items()))))
    elif cmd == "state":
        best = None
        for p in args:
            env = load(p)
            if env is not None and "spot_seq" in env:
                if best is None or int(env["spot_seq"], 16) > int(best["spot_seq"], 16):
                    best = env
        for k, v in sorted((best or {}).items()):
            print(f"{k}={v}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
