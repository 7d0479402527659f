#!/usr/bin/env python3
"""Reads an apk v3 package (apk-tools 3's ADB container) for the tests: prints its metadata
as JSON, extracts its files and checks each file's sha256 against the metadata.

    apk_v3.py info PKG            JSON: {"info": {...}, "scripts": {...}, "paths": [...]}
    apk_v3.py extract PKG DEST    writes the tree with the packaged modes, prints the paths

Written from the format description (apk-tools doc/apk-v3.5, src/adb.h, src/apk_adb.h),
separately from scripts/apkv3.py, so that the tests do not check the writer with itself:
every offset, length, block type, alignment and data block order is checked, and any
deviation exits non-zero with a message.
"""
import hashlib
import json
import os
import struct
import sys
import zlib

MAX_UNPACKED = 256 << 20  # a router package is a few MiB; refuse decompression bombs

# Field names by number for each object kind (apk_adb.c schema_* tables).
PKGINFO = {1: "name", 2: "version", 3: "hashes", 4: "description", 5: "arch", 6: "license",
           7: "origin", 8: "maintainer", 9: "url", 10: "repo-commit", 11: "build-time",
           12: "installed-size", 13: "file-size", 14: "provider-priority", 15: "depends",
           16: "provides", 17: "replaces", 18: "install-if", 19: "recommends", 20: "layer",
           21: "tags"}
SCRIPTS = {1: "trigger", 2: "pre-install", 3: "post-install", 4: "pre-deinstall",
           5: "post-deinstall", 6: "pre-upgrade", 7: "post-upgrade"}
ACL = {1: "mode", 2: "user", 3: "group", 4: "xattrs"}
FILE = {1: "name", 2: "acl", 3: "size", 4: "mtime", 5: "hash", 6: "target"}
DIR = {1: "name", 2: "acl", 3: "files"}
PACKAGE = {1: "info", 2: "paths", 3: "scripts", 4: "triggers", 5: "replaces-priority"}
HEX = {"hashes", "hash", "repo-commit", "target"}
TEXT = {"name", "version", "description", "arch", "license", "origin", "maintainer", "url",
        "user", "group", *SCRIPTS.values()}


def die(msg):
    sys.exit(f"apk_v3: {msg}")


def unpack(raw):
    """The uncompressed stream from the file's first bytes (adb_comp.c)."""
    if raw[:4] == b"ADB.":
        return raw
    if raw[:4] != b"ADBd":
        die(f"not an apk v3 package (starts {raw[:4]!r})")
    z = zlib.decompressobj(-15)
    out = z.decompress(raw[4:], MAX_UNPACKED)
    if not z.eof or z.unused_data or z.unconsumed_tail:
        die("deflate stream truncated, too large or followed by junk")
    return out


def blocks(s):
    """[(type, payload)] after the 8-byte file header; checks sizes and padding."""
    if s[:4] != b"ADB." or s[4:8] != b"pckg":
        die(f"bad header {s[:8]!r}: want ADB. and schema pckg")
    pos, out = 8, []
    while pos < len(s):
        if pos + 4 > len(s):
            die("truncated block header")
        (tag,) = struct.unpack_from("<I", s, pos)
        kind, size = tag >> 30, tag & 0x3FFFFFFF
        if kind == 3 or size < 4 or pos + size > len(s):
            die(f"bad block at {pos}: type {kind} size {size}")
        out.append((kind, s[pos + 4:pos + size]))
        pad = -size % 8
        if s[pos + size:pos + size + pad] != bytes(pad):
            die(f"block at {pos}: padding missing or not zero")
        pos += size + pad
    return out


