#!/usr/bin/env python3
"""Writes an apk v3 package (the ADB container of apk-tools 3, as `apk mkpkg` makes it).

    apkv3.py --files DIR --output FILE --mtime EPOCH --info KEY:VALUE... [--script TYPE:FILE...]

OpenWrt 25 installs packages with apk-tools 3; this writes the same format without needing
`apk` on the build machine. Format (apk-tools doc/apk-v3.5, src/adb.h, src/apk_adb.[ch],
src/app_mkpkg.c):

* file = "ADBd" + raw deflate of the stream below ("ADB." + stream when uncompressed);
* stream = "ADB." magic, schema "pckg", then blocks. A block is a little-endian u32
  (type << 30 | 4 + payload length), the payload, zero padding to 8 bytes. One ADB block
  (the metadata tree), no SIG block (unsigned: `apk add --allow-untrusted`), then one DATA
  block per non-empty regular file: u32 path index, u32 file index (1-based), the bytes;
* ADB payload = u8 compat 0, u8 version 0, u16 0, u32 root value, then the values. A value
  is a u32: 4 type bits and 28 bits of immediate or offset into the payload. Objects and
  arrays are u32 slots, slot 0 the slot count, trailing null slots dropped; arrays of
  directories and files are sorted by name (memcmp order), as apk's adb_wa_sort does.

Owners are always root:root (the tree is built as an ordinary user); modes come from DIR.
"""
import argparse
import hashlib
import os
import stat
import struct
import sys
import zlib

# Value types (adb.h ADB_TYPE_*), the high 4 bits of a value.
T_INT, T_INT32, T_INT64 = 0x10000000, 0x20000000, 0x30000000
T_BLOB8, T_BLOB16, T_BLOB32 = 0x80000000, 0x90000000, 0xA0000000
T_ARRAY, T_OBJECT = 0xD0000000, 0xE0000000
NULL = 0
IMMEDIATE_MAX = 0x0FFFFFFF  # the 28 value bits
BLOCK_ADB, BLOCK_DATA = 0, 2
BLOCK_MAX_LEN = 0x3FFFFFFF - 4  # larger needs the extended header, which we never write
BLOCK_ALIGN = 8
SCHEMA_PACKAGE = b"pckg"
UID_LEN = 20  # pkginfo "hashes": the first 20 bytes of sha256(ADB payload), like mkpkg

# Field numbers (apk_adb.h ADBI_*).
PKGINFO = {"name": 1, "version": 2, "description": 4, "arch": 5, "license": 6, "origin": 7,
           "maintainer": 8, "url": 9}
PI_HASHES, PI_INSTALLED_SIZE = 3, 12
SCRIPTS = {"trigger": 1, "pre-install": 2, "post-install": 3, "pre-deinstall": 4,
           "post-deinstall": 5, "pre-upgrade": 6, "post-upgrade": 7}
PKG_INFO, PKG_PATHS, PKG_SCRIPTS = 1, 2, 3
DIR_NAME, DIR_ACL, DIR_FILES = 1, 2, 3
FILE_NAME, FILE_ACL, FILE_SIZE, FILE_MTIME, FILE_HASH = 1, 2, 3, 4, 5
ACL_MODE, ACL_USER, ACL_GROUP = 1, 2, 3


class Adb:
    """The ADB payload being written: values are appended, offsets returned as values."""

    def __init__(self):
        self.buf = bytearray(8)  # adb_hdr, root filled in by set_root
        self.seen = {}  # bytes -> offset: equal values are stored once, as apk's adb_w_data

    def _put(self, data, align, share=True):
        off = self.seen.get(data)
        if share and off is not None and off % align == 0:
            return off
        self.buf += bytes(-len(self.buf) % align)
        off = len(self.buf)
        if off + len(data) > IMMEDIATE_MAX:
            sys.exit("apkv3: metadata too large")
        self.buf += data
        if share:
            self.seen[data] = off
        return off

    def blob(self, data, share=True):
        if not data:
            return NULL
        if len(data) <= 0xFF:
            return T_BLOB8 | self._put(struct.pack("<B", len(data)) + data, 1, share)
        if len(data) <= 0xFFFF:
            return T_BLOB16 | self._put(struct.pack("<H", len(data)) + data, 2)
        return T_BLOB32 | self._put(struct.pack("<I", len(data)) + data, 4)

    def int(self, n):
        if n <= IMMEDIATE_MAX:
            return T_INT | n
        if n <= 0xFFFFFFFF:
            return T_INT32 | self._put(struct.pack("<I", n), 4)
        return T_INT64 | self._put(struct.pack("<Q", n), 4)

    def _slots(self, kind, slots):
        while slots and slots[-1] == NULL:
            slots.pop()
        if not slots:
            return NULL
        data = struct.pack(f"<{len(slots) + 1}I", len(slots) + 1, *slots)
        return kind | self._put(data, 4)

    def obj(self, fields):
        """fields: {field number: value}; the slots between stay null."""
        slots = [NULL] * max(fields, default=0)
        for i, v in fields.items():
            slots[i - 1] = v
        return self._slots(T_OBJECT, slots)

    def array(self, items, kind=T_ARRAY):
        return self._slots(kind, list(items))

    def set_root(self, root):
        struct.pack_into("<BBHI", self.buf, 0, 0, 0, 0, root)


