#!/usr/bin/env python3
"""`tls_handshakes.py PORT HOST SECONDS full|resumed`: TLS handshakes with SNI HOST against
127.0.0.1:PORT for SECONDS (each connects, shakes hands and closes), as make bench's load for
handshake throughput; prints `handshakes reused`. Resumed handshakes offer the session of a first
connection that made one request (TLS 1.3 tickets arrive after the handshake). The certificate
is not verified: the client's work is the key exchange, not the proxy's signature check."""
import socket
import ssl
import sys
import time

port, host, seconds, mode = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
context = ssl.create_default_context()
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
session = None
if mode == "resumed":
    with context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname=host) as first:
        first.sendall(f"GET /bench/users/42 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        while first.recv(65536):
            pass
        session = first.session
count = reused = 0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    with context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname=host, session=session) as tls:
        count += 1
        reused += tls.session_reused
print(count, reused)
