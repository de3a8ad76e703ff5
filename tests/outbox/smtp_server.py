"""A real SMTP server on 127.0.0.1 for the tests, in a thread: it refuses mail
(554) while `refusing` is on, or for the addresses in `refused`, and keeps every
message it accepts (its raw text, per recipient)."""

import socketserver
import threading
from email import message_from_bytes


class SMTPServer:
    def __init__(self):
        self.refusing = False
        self.refused: set[str] = set()
        self.received: list[tuple[str, object]] = []  # (recipient, parsed message)
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(f"{line}\r\n".encode())

            def handle(self) -> None:
                self.reply("220 test SMTP ready")
                recipients: list[str] = []
                while line := self.rfile.readline():
                    command = line.decode(errors="replace").strip()
                    verb = command.split(" ", 1)[0].upper()
                    if verb in {"EHLO", "HELO"}:
                        self.reply("250 test")
                    elif verb == "MAIL":
                        if server.refusing:
                            self.reply("554 5.7.1 not accepting mail now")
                        else:
                            recipients = []
                            self.reply("250 OK")
                    elif verb == "RCPT":
                        address = command.partition(":")[2].strip().strip("<>").lower()
                        if address in server.refused:
                            self.reply("554 5.7.1 recipient refused")
                        else:
                            recipients.append(address)
                            self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 go ahead")
                        data = b""
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data += chunk
                        parsed = message_from_bytes(data)
                        for address in recipients:
                            server.received.append((address, parsed))
                        self.reply("250 queued")
                    elif verb == "RSET":
                        recipients = []
                        self.reply("250 OK")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 OK")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def to(self, address: str) -> list:
        return [message for recipient, message in self.received if recipient == address]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
