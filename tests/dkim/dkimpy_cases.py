"""Generates DKIM agreement cases with dkimpy (Debian python3-dkim) for tests/dkim_verify.rs.

Usage: /usr/bin/python3 dkimpy_cases.py OUTDIR

Messages are signed by dkim.sign with RSA 1024/2048/4096 and Ed25519 keys, every c=
combination, with and without l=, several h= sets (over-signing included), then altered in
ways that must and must not break a signature. Each case records dkim.verify's verdict with
the key records served from a dict (no DNS). Writes OUTDIR/keys.txt (NAME<TAB>RECORD) and
OUTDIR/cases.txt (NAME<TAB>one 1|0 per signature<TAB>base64(message)).
"""
import base64
import itertools
import os
import sys

import dkim
import nacl.encoding
import nacl.signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DOMAIN = b"example.org"
RECORDS = {}  # DNS name (no final dot) -> TXT record text
KEYS = {}  # key id -> (algorithm, private key for dkim.sign)


def rsa_key(kid, bits, record_extra=b""):
    k = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                          serialization.NoEncryption())
    spki = k.public_key().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    KEYS[kid] = (b"rsa-sha256", pem)
    publish(kid, b"v=DKIM1; " + record_extra + b"k=rsa; p=" + base64.b64encode(spki))


def ed_key(kid):
    sk = nacl.signing.SigningKey.generate()
    KEYS[kid] = (b"ed25519-sha256", base64.b64encode(bytes(sk)))
    publish(kid, b"v=DKIM1; k=ed25519; p=" + sk.verify_key.encode(encoder=nacl.encoding.Base64Encoder))


def publish(selector, record):
    RECORDS[selector.encode() + b"._domainkey." + DOMAIN] = record


def dnsfunc(name, timeout=5):
    return RECORDS.get(name.rstrip(b"."))


BASES = {
    "plain": (
        b"Received: from a.example by b.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        b"Received: from c.example by a.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        b"From: Alice <alice@example.org>\r\n"
        b"To: Bob <bob@example.net>\r\n"
        b"Subject: Hello there\r\n"
        b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        b"Message-ID: <1@example.org>\r\n"
        b"\r\n"
        b"Hello Bob,\r\n"
        b"\r\n"
        b"a line with  two spaces and a tab\there\r\n"
        b"the end\r\n"
    ),
    "folded": (
        b"From: alice@example.org\r\n"
        b"To: bob@example.net,\r\n carol@example.net\r\n"
        b"Subject: a folded\r\n\tsubject line\r\n"
        b"Cc: dave@example.net\r\n"
        b"\r\n"
        b"body with trailing space \r\n"
        b"\r\n"
        b"\r\n"
    ),
    "nobody": b"From: alice@example.org\r\nSubject: empty\r\nTo: bob@example.net\r\n\r\n",
    "unterminated": b"From: alice@example.org\r\nSubject: x\r\nTo: bob@example.net\r\n\r\nno final line end",
}

HEADER_SETS = {
    "default": None,
    "few": [b"from", b"to", b"subject"],
    "over": [b"from", b"to", b"subject", b"subject", b"from", b"to"],
    "cc": [b"from", b"cc", b"cc", b"date", b"message-id", b"subject"],
}
CANONS = [(b"simple", b"simple"), (b"relaxed", b"relaxed"), (b"relaxed", b"simple"), (b"simple", b"relaxed")]


def split(msg):
    head, _, body = msg.partition(b"\r\n\r\n")
    return head + b"\r\n", body


def on_header(f):
    def alter(msg):
        head, body = split(msg)
        return f(head) + b"\r\n" + body
    return alter


def on_body(f):
    def alter(msg):
        head, body = split(msg)
        return head + b"\r\n" + f(body)
    return alter


def replace_first(old, new):
    def f(s):
        return s.replace(old, new, 1)
    return f


def swap_fields(head, a, b):
    lines = head.split(b"\r\n")
    ia = next((i for i, l in enumerate(lines) if l.startswith(a)), None)
    ib = next((i for i, l in enumerate(lines) if l.startswith(b)), None)
    if ia is not None and ib is not None and all(not lines[i + 1].startswith((b" ", b"\t")) for i in (ia, ib)):
        lines[ia], lines[ib] = lines[ib], lines[ia]
    return b"\r\n".join(lines)


