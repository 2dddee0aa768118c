#!/usr/bin/env python3
"""Raspberry Pi Imager repository JSON for the built images (the os_list format of rpi-imager's
doc/json-schema/os-list-schema.json).

  imager-json.py entry IMG BOARD DESCRIPTION DEVICES EPOCH   one os_list entry, to stdout
  imager-json.py merge OUTDIR                               out/spot-imager.json, to stdout

Imager only shows its OS customisation dialog for images whose entry has `init_format`.
"systemd" makes every Imager (1.7 to 2.x) write firstrun.sh, which the box reads as data
(firmware/setup/src/imager.rs; it reads cloud-init's files too). Imager needs absolute URLs:
IMAGER_URL_BASE (e.g. https://example.org/spot/) or, by default, file:// URLs into OUTDIR.
"""
import datetime, glob, hashlib, json, os, sys


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def entry(img, board, description, devices, epoch):
    outdir = os.path.dirname(os.path.abspath(img))
    # The compressed image if there is one (NO_XZ=1 builds have only the raw image).
    download = img + ".xz" if os.path.exists(img + ".xz") else img
    base = os.environ.get("IMAGER_URL_BASE") or "file://" + outdir + "/"
    raw_sha = sha256(img)
    return {
        "name": f"Spot box for {description}",
        "description": "Chat and voice for a group, served from the box itself. "
        "OS customisation: host name, user and password (the box's admin), Wi-Fi and its country, time zone.",
        "url": base + os.path.basename(download),
        "extract_size": os.path.getsize(img),
        "extract_sha256": raw_sha,
        "image_download_size": os.path.getsize(download),
        "image_download_sha256": raw_sha if download == img else sha256(download),
        "release_date": datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime("%Y-%m-%d"),
        "devices": devices.split(),
        "init_format": "systemd",
        "architecture": "armv8",
        "spot_board": board,
    }


# Imager 2.x asks for the device first, from the repository's own list (tags as upstream's).
DEVICES = [
    {"name": "Raspberry Pi 4", "tags": ["pi4-64bit"], "description": "Raspberry Pi 4 Model B, 400, and Compute Module 4", "matching_type": "inclusive"},
    {"name": "Raspberry Pi 3", "tags": ["pi3-64bit"], "description": "Raspberry Pi 3 Model B / B+", "matching_type": "inclusive"},
    {"name": "Raspberry Pi Zero 2 W", "tags": ["pi3-64bit"], "description": "Raspberry Pi Zero 2 W", "matching_type": "inclusive"},
]


def merge(outdir):
    entries = {}
    # The newest entry of each board (file names sort by version only by accident: use mtime).
    for path in sorted(glob.glob(os.path.join(outdir, "spot-*.imager.json")), key=os.path.getmtime):
        with open(path) as f:
            e = json.load(f)
        if os.path.exists(os.path.join(outdir, os.path.basename(e["url"]))) or not e["url"].startswith("file://"):
            entries[e["spot_board"]] = e
    order = ["rpi4", "rpi3", "zero2w"]
    os_list = sorted(entries.values(), key=lambda e: order.index(e["spot_board"]) if e["spot_board"] in order else 99)
    return {"imager": {"devices": DEVICES}, "os_list": os_list}


if __name__ == "__main__":
    if sys.argv[1:2] == ["entry"] and len(sys.argv) == 7:
        out = entry(*sys.argv[2:])
    elif sys.argv[1:2] == ["merge"] and len(sys.argv) == 3:
        out = merge(sys.argv[2])
    else:
        sys.exit(__doc__)
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
