#!/usr/bin/env python3
"""What relaying a file must cost any server on this machine, below which chat-server cannot go.

A server that relays a file through the inbox does at least this per MiB of file: receive
it over TLS and decrypt it (upload), write it to disk and sync it, read it back, encrypt it
and send it over TLS (download). This measures those steps with nothing else around them:
OpenSSL through Python's ssl module (large writes, so the interpreter's share is small),
both ends of one loopback TLS connection in this process (one end's decrypt-and-receive
plus the other's encrypt-and-send is exactly what the server does across upload and
download), and plain writes in chunk-sized pieces with a sync per window of chunks, as
the GDBM file store syncs per batch. CPU is this process's user + system time.

Chunks travel as base64 in JSON lines (docs/PROTOCOL.md, "Files"), so the bytes on the
wire and on disk are 4/3 of the file; --raw measures raw bytes instead, what a binary
chunk frame would carry.

Usage: scripts/files-cpu-floor.py [--mib 10] [--runs 3] [--raw] [--dir DIR]
Needs certificates from scripts/gen-certs.sh (certs/).
"""
import argparse
import os
import resource
import socket
import ssl
import tempfile
import threading

CHUNK_PLAINTEXT = 32_768
CHUNKS_PER_SYNC = 8


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def tls_transfer(chunk, count, certs):
    """CPU seconds to move `count` chunks one way over a fresh loopback TLS connection."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(os.path.join(certs, "server.pem"), os.path.join(certs, "server.key"))
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.load_verify_locations(os.path.join(certs, "ca.pem"))
    client_context.check_hostname = False
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    total = len(chunk) * count

    def receive():
        connection, _ = listener.accept()
        tls = server_context.wrap_socket(connection, server_side=True)
        received = 0
        while received < total:
            received += len(tls.recv(65_536))
        tls.sendall(b"k")
        tls.close()

    receiver = threading.Thread(target=receive)
    receiver.start()
    client = client_context.wrap_socket(socket.create_connection(listener.getsockname()), server_hostname="localhost")
    client.sendall(b"")  # handshake done before the clock starts
    start = cpu_seconds()
    for _ in range(count):
        client.sendall(chunk)
    client.recv(1)
    spent = cpu_seconds() - start
    receiver.join()
    client.close()
    listener.close()
    return spent


def disk_round_trip(chunk, count, directory):
    """CPU seconds to write `count` chunks with a sync per window, then to read them back."""
    path = os.path.join(directory, "files-cpu-floor.dat")
    start = cpu_seconds()
    descriptor = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    for index in range(count):
        os.write(descriptor, chunk)
        if index % CHUNKS_PER_SYNC == CHUNKS_PER_SYNC - 1:
            os.fsync(descriptor)
    os.fsync(descriptor)
    os.close(descriptor)
    written = cpu_seconds()
    descriptor = os.open(path, os.O_RDONLY)
    while os.read(descriptor, len(chunk)):
        pass
    os.close(descriptor)
    read = cpu_seconds()
    os.unlink(path)
    return written - start, read - written


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=10, help="file size in MiB (default 10)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--raw", action="store_true", help="raw bytes instead of base64 text")
    parser.add_argument("--dir", default=None, help="where to write (default: the repository's folder, on its disk)")
    arguments = parser.parse_args()
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    certs = os.path.join(repository, "certs")
    count = arguments.mib * 1024 * 1024 // CHUNK_PLAINTEXT
    # A sealed chunk is 12 + 32,768 + 16 bytes; as base64, 43,728 characters.
    sealed = CHUNK_PLAINTEXT + 28
    chunk = b"A" * (sealed if arguments.raw else 4 * ((sealed + 2) // 3))
    form = "raw bytes" if arguments.raw else "base64"
    with tempfile.TemporaryDirectory(dir=arguments.dir or repository) as directory:
        for run in range(arguments.runs):
            tls = tls_transfer(chunk, count, certs)
            write, read = disk_round_trip(chunk, count, directory)
            per_mib = lambda seconds: 1000 * seconds / arguments.mib
            print(
                f"{form}, run {run + 1}: TLS in and out {per_mib(tls):.2f}, disk write and syncs {per_mib(write):.2f}, "
                f"read back {per_mib(read):.2f}; floor {per_mib(tls + write + read):.2f} ms per MiB of file")


if __name__ == "__main__":
    main()