ALTERATIONS = {
    "none": lambda m: m,
    "subject_refolded": on_header(replace_first(b"Subject: ", b"Subject:\r\n  ")),
    "subject_name_case": on_header(replace_first(b"Subject:", b"SUBJECT:")),
    "subject_value_case": on_header(lambda h: h.replace(b"Subject: ", b"Subject: X-", 1)),
    "subject_inner_ws": on_header(lambda h: h.replace(b"Subject: ", b"Subject: \t ", 1)),
    "to_subject_swapped": on_header(lambda h: swap_fields(h, b"To:", b"Subject:")),
    "header_trailing_ws": on_header(replace_first(b"\r\nTo: ", b"\r\nTo:  ")),
    "unsigned_header_added": lambda m: b"X-Added: yes\r\n" + m,
    "subject_added_on_top": lambda m: b"Subject: spoofed\r\n" + m,
    "from_added_on_top": lambda m: b"From: mallory@example.com\r\n" + m,
    "received_added_on_top": lambda m: b"Received: from z by y\r\n" + m,
    "cc_added_on_top": lambda m: b"Cc: eve@example.com\r\n" + m,
    "body_trailing_ws": on_body(lambda b: b.replace(b"\r\n", b" \r\n")),
    "body_inner_ws": on_body(lambda b: b.replace(b" ", b"   ")),
    "body_empty_lines_added": on_body(lambda b: b + b"\r\n\r\n"),
    "body_appended": on_body(lambda b: b + b"appended after signing\r\n"),
    "body_changed": on_body(lambda b: b.replace(b"e", b"E", 1) if b"e" in b else b + b"x"),
    "body_truncated": on_body(lambda b: b[: len(b) // 2]),
    "sig_tag_changed": lambda m: m.replace(b"d=example.org", b"d=example.org; z=x", 1),
    "sig_refolded": lambda m: m.replace(b"; s=", b";\r\n\ts=", 1),
}


def sign(msg, kid, canon, hset, length, algorithm=None):
    alg, priv = KEYS[kid]
    sig = dkim.sign(msg, kid.encode(), DOMAIN, priv, signature_algorithm=algorithm or alg,
                    canonicalize=canon, include_headers=hset, length=length)
    return sig + msg


def verdicts(msg):
    """dkim.verify's verdict on each DKIM-Signature field (it checks the one at idx)."""
    n = sum(1 for x, _ in dkim.DKIM(msg).headers if x.lower() == b"dkim-signature")
    out = []
    for idx in range(max(n, 1)):
        try:
            out.append(bool(dkim.DKIM(msg, minkey=1024).verify(idx=idx, dnsfunc=dnsfunc)))
        except dkim.DKIMException:
            out.append(False)
    return out


def main():
    out = sys.argv[1]
    for kid, bits in [("rsa1024", 1024), ("rsa2048", 2048), ("rsa4096", 4096), ("rsa512", 512)]:
        rsa_key(kid, bits)
    rsa_key("rsaemail", 1024, b"s=email; ")
    rsa_key("rsaother", 1024, b"s=other; ")
    ed_key("ed25519")
    ed_key("revoked")
    ed_key("wrongkey")
    cases = []

    def case(name, msg):
        cases.append((name, verdicts(msg), msg))

    # The main grid: every key, canonicalization, l= and h= set, every alteration.
    combos = itertools.product(["rsa1024", "rsa2048", "ed25519"], CANONS, [False, True], HEADER_SETS)
    for i, (kid, canon, length, hname) in enumerate(combos):
        base = list(BASES)[i % len(BASES)]
        signed = sign(BASES[base], kid, canon, HEADER_SETS[hname], length)
        cname = b"/".join(canon).decode()
        for aname, alter in ALTERATIONS.items():
            case(f"{kid} {cname} l={int(length)} h={hname} {base} {aname}", alter(signed))
    # Fewer of the slow 4096-bit key, the short key, rsa-sha1 and key record variants.
    for kid, canon in itertools.product(["rsa4096", "rsa512", "rsaemail", "rsaother"], CANONS[:2]):
        signed = sign(BASES["plain"], kid, canon, None, False)
        for aname in ["none", "body_changed", "subject_refolded"]:
            case(f"{kid} {b'/'.join(canon).decode()} {aname}", ALTERATIONS[aname](signed))
    for kid, canon in itertools.product(["rsa1024", "rsa2048"], CANONS):
        signed = sign(BASES["folded"], kid, canon, None, True, b"rsa-sha1")
        for aname in ["none", "body_changed", "body_appended", "subject_refolded"]:
            case(f"{kid} rsa-sha1 {b'/'.join(canon).decode()} {aname}", ALTERATIONS[aname](signed))
    # Two signatures (Ed25519, then RSA over the signed message): each index checked.
    for canon, base in itertools.product(CANONS, ["plain", "folded"]):
        few = HEADER_SETS["few"]
        signed = sign(sign(BASES[base], "ed25519", canon, few, False), "rsa2048", canon, few, True)
        for aname, alter in ALTERATIONS.items():
            case(f"two signatures {b'/'.join(canon).decode()} {base} {aname}", alter(signed))
    # Keys that do not verify: revoked, another key under the selector, no record, k= mismatch.
    signed = sign(BASES["plain"], "revoked", CANONS[1], None, False)
    publish("revoked", b"v=DKIM1; k=ed25519; p=")
    case("revoked key", signed)
    signed = sign(BASES["plain"], "wrongkey", CANONS[1], None, False)
    publish("wrongkey", RECORDS[b"ed25519._domainkey." + DOMAIN])
    case("another key under the selector", signed)
    case("no key record", sign(BASES["plain"], "ed25519", CANONS[1], None, False).replace(b"s=ed25519", b"s=absent", 1))
    publish("edasrsa", RECORDS[b"rsa1024._domainkey." + DOMAIN])
    KEYS["edasrsa"] = KEYS["ed25519"]
    case("ed25519 signature, rsa key record", sign(BASES["plain"], "edasrsa", CANONS[1], None, False))
    with open(os.path.join(out, "keys.txt"), "wb") as f:
        for name, rec in RECORDS.items():
            f.write(name + b"\t" + rec + b"\n")
    with open(os.path.join(out, "cases.txt"), "wb") as f:
        for name, ok, msg in cases:
            flags = b"".join(b"1" if v else b"0" for v in ok)
            f.write(name.encode() + b"\t" + flags + b"\t" + base64.b64encode(msg) + b"\n")


main()
