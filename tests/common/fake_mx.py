"""A scripted SMTP server for the outbound tests: answers each RCPT by its local part
(bad* -> 550 5.1.1, later* -> 451 4.7.1, else 250) and appends one JSON line per accepted
message (mail_from, rcpts, data) to the log file. Usage: fake_mx.py PORT LOGFILE"""
import json, socketserver, sys

PORT, LOG = int(sys.argv[1]), sys.argv[2]


class H(socketserver.StreamRequestHandler):
    def reply(self, s):
        self.wfile.write((s + "\r\n").encode())
        self.wfile.flush()

    def handle(self):
        self.reply("220 fake.mx ESMTP")
        mail, rcpts = None, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("latin-1").strip()
            up = cmd.upper()
            if up.startswith("EHLO") or up.startswith("HELO"):
                self.reply("250-fake.mx\r\n250 8BITMIME")
            elif up.startswith("MAIL FROM:"):
                mail, rcpts = cmd[10:].strip().strip("<>"), []
                self.reply("250 2.1.0 ok")
            elif up.startswith("RCPT TO:"):
                addr = cmd[8:].strip().strip("<>")
                local = addr.split("@")[0]
                if local.startswith("bad"):
                    self.reply("550 5.1.1 <%s>: no such user here" % addr)
                elif local.startswith("later"):
                    self.reply("451 4.7.1 greylisted, come back later")
                else:
                    rcpts.append(addr)
                    self.reply("250 2.1.5 ok")
            elif up == "DATA":
                self.reply("354 go on")
                data = b""
                while True:
                    l = self.rfile.readline()
                    if not l or l == b".\r\n":
                        break
                    data += l[1:] if l.startswith(b"..") else l
                with open(LOG, "a") as f:
                    f.write(json.dumps({"mail_from": mail, "rcpts": rcpts, "data": data.decode("latin-1")}) + "\n")
                self.reply("250 2.0.0 queued as fake")
            elif up == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


S(("127.0.0.1", PORT), H).serve_forever()