class Tree:
    """Decodes values of the ADB payload."""

    def __init__(self, adb):
        if len(adb) < 8 or adb[0] != 0:
            die("ADB block too short or incompatible version")
        self.adb = adb

    def at(self, off, n):
        if off + n > len(self.adb):
            die(f"value at {off}+{n} is past the ADB block ({len(self.adb)})")
        return self.adb[off:off + n]

    def scalar(self, v):
        t, x = v >> 28, v & 0x0FFFFFFF
        if t == 0x1:
            return x
        if t in (0x2, 0x3):
            n = 4 if t == 0x2 else 8
            if x % 4:
                die(f"misaligned integer at {x}")
            return int.from_bytes(self.at(x, n), "little")
        if t in (0x8, 0x9, 0xA):
            w = {0x8: 1, 0x9: 2, 0xA: 4}[t]
            if x % w:
                die(f"misaligned blob at {x}")
            n = int.from_bytes(self.at(x, w), "little")
            return self.at(x + w, n)
        die(f"value {v:#x} is not a scalar")

    def slots(self, v):
        t, x = v >> 28, v & 0x0FFFFFFF
        if t not in (0xD, 0xE) or x % 4:
            die(f"value {v:#x} is not an aligned array/object")
        (n,) = struct.unpack("<I", self.at(x, 4))
        if n < 1:
            die(f"object at {x} has no slot count")
        return list(struct.unpack(f"<{n}I", self.at(x, 4 * n)))[1:]

    def obj(self, v, names, nested):
        out = {}
        for i, s in enumerate(self.slots(v), 1):
            if s == 0:
                continue
            name = names.get(i)
            if name is None:
                die(f"unknown field {i} in {sorted(names.values())}")
            out[name] = nested[name](s) if name in nested else self.value(name, s)
        return out

    def value(self, name, v):
        x = self.scalar(v)
        if name == "mode" and isinstance(x, int):
            return f"{x:04o}"
        if name in HEX:
            return x.hex()
        if name in TEXT:
            return x.decode()
        if isinstance(x, bytes):
            die(f"field {name}: unexpected blob")
        return x

    def array(self, v, item):
        return [item(s) for s in self.slots(v)]

    def acl(self, v):
        return self.obj(v, ACL, {"xattrs": lambda s: self.array(s, lambda x: self.scalar(x).hex())})

    def file(self, v):
        return self.obj(v, FILE, {"acl": self.acl})

    def dir(self, v):
        return self.obj(v, DIR, {"acl": self.acl, "files": lambda s: self.array(s, self.file)})

    def package(self):
        (root,) = struct.unpack_from("<I", self.adb, 4)
        nested = {"info": lambda s: self.obj(s, PKGINFO, {}),
                  "paths": lambda s: self.array(s, self.dir),
                  "scripts": lambda s: self.obj(s, SCRIPTS, {})}
        return self.obj(root, PACKAGE, nested)


def read(path):
    """(metadata, {path: bytes}) with every file's size and sha256 checked."""
    bl = blocks(unpack(open(path, "rb").read()))
    if not bl or bl[0][0] != 0:
        die("first block is not the ADB block")
    if any(k == 1 for k, _ in bl):
        print("apk_v3: note: package has a signature block (not checked)", file=sys.stderr)
    meta = Tree(bl[0][1]).package()
    want = [(di, fi, d, f) for di, d in enumerate(meta.get("paths", []), 1)
            for fi, f in enumerate(d.get("files", []), 1) if f.get("size", 0) and "target" not in f]
    data = [p for k, p in bl[1:] if k == 2]
    if len(data) != len(want) or len(data) != len([1 for k, _ in bl[1:] if k != 1]):
        die(f"{len(data)} data blocks for {len(want)} non-empty files (or stray blocks)")
    files = {}
    for (di, fi, d, f), p in zip(want, data):
        name = "/".join(x for x in (d.get("name", ""), f["name"]) if x)
        if struct.unpack_from("<II", p) != (di, fi) or len(p) - 8 != f["size"]:
            die(f"data block for {name} out of order or of the wrong size")
        files[name] = p[8:]
    for d in meta.get("paths", []):
        for f in d.get("files", []):
            name = "/".join(x for x in (d.get("name", ""), f["name"]) if x)
            body = files.setdefault(name, b"")
            if hashlib.sha256(body).hexdigest() != f.get("hash"):
                die(f"{name}: sha256 does not match the metadata")
    return meta, files


def extract(meta, files, dest):
    for d in meta.get("paths", []):
        top = os.path.join(dest, d.get("name", ""))
        os.makedirs(top, exist_ok=True)
        for f in d.get("files", []):
            name = "/".join(x for x in (d.get("name", ""), f["name"]) if x)
            if ".." in name.split("/"):
                die(f"unsafe path {name}")
            target = os.path.join(dest, name)
            with open(target, "wb") as out:
                out.write(files[name])
            os.chmod(target, int(f["acl"]["mode"], 8))
            print(name)
    for d in reversed(meta.get("paths", [])):  # after their files: a mode may forbid writing
        os.chmod(os.path.join(dest, d.get("name", "")), int(d["acl"]["mode"], 8))


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("info", "extract"):
        sys.exit(__doc__)
    meta, files = read(sys.argv[2])
    if sys.argv[1] == "info":
        json.dump(meta, sys.stdout, indent=1, sort_keys=True)
        print()
    elif len(sys.argv) == 4:
        extract(meta, files, sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
