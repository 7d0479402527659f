# A scripted SMTP server for the outbound client's tests (tests/smtp_client*.rs): one
# connection on a loopback port (printed first on stdout), behaving as MODE says:
#   garbage        greeting, then a non-SMTP answer to EHLO
#   silent         accepts the connection and never says anything
#   bigline        answers EHLO with a 10 MB "250-xxxx..." line
#   close_mid_data accepts MAIL/RCPT/DATA, reads part of the message, closes
#   badtls         offers STARTTLS, answers 220, then sends garbage instead of a TLS
#                  handshake; accepts a second, plaintext connection and one message there
#   auth MECHS USER PASS  offers AUTH MECHS (e.g. "PLAIN LOGIN"), checks the exact SASL
#                  bytes, then accepts one message; prints "AUTH-OK <mech>" or "AUTH-BAD ..."
import base64, socket, sys, time

mode = sys.argv[1]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(1)
srv.settimeout(60)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
conn.settimeout(30)
rd = conn.makefile("rb")

def send(s):
    conn.sendall(s.encode() if isinstance(s, str) else s)

def line():
    return rd.readline().rstrip(b"\r\n")

def transaction():
    while True:
        l = line()
        if not l:
            return
        u = l.upper()
        if u.startswith(b"DATA"):
            send("354 go\r\n")
            body = b""
            while True:
                d = rd.readline()
                if d in (b".\r\n", b""):
                    break
                body += d
            send("250 2.0.0 ok\r\n")
            print("BODY", len(body), flush=True)
        elif u.startswith(b"QUIT"):
            send("221 bye\r\n")
            return
        else:
            send("250 ok\r\n")

try:
    if mode == "silent":
        time.sleep(20)
    elif mode == "garbage":
        send("220 hostile ESMTP\r\n")
        line()
        send("HTTP/1.1 400 Bad Request\r\n\r\n")
        time.sleep(5)
    elif mode == "bigline":
        send("220 hostile ESMTP\r\n")
        line()
        send("250-")
        chunk = b"x" * 65536
        for _ in range(160):
            send(chunk)
        send("\r\n250 OK\r\n")
        time.sleep(1)
    elif mode == "close_mid_data":
        send("220 hostile ESMTP\r\n")
        line()
        send("250-hostile\r\n250 PIPELINING\r\n")
        got = b""
        while b"DATA\r\n" not in got:
            got += conn.recv(4096)
        send("250 ok\r\n250 ok\r\n354 go\r\n")
        conn.recv(50000)
        print("CLOSED", flush=True)
        conn.close()
    elif mode == "badtls":
        send("220 hostile ESMTP\r\n")
        line()
        send("250-hostile\r\n250 STARTTLS\r\n")
        line()
        send("220 go ahead\r\n")
        send("this is not a TLS ServerHello\r\n" * 4)
        conn.close()
        conn, _ = srv.accept()
        conn.settimeout(30)
        rd = conn.makefile("rb")
        send("220 hostile ESMTP\r\n")
        line()
        send("250-hostile\r\n250 STARTTLS\r\n")
        print("SECOND", flush=True)
        transaction()
    elif mode == "auth":
        mechs, user, pw = sys.argv[2], sys.argv[3].encode(), sys.argv[4].encode()
        send("220 relay ESMTP\r\n")
        line()
        send("250-relay\r\n250 AUTH " + mechs + "\r\n")
        l = line()
        if l == b"AUTH PLAIN " + base64.b64encode(b"\0" + user + b"\0" + pw):
            print("AUTH-OK PLAIN", flush=True)
            send("235 2.7.0 Authentication successful\r\n")
        elif l == b"AUTH LOGIN":
            send("334 VXNlcm5hbWU6\r\n")
            u = line()
            send("334 UGFzc3dvcmQ6\r\n")
            p = line()
            if u == base64.b64encode(user) and p == base64.b64encode(pw):
                print("AUTH-OK LOGIN", flush=True)
                send("235 2.7.0 Authentication successful\r\n")
            else:
                print("AUTH-BAD LOGIN", u, p, flush=True)
                send("535 5.7.8 Authentication credentials invalid\r\n")
        else:
            print("AUTH-BAD", l, flush=True)
            send("535 5.7.8 Authentication credentials invalid\r\n")
        transaction()
except (BrokenPipeError, ConnectionResetError, socket.timeout) as e:
    print("PEER-GONE", type(e).__name__, flush=True)
