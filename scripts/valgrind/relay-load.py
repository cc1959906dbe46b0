#!/usr/bin/env python3
"""A fixed relay load for instruction counts: one pair, N messages, acked as chat-client does.

Used by scripts/callgrind-relay.sh, which runs it twice (two sizes) against a chat-server
under callgrind and takes the difference, so connection set-up, login (scrypt) and
shutdown drop out. Speaks the wire protocol of docs/PROTOCOL.md over TLS with Python's ssl
module (the system OpenSSL), verifying the server against the CA.

Usage: relay-load.py PORT CA_FILE MESSAGES [--size BYTES] [--window N]
alice sends MESSAGES bodies of BYTES bytes, at most N unanswered at once (flood); bob acks
every message after reading it; the run ends when alice has every `delivered` receipt.
"""
import argparse
import json
import select
import socket
import ssl
import sys


class Peer:
    def __init__(self, port, ca):
        context = ssl.create_default_context(cafile=ca)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = context.wrap_socket(raw, server_hostname="localhost")
        self.buffer = b""
        self.next_id = 1

    def send(self, frame):
        self.sock.sendall((json.dumps(frame, separators=(",", ":")) + "\n").encode())

    def send_many(self, frames):
        if frames:
            self.sock.sendall("".join(json.dumps(f, separators=(",", ":")) + "\n" for f in frames).encode())

    def request(self, frame):
        frame["id"] = self.next_id
        self.next_id += 1
        self.send(frame)
        while True:
            for reply in self.read():
                if reply.get("id") == frame["id"]:
                    return reply

    def read(self):
        """Every complete frame available now (blocks for at least one read)."""
        data = self.sock.recv(1 << 16)
        if not data:
            raise SystemExit("server closed the connection")
        self.buffer += data
        while self.sock.pending():
            self.buffer += self.sock.recv(self.sock.pending())
        *lines, self.buffer = self.buffer.split(b"\n")
        return [json.loads(line) for line in lines if line]


def login(port, ca, name):
    peer = Peer(port, ca)
    peer.send({"type": "hello", "version": 1, "agent": "relay-load/1"})
    peer.read()
    peer.request({"type": "register", "username": name, "password": "relay-load-password"})
    answer = peer.request({"type": "login", "username": name, "password": "relay-load-password"})
    if answer.get("type") != "ok":
        raise SystemExit(f"{name} could not log in: {answer}")
    return peer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("ca")
    parser.add_argument("messages", type=int)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--window", type=int, default=64)
    args = parser.parse_args()

    alice = login(args.port, args.ca, "alice")
    bob = login(args.port, args.ca, "bob")
    alice.request({"type": "chat", "with": "bob"})
    bob.request({"type": "chat", "with": "alice"})

    body = "x" * args.size
    sent = answered = delivered = 0
    while delivered < args.messages:
        batch = []
        while sent < args.messages and sent - answered < args.window:
            batch.append({"type": "send", "id": 1000 + sent, "body": body})
            sent += 1
        alice.send_many(batch)
        ready, _, _ = select.select([alice.sock, bob.sock], [], [], 30)
        if not ready:
            raise SystemExit(f"stuck: sent {sent}, answered {answered}, delivered {delivered}")
        if bob.sock in ready or bob.sock.pending():
            acks = [{"type": "ack", "message_id": f["message_id"]} for f in bob.read() if f.get("type") == "message"]
            bob.send_many(acks)
        if alice.sock in ready or alice.sock.pending():
            for frame in alice.read():
                status = frame.get("status")
                if status in ("sent", "stored") and frame.get("id") is not None:
                    answered += 1
                elif status == "delivered":
                    delivered += 1
                elif frame.get("type") == "error":
                    raise SystemExit(f"refused: {frame}")
    print(f"relayed {args.messages} messages of {args.size} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
