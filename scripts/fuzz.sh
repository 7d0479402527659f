#!/usr/bin/env bash
# Runs every fuzz target under tests/fuzz (libFuzzer via libfuzzer-sys, AddressSanitizer,
# nightly) for SECONDS each (default 30). Seed corpora come from the RFC transcripts in
# tests/transcripts. Crashes are kept in tests/fuzz/artifacts/TARGET/ and fail the run.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-30}
shift || true
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal >/dev/null
TRIPLE=$(rustc -vV | awk '/^host/ {print $2}')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Zsanitizer=address -Cdebug-assertions"
export ASAN_OPTIONS=detect_leaks=0
cd tests/fuzz
cargo +nightly build --release --quiet --target "$TRIPLE"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v letterbox-fuzz)
failed=0
passed=0
JOBS=${FUZZ_JOBS:-$(nproc)}
# run_one TARGET: fuzzes it; its exit status goes to artifacts/TARGET.status.
run_one() {
  local st=0
  "target/$TRIPLE/release/$1" "corpus/$1" -max_total_time="$SECS" -artifact_prefix="artifacts/$1/" \
    -print_final_stats=1 2> "artifacts/$1.log" || st=$?
  echo "$st" > "artifacts/$1.status"
}
for t in "${targets[@]}"; do
  corpus="corpus/$t"
  mkdir -p "$corpus" "artifacts/$t"
  # The first input byte of the session, MIME and dot targets is a control byte (chunk
  # size; for imap_session bit 7 = start logged in): seeds get one in front.
  prefix=""
  side=C
  case "$t" in
    # The client core reads what a server says: the transcripts' S: lines.
    smtp_client) src=../transcripts/smtp prefix='\x05' side=S ;;
    smtp_*) src=../transcripts/smtp ;;
    pop3_*) src=../transcripts/pop3 ;;
    managesieve_*) src=../transcripts/managesieve ;;
    imap_session) src=../transcripts/imap prefix='\x3f' ;;
    mime_parse | dot_roundtrip) src=../transcripts/smtp prefix='\x07' ;;
    *) src="" ;;
  esac
  if [ "$t" = imap_mutf7 ]; then
    for n in 'INBOX' 'Entw&APw-rfe' '&-' '&ZeVnLIqe-' '~peter/mail/&U,BTFw-/&ZeVnLIqe-' '&2D3eAA-'; do
      printf '%s' "$n" > "$corpus/seed-$(printf '%s' "$n" | md5sum | cut -c1-8)"
    done
  fi
  if [ "$t" = mime_binary ]; then
    printf 'Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Transfer-Encoding: binary\r\n\r\n\0\377\r\n--x--\r\n' > "$corpus/seed-binary"
  fi
  if [ "$t" = dkim_sign ]; then
    # Chunk-size and l= bytes, then a message with folded, repeated and unsigned fields.
    printf '\x06\x20From: A <a@example.org>\r\nTo: b@example.net,\r\n\tc@example.net\r\nfrom: x\r\nX-Y: z\r\nSubject:  Hi  \r\n\r\n a  b \t\r\n\r\n\r\nend' > "$corpus/seed-message"
  fi
  if [ "$t" = dkim_verify ]; then
    # Chunk size, the key record of RFC 8463 A.2, NUL, the message of A.3 (ed25519 only).
    { printf '\x10v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\0'
      printf 'DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n d=football.example.com; i=@football.example.com;\r\n q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n subject : date : message-id : from : subject : date;\r\n bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n'
      printf 'From: Joe SixPack <joe@football.example.com>\r\nTo: Suzie Q <suzie@shopping.example.net>\r\nSubject: Is dinner ready?\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\nMessage-ID: <20030712040037.46341.5F8J@football.example.com>\r\n\r\nHi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n'
    } > "$corpus/seed-rfc8463"
  fi
  if [ "$t" = fetch_response ]; then
    # Scenario byte, then server bytes: an IMAP body fetch (literal, UID after it), a POP3
    # RETR with a stuffed line, a UIDL listing.
    printf '\x01* 1 FETCH (UID 1 BODY[] {5}\r\nabcde UID 1 FLAGS (\\Seen))\r\nF3 OK done\r\n' > "$corpus/seed-imap-body"
    printf '\x00* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n' > "$corpus/seed-imap"
    printf '\x0c+OK 12\r\nA: b\r\n\r\n..x\r\n.\r\n' > "$corpus/seed-pop3-retr"
    printf '\x0a+OK\r\n1 aaa\r\n2 bbb\r\n.\r\n' > "$corpus/seed-pop3-uidl"
  fi
  if [ "$t" = dns_message ]; then
    # A query with EDNS, and an MX answer whose names are compression pointers.
    printf '\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x07example\x03org\x00\x00\x0f\x00\x01\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00' > "$corpus/seed-query"
    printf '\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x07example\x03org\x00\x00\x0f\x00\x01\xc0\x0c\x00\x0f\x00\x01\x00\x00\x0e\x10\x00\x09\x00\x0a\x04mail\xc0\x0c' > "$corpus/seed-mx"
  fi
  if [ "$t" = managesieve_session ]; then
    printf 'CAPABILITY\r\nAUTHENTICATE "PLAIN" "AGFsaWNlAHNlY3JldA=="\r\nPUTSCRIPT "s" {21+}\r\nrequire "fileinto";\r\n\r\nLISTSCRIPTS\r\nSETACTIVE "s"\r\nGETSCRIPT "s"\r\nRENAMESCRIPT "s" "t"\r\nHAVESPACE "t" 99\r\nCHECKSCRIPT "keep;"\r\nNOOP "x"\r\nDELETESCRIPT "t"\r\nUNAUTHENTICATE\r\nLOGOUT\r\n' > "$corpus/seed-session"
  fi
  if [ "$t" = spf_record ]; then
    printf 'v=spf1 ip4:192.0.2.0/24 a mx/24 include:inc.example exists:%%{ir}.%%{l1r-}.e.example redirect=inc.example' > "$corpus/seed-terms"
    printf 'v=spf1 -ip6:2001:db8::/32 ptr:%%{d2} ~all exp=x.%%{d}' > "$corpus/seed-exp"
  fi
  if [ "$t" = dmarc_record ]; then
    # The pct-roll byte, then a record (also read as a From field value).
    printf '\x31v=DMARC1; p=reject; sp=quarantine; pct=50; adkim=s; aspf=r; rua=mailto:a@example.org,mailto:b@example.org!10m; psd=n' > "$corpus/seed-record"
    printf '\x05"Bank, Inc" (c (nested)) <a@Example.ORG.>' > "$corpus/seed-from"
  fi
  if [ "$t" = greylist_state ]; then
    # State files as the module doc specifies them (written by a Python script): empty, and
    # one pending plus one passed entry.
    printf '\x4c\x42\x47\x4c\x01\x00\x00\x00\x00\x00\x00\x00\x83\x06\xf5\xe4' > "$corpus/seed-empty"
    printf '\x4c\x42\x47\x4c\x01\x00\x00\x00\x02\x00\x00\x00\x34\x12\x00\x00\x00\x00\x00\x00\x00\xf1\x53\x65\x00\x00\x00\x00\x10\x32\x54\x76\x98\xba\xdc\xfe\x00\xf1\x53\x65\x90\xf2\x53\x65\x95\xe4\x1c\x91' > "$corpus/seed-two"
  fi
  if [ "$t" = imap_sort_thread ]; then
    # THREAD REFERENCES over four messages (Re: leaders, a reference chain, a cycle), and
    # an ESORT with a SAVE; pieces split at NUL (see the target's doc).
    printf '\x02REFERENCES UTF-8 ALL\0\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x05\x01a\0\x02\x01\x02\x01\x01\x01\x02\x02\x01\x01\x09\x02b\0\x03\x01\x03\x01\x01\x01\x03\x03\x02\x01\x04\x03c\0\x01\x01\x01\x01\x01\x01\x01\x02\x03\x01\x01\x01d' > "$corpus/seed-thread"
    printf '\x01RETURN (SAVE MIN COUNT) (REVERSE SUBJECT DATE) UTF-8 OR $ YOUNGER 60\0\x01\x01\x01\x01\x01\x01\x01\x41\x01\x01\x01\x01x' > "$corpus/seed-esort"
  fi
  if [ "$t" = autodiscover_request ]; then
    # Outlook's request, and one with prefixes and an entity declaration (refused).
    printf '<?xml version="1.0" encoding="utf-8"?>\r\n<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">\r\n<Request>\r\n<EMailAddress>alice@example.org</EMailAddress>\r\n<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>\r\n</Request>\r\n</Autodiscover>\r\n' > "$corpus/seed-outlook"
    printf '<!DOCTYPE a [<!ENTITY e "x">]><a:A xmlns:a="x"><a:EMailAddress> &e;@example.org </a:EMailAddress></a:A>' > "$corpus/seed-entity"
  fi
  if [ "$t" = sieve_parse ] || [ "$t" = sieve_run ]; then
    # Scripts using most extensions; sieve_run gets a NUL and a message after each.
    msg='\x00From: Bob <bob+x@ex.org>\r\nTo: me@home.org\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= [dev]\r\nDate: Tue, 1 Dec 2026 10:00:00 +0100\r\nContent-Type: text/plain\r\n\r\nhello\r\n'
    [ "$t" = sieve_run ] || msg=''
    # shellcheck disable=SC2016 # Sieve's ${2} is Sieve text, not shell
    printf 'require ["fileinto","imap4flags","variables","relational","comparator-i;ascii-numeric","subaddress","envelope"];\nif header :matches "subject" "*[*]*" { set :lower "l" "${2}"; fileinto :flags "\\\\Seen" "${l}"; }\nelsif address :detail :count "ge" :comparator "i;ascii-numeric" "from" "1" { addflag "x"; stop; }\n/* c */ # h\nkeep;%b' "$msg" > "$corpus/seed-flags"
    # shellcheck disable=SC2016 # Sieve text
    printf 'require ["vacation","date","relational","body","reject","mailbox","encoded-character","copy"];\nif allof (date :value "ge" "date" "year" "2020", body :text :contains "hello", not mailboxexists "x") { vacation :days 3 :subject "${hex:41}" text:\nAway\n..\n.\n;\nredirect :copy "a@b.c"; } else { reject "no"; }%b' "$msg" > "$corpus/seed-vacation"
  fi
  # Inputs that once crashed a target stay in its corpus (tests/fuzz/regressions/TARGET-*).
  for f in regressions/"$t"-*; do
    [ -e "$f" ] && cp "$f" "$corpus/"
  done
  if [ -n "$src" ] && [ -d "$src" ]; then
    for f in "$src"/*.txt; do
      [ -e "$f" ] || continue
      # One side's lines of a transcript (client's, or the server's for smtp_client), as sent.
      { printf '%b' "$prefix"; sed -n "s/^$side: \{0,1\}//p" "$f" | sed 's/$/\r/'; } > "$corpus/seed-$(basename "$f")"
    done
  fi
  # Two (FUZZ_JOBS, default: the number of cores) targets run at once; each its SECONDS.
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  run_one "$t" &
done
wait || true
for t in "${targets[@]}"; do
  echo "== $t: ${SECS}s"
  if [ "$(cat "artifacts/$t.status" 2>/dev/null)" = 0 ]; then
    passed=$((passed + 1))
    grep -E "stat::number_of_executed_units|cov:" "artifacts/$t.log" | tail -2 || true
  else
    failed=$((failed + 1))
    tail -30 "artifacts/$t.log"
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
