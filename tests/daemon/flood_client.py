#!/usr/bin/env python3
"""A bare D-Bus client that asks SelectCertificate for many distinct host names, pipelined.

busctl forks once per call, far too slow for tens of thousands of calls, and Debian's python3
has no D-Bus module; this speaks the wire protocol itself (SASL EXTERNAL, Hello, method calls
with signature "ss") over the bus's unix socket. It keeps WINDOW calls in flight, counts the
replies, and prints one line: "replies=N errors=E first_error=...".

    flood_client.py ADDRESS COUNT NAME_PATTERN [SERVICE]

NAME_PATTERN holds "{}" where the call's number goes, e.g. "h{}.flood.example". ADDRESS is a
"unix:path=..." or "unix:abstract=..." bus address. The hostile-input tests run it as nobody;
tests/bench/flood-bench runs it for the figures.
"""

import os
import socket
import struct
import sys

WINDOW = 64  # calls in flight; below dbus-daemon's default limit of pending replies
DESTINATION = "org.transportcertd1"
PATH = "/org/transportcertd1"
INTERFACE = "org.transportcertd1.Manager"


def connect(address):
    for part in address.split(";"):
        transport, _, params = part.partition(":")
        if transport != "unix":
            continue
        keys = dict(p.split("=", 1) for p in params.split(",") if "=" in p)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if "path" in keys:
            sock.connect(keys["path"])
        elif "abstract" in keys:
            sock.connect("\0" + keys["abstract"])
        else:
            continue
        return sock
    raise SystemExit(f"no usable unix address in {address!r}")


def pad(data, alignment):
    return data + b"\0" * (-len(data) % alignment)


def string(value, kind="s"):
    raw = value.encode()
    length = struct.pack("<B", len(raw)) if kind == "g" else struct.pack("<I", len(raw))
    return length + raw + b"\0"


def method_call(serial, destination, path, interface, member, body_strings):
    body = b""
    for s in body_strings:
        body = pad(body, 4) + string(s)
    fields = []
    for code, kind, value in ((1, "o", path), (2, "s", interface), (3, "s", member),
                              (6, "s", destination)):
        fields.append(struct.pack("<B", code) + string(kind, "g") + string(value, kind))
    if body_strings:
        fields.append(struct.pack("<B", 8) + string("g", "g") +
                      string("s" * len(body_strings), "g"))
    array = b""
    for field in fields:
        array = pad(array, 8) + field
    header = struct.pack("<cBBBII", b"l", 1, 0, 1, len(body), serial)
    header += struct.pack("<I", len(array))
    header = pad(header, 8)  # the array's first struct is 8-aligned
    return pad(header + array, 8) + body


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def fill(self, size):
        while len(self.buffer) < size:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise SystemExit("the bus closed the connection")
            self.buffer += chunk

    def line(self):
        while b"\r\n" not in self.buffer:
            self.fill(len(self.buffer) + 1)
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line.decode()

    def message(self):
        """(type, error text or "") of the next message."""
        self.fill(16)
        endian = "<" if self.buffer[0:1] == b"l" else ">"
        kind = self.buffer[1]
        body_length, = struct.unpack(endian + "I", self.buffer[4:8])
        fields_length, = struct.unpack(endian + "I", self.buffer[12:16])
        header_length = 16 + fields_length + (-(16 + fields_length) % 8)
        total = header_length + body_length
        self.fill(total)
        message, self.buffer = self.buffer[:total], self.buffer[total:]
        text = ""
        if kind == 3 and body_length >= 4:  # an error: its first body argument is the text
            length, = struct.unpack(endian + "I", message[header_length:header_length + 4])
            text = message[header_length + 4:header_length + 4 + length].decode(errors="replace")
        return kind, text


def main():
    address, count, pattern = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    service = sys.argv[4] if len(sys.argv) > 4 else "SMTP"
    sock = connect(address)
    sock.sendall(b"\0AUTH EXTERNAL " + str(os.geteuid()).encode().hex().encode() + b"\r\n")
    reader = Reader(sock)
    if not reader.line().startswith("OK "):
        raise SystemExit("the bus refused authentication")
    sock.sendall(b"BEGIN\r\n")
    sock.sendall(method_call(1, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                             "org.freedesktop.DBus", "Hello", []))
    while reader.message()[0] != 2:  # the Hello reply (signals may come first)
        pass
    sent = replies = errors = 0
    first_error = ""
    while replies + errors < count:
        batch = b""
        while sent < count and sent - replies - errors < WINDOW:
            batch += method_call(sent + 2, DESTINATION, PATH, INTERFACE, "SelectCertificate",
                                 [pattern.format(sent), service])
            sent += 1
        if batch:
            sock.sendall(batch)
        kind, text = reader.message()
        if kind == 2:
            replies += 1
        elif kind == 3:
            errors += 1
            first_error = first_error or text
    print(f"replies={replies} errors={errors} first_error={first_error}")


if __name__ == "__main__":
    main()
