#!/usr/bin/env bash
# Installs the Debian packages the test suite talks to (real peers: swaks, curl, openssl,
# fetchmail, mbsync (isync), Python's stdlib clients) when any is missing. Idempotent; needs root for apt.
set -euo pipefail
# dnsmasq-base: the DNS server of the resolver tests (the binary only, no system service);
# python3-spf ships the RFC 7208 test suite (tests/spf.rs reads it with python3-yaml).
# python3-dkim (dkimpy; its python3-nacl does Ed25519): the DKIM verifier of tests/dkim.rs;
# it is for /usr/bin/python3, which the test calls by path (a pyenv python3 would not see it).
# publicsuffix: Debian's public suffix list, cross-checked against the DMARC tree walk
# (tests/dmarc.rs).
# python3-cryptography: the RSA keys tests/dkim/dkimpy_cases.py signs with (tests/dkim_verify.rs).
# msmtp: the laptop MUA of the submission tests.
# dovecot-imapd, dovecot-pop3d: the remote account of tests/fetch.rs (started by the test, no service).
# dovecot-sieve: Pigeonhole's sieve-test, the reference of tests/sieve_differential.rs (no service).
# postfix: only for /usr/sbin/smtp-sink, the scriptable remote MX of tests/smtp_client.rs
# (no Postfix service is configured or started).
# bind9-utils (named-checkzone), python3-dnspython and libxml2-utils (xmllint): the zone
# file and XML consumers of tests/web.rs (letterbox dns, autoconfig documents).
# chromium (headless) renders the help page of tests/web_http.rs; python3-lxml parses its documents.
# Not here: Dovecot's imaptest (scripts/imaptest-scripted.sh, the imaptest rows of bench.sh) is
# not a Debian package; it is built from its public repository as imaptest-scripted.sh's header
# says, and those scripts say so and stop (or print "-") when it is missing.
# swaks needs Net::SSLeay and IO::Socket::SSL for --tls (only "recommended" by the package).
pkgs=(chromium python3-lxml msmtp dovecot-sieve dnsmasq-base publicsuffix python3-spf python3-yaml python3-dkim python3-cryptography bind9-utils python3-dnspython libxml2-utils postfix swaks libnet-ssleay-perl libio-socket-ssl-perl curl openssl fetchmail isync python3 ca-certificates procps util-linux coreutils sieve-connect pebble dovecot-imapd dovecot-pop3d)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing ${missing[*]}; run as root or install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Postfix asks what to configure: nothing (smtp-sink needs no main.cf).
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
