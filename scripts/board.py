#!/usr/bin/env python3
"""Reads boards/<name>.toml and prints shell assignments (B_target='...', B_paths_bin='...',
B_limits_message_size='...', B_features='tls imap pop3') for `eval` in the scripts.

    eval "$(python3 scripts/board.py raspberry-pi-64)"
    python3 scripts/board.py --list          # board names, one a line
"""
import pathlib
import shlex
import sys
import tomllib

BOARDS = pathlib.Path(__file__).resolve().parent.parent / "boards"
REQUIRED = ["name", "devices", "status", "target", "target_cpu", "toolchain", "build_std",
            "features", "size_budget", "init", "paths", "limits"]
LIMIT_KEYS = {"message_size", "spool_memory", "connections", "connections_per_ip",
              "free_space_reserve"}


def load(name):
    path = BOARDS / f"{name}.toml"
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in BOARDS.glob("*.toml")))
        sys.exit(f"board.py: no board {name!r} (known: {names})")
    with path.open("rb") as f:
        b = tomllib.load(f)
    for k in REQUIRED:
        if k not in b:
            sys.exit(f"board.py: {path}: missing key {k}")
    for k in b["limits"]:
        if k not in LIMIT_KEYS:
            sys.exit(f"board.py: {path}: limits.{k}: not a board-tunable limit")
    if b["init"] not in ("systemd", "procd", "sysv"):
        sys.exit(f"board.py: {path}: init must be systemd, procd or sysv")
    if b["name"] != name:
        sys.exit(f"board.py: {path}: name {b['name']!r} differs from the file name")
    return b


def flat(prefix, d, out):
    for k, v in d.items():
        key = f"{prefix}_{k}"
        if isinstance(v, dict):
            flat(key, v, out)
        elif isinstance(v, bool):
            out.append((key, "1" if v else "0"))
        elif isinstance(v, list):
            out.append((key, " ".join(str(x) for x in v)))
        else:
            out.append((key, str(v)))
    return out


def main(argv):
    if len(argv) == 2 and argv[1] == "--list":
        print("\n".join(sorted(p.stem for p in BOARDS.glob("*.toml"))))
        return
    if len(argv) != 2:
        sys.exit("usage: board.py BOARD | --list")
    b = load(argv[1])
    b.setdefault("opkg_arch", "")
    b.setdefault("known_issues", "")
    for k, v in flat("B", b, []):
        print(f"{k}={shlex.quote(v)}")
    print("B_limit_keys=" + shlex.quote(" ".join(b["limits"])))


if __name__ == "__main__":
    main(sys.argv)