def acl(db, mode):
    user, group = db.blob(b"root"), db.blob(b"root")
    return db.obj({ACL_MODE: db.int(mode), ACL_USER: user, ACL_GROUP: group})


def scan(root):
    """[(dir name, dir mode, [(file name, mode, path)])], sorted as apk sorts them."""
    dirs = []
    for top, subdirs, files in os.walk(root):
        rel = os.path.relpath(top, root)
        name = b"" if rel == "." else os.fsencode(rel)
        entries = []
        for f in files:
            path = os.path.join(top, f)
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                sys.exit(f"apkv3: {path}: only regular files and directories are packaged")
            entries.append((os.fsencode(f), stat.S_IMODE(st.st_mode), path))
        entries.sort()
        dirs.append((name, stat.S_IMODE(os.lstat(top).st_mode), entries))
        for d in subdirs:
            if os.path.islink(os.path.join(top, d)):
                sys.exit(f"apkv3: {top}/{d}: symlinks are not packaged")
    dirs.sort(key=lambda d: d[0])
    return dirs


# Values are written in mkpkg's order (each file, then its directory; info strings first),
# so that the payload comes out byte for byte as `apk mkpkg` writes it for the same tree.
def file_obj(db, name, mode, path, mtime):
    data = open(path, "rb").read()
    f = {FILE_NAME: db.blob(name), FILE_HASH: db.blob(hashlib.sha256(data).digest()),
         FILE_MTIME: db.int(mtime), FILE_SIZE: db.int(len(data))}
    f[FILE_ACL] = acl(db, mode)
    return db.obj(f), len(data)


def dir_objs(db, dirs, mtime):
    """The directory objects and the installed size (sum of the file sizes)."""
    out, total = [], 0
    for name, mode, entries in dirs:
        files = []
        for fname, fmode, path in entries:
            v, size = file_obj(db, fname, fmode, path, mtime)
            files.append(v)
            total += size
        d = {DIR_NAME: db.blob(name)}
        d[DIR_ACL] = acl(db, mode)
        d[DIR_FILES] = db.array(files, T_OBJECT)  # mkpkg tags these arrays as objects
        out.append(db.obj(d))
    return out, total


def metadata(args, dirs):
    """The ADB payload, its uid filled in."""
    db = Adb()
    info = {}
    for kv in args.info:
        key, _, value = kv.partition(":")
        if key not in PKGINFO:
            sys.exit(f"apkv3: unknown info field {key}")
        info[PKGINFO[key]] = value.encode()
    for key in ("name", "version"):
        if PKGINFO[key] not in info:
            sys.exit(f"apkv3: info field {key} is required")
    fields = {i: db.blob(info[i]) for i in sorted(info)}
    dirobjs, size = dir_objs(db, dirs, args.mtime)
    fields[PI_INSTALLED_SIZE] = db.int(max(size, 1))
    uid = db.blob(bytes(UID_LEN), share=False)
    fields[PI_HASHES] = uid
    pkg = {PKG_INFO: db.obj(fields), PKG_PATHS: db.array(dirobjs, T_OBJECT)}
    scripts = {}
    for kv in args.script:
        key, _, path = kv.partition(":")
        if key not in SCRIPTS:
            sys.exit(f"apkv3: unknown script type {key}")
        scripts[SCRIPTS[key]] = open(path, "rb").read()
    pkg[PKG_SCRIPTS] = db.obj({i: db.blob(scripts[i]) for i in sorted(scripts)})
    db.set_root(db.obj(pkg))
    # mkpkg's unique id: sha256 of the payload with the id still zero (app_mkpkg.c).
    at = (uid & IMMEDIATE_MAX) + 1
    db.buf[at:at + UID_LEN] = hashlib.sha256(db.buf).digest()[:UID_LEN]
    return bytes(db.buf)


def block(kind, payload):
    if len(payload) > BLOCK_MAX_LEN:
        sys.exit("apkv3: block too large")
    raw = struct.pack("<I", kind << 30 | (4 + len(payload))) + payload
    return raw + bytes(-len(raw) % BLOCK_ALIGN)


def stream(args, dirs):
    out = [b"ADB.", SCHEMA_PACKAGE, block(BLOCK_ADB, metadata(args, dirs))]
    for di, (_, _, entries) in enumerate(dirs, 1):
        for fi, (_, _, path) in enumerate(entries, 1):
            data = open(path, "rb").read()
            if data:
                out.append(block(BLOCK_DATA, struct.pack("<II", di, fi) + data))
    return b"".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--mtime", type=int, default=0)
    ap.add_argument("--info", action="append", default=[])
    ap.add_argument("--script", action="append", default=[])
    ap.add_argument("--no-compress", action="store_true")
    args = ap.parse_args()
    raw = stream(args, scan(args.files))
    if not args.no_compress:
        z = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate, as apk_ostream_deflate
        raw = b"ADBd" + z.compress(raw) + z.flush()
    with open(args.output, "wb") as f:
        f.write(raw)


if __name__ == "__main__":
    main()
