#!/usr/bin/env python3
"""`make bench`: the gateway against nginx as reverse proxies of the same trivial backend.

Each proxy gets core 0 to itself (one worker: `--workers 1`, `worker_processes 1`); the backend
and the load generator share core 1. In one run it measures, for direct (no proxy), gateway and
nginx (its regex location as the Api's parameter check, and a plain proxy_pass), each with access
logs off and on (nginx `buffer=64k flush=1s`), Pingora (hack/pingora-proxy: its load-balancer
example's shape, one thread), the gateway's plugin path (APP signature and traffic control) and a
cache hit: HTTP/1.1 keep-alive peak requests/s with wrk (64 connections)
and the CPU time each proxy spends per request, p50/p99 latency at half of the gateway's peak with oha (a fixed rate),
HTTP/2 (h2c) requests/s with h2load, TLS 1.3 (ECDSA P-256) keep-alive requests and full and resumed
handshakes with the proxy's CPU time per handshake, the memory each proxy keeps per idle keep-alive
connection, then the gateway's resident memory and reload time with 10,000 APIs. Ratios, not absolute numbers, are
what to compare: this machine is small and shared. Results go to target/bench/results.json.
"""
import json
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASE = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
DURATION = int(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
PROXY_CPU, LOAD_CPU = "0", "1"
# The test OpenTelemetry Collector (`make bench` builds it: e2e/controlplane/build-otelcol.sh).
OTELCOL = os.environ.get("APIGW_OTELCOL", "otelcol")
# The Pingora reverse proxy of hack/pingora-proxy (`make bench` builds it).
PINGORA = os.environ.get("APIGW_PINGORA", "apigw-bench-pingora")
HOST = "bench.local"
processes = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"port {port} did not open")


def start(cmd, cpu, stdout=subprocess.DEVNULL, env=None):
    process = subprocess.Popen(["taskset", "-c", cpu, *cmd], stdout=stdout, stderr=subprocess.DEVNULL,
                               env=None if env is None else {**os.environ, **env})
    processes.append(process)
    return process


def run(cmd):
    return subprocess.run(["taskset", "-c", LOAD_CPU, *cmd], capture_output=True, text=True, check=True).stdout


def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def cpu_seconds(pid):
    """User and system CPU seconds a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def wrk(port, path, pid=None, headers=()):
    before = cpu_seconds(pid) if pid else None
    extra = [arg for header in headers for arg in ("-H", header)]
    out = run(["wrk", "-t1", "-c64", f"-d{DURATION}s", "--latency", "-H", f"Host: {HOST}", *extra, f"http://127.0.0.1:{port}{path}"])
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {p: to_ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"wrk saw {errors.group(1)} error responses on port {port}{path}:\n{out}")
    result = {"rps": rps, "p50_ms": latency["50"], "p99_ms": latency["99"]}
    if before:
        # CPU time of the proxy per request: less coupled to the load generator's core than req/s.
        (user0, sys0), (user1, sys1) = before, cpu_seconds(pid)
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        result["user_us"] = (user1 - user0) / requests * 1e6
        result["sys_us"] = (sys1 - sys0) / requests * 1e6
        result["cpu_us"] = result["user_us"] + result["sys_us"]
    return result


def oha(port, path, rate):
    out = run([str(Path.home() / ".cargo/bin/oha"), "--no-tui", "--output-format", "json", "-z", f"{DURATION}s", "-c", "16",
               "-q", str(int(rate)), "-H", f"Host: {HOST}", f"http://127.0.0.1:{port}{path}"])
    stats = json.loads(out)
    percentiles = stats["latencyPercentiles"]
    return {"rate": int(rate), "p50_ms": percentiles["p50"] * 1000, "p99_ms": percentiles["p99"] * 1000,
            "success": stats["summary"]["successRate"]}


def h2load(port, path):
    out = run(["h2load", "-c64", "-m10", f"-D{DURATION}", "-H", f":authority: {HOST}", f"http://127.0.0.1:{port}{path}"])
    rps = float(re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out).group(1))
    failed = int(re.search(r"(\d+) failed", out).group(1))
    if failed:
        sys.exit(f"h2load saw {failed} failures on port {port}:\n{out}")
    return {"rps": rps}


APP_KEY, APP_SECRET = "203753385", "bench-secret"


def signed_headers(path):
    """Alibaba APP signature headers of `GET path` (HmacSHA256 over X-Ca-Key, -Signature-Method and
    -Timestamp; no nonce, so that wrk may send the same request again for 15 minutes)."""
    import base64
    import hashlib
    import hmac
    signed = [("X-Ca-Key", APP_KEY), ("X-Ca-Signature-Method", "HmacSHA256"), ("X-Ca-Timestamp", str(int(time.time() * 1000)))]
    string_to_sign = "GET\n\n\n\n\n" + "".join(f"{name}:{value}\n" for name, value in signed) + path
    signature = base64.b64encode(hmac.new(APP_SECRET.encode(), string_to_sign.encode(), hashlib.sha256).digest()).decode()
    headers = [f"{name}: {value}" for name, value in signed]
    return [*headers, "X-Ca-Signature-Headers: " + ",".join(name for name, _ in signed), f"X-Ca-Signature: {signature}"]


def gateway_manifest(backend_port, extra_apis=0, tls=None):
    """The bench group's Apis (and `extra_apis` more); with `tls` (certificate and key PEM), the
    group's host also serves HTTPS with that certificate."""
    apis = [f"""---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {{name: users}}
spec:
  groupRef: bench
  auth: {{type: ANONYMOUS}}
  request: {{method: GET, path: "/bench/users/[id]", mode: MAPPING}}
  parameters:
  - {{name: id, in: PATH, type: LONG, required: true, backend: {{name: X-User-Id, in: HEADER}}}}
  backend: {{type: HTTP, address: "http://127.0.0.1:{backend_port}", path: /v1/users}}
---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {{name: cached}}
spec: {{caching: {{duration: 3600}}}}
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {{name: cached-users}}
spec:
  groupRef: bench
  auth: {{type: ANONYMOUS}}
  request: {{method: GET, path: "/bench/cached/[id]", mode: MAPPING}}
  parameters:
  - {{name: id, in: PATH, type: LONG, required: true, backend: {{name: X-User-Id, in: HEADER}}}}
  backend: {{type: HTTP, address: "http://127.0.0.1:{backend_port}", path: /v1/users}}
  plugins: [{{kind: Plugin, name: cached}}]
---
apiVersion: apigw.io/v1alpha1
kind: Plugin
metadata: {{name: generous}}
spec: {{trafficControl: {{unit: SECOND, apiDefault: 100000000, appDefault: 100000000}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: bench-app}}
stringData: {{appKey: "{APP_KEY}", appSecret: "{APP_SECRET}"}}
---
apiVersion: apigw.io/v1alpha1
kind: App
metadata: {{name: bench}}
spec: {{appId: 7, credentialsSecretRef: {{name: bench-app}}, authorizations: [{{groupRef: bench}}]}}
---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {{name: signed-users}}
spec:
  groupRef: bench
  auth: {{type: APP}}
  request: {{method: GET, path: "/bench/signed/[id]", mode: MAPPING}}
  parameters:
  - {{name: id, in: PATH, type: LONG, required: true, backend: {{name: X-User-Id, in: HEADER}}}}
  backend: {{type: HTTP, address: "http://127.0.0.1:{backend_port}", path: /v1/users}}
  plugins: [{{kind: Plugin, name: generous}}]
"""]
    for index in range(extra_apis):
        apis.append(f"""---
apiVersion: apigw.io/v1alpha1
kind: Api
metadata: {{name: api-{index}}}
spec:
  groupRef: bench
  auth: {{type: ANONYMOUS}}
  request: {{method: GET, path: "/service{index}/items/[itemId]", mode: MAPPING}}
  parameters:
  - {{name: itemId, in: PATH, type: LONG, required: true, backend: {{name: item, in: QUERY}}}}
  - {{name: lang, in: QUERY, enum: [en, zh], default: en}}
  backend: {{type: HTTP, address: "http://127.0.0.1:{backend_port}", path: /v1/items, timeout: 3000}}
""")
    if tls is None:
        group = f"apiVersion: apigw.io/v1alpha1\nkind: ApiGroup\nmetadata: {{name: bench}}\nspec: {{domains: [{{host: {HOST}}}]}}\n"
        return group + "".join(apis)
    indent = lambda pem: "".join(f"    {line}\n" for line in pem.splitlines())
    secret = (f"apiVersion: v1\nkind: Secret\nmetadata: {{name: bench-tls}}\ntype: kubernetes.io/tls\nstringData:\n"
              f"  tls.crt: |\n{indent(tls[0])}  tls.key: |\n{indent(tls[1])}---\n")
    group = (f"apiVersion: apigw.io/v1alpha1\nkind: ApiGroup\nmetadata: {{name: bench}}\n"
             f"spec: {{domains: [{{host: {HOST}, tlsSecretRef: {{name: bench-tls}}}}]}}\n")
    return secret + group + "".join(apis)


# The Api's work as nginx does it: a regex location as the parameter check, a rewrite, the
# parameter mapped (a location's proxy_set_header replaces the inherited ones, so all are here).
API_LOCATION = """    location ~ ^/bench/users/([0-9]+)$ {
      set $user_id $1;
      rewrite ^ /v1/users break;
      proxy_pass http://backend;
      proxy_set_header Connection "";
      proxy_set_header X-User-Id $user_id;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Ca-Request-Id $request_id;
    }
"""

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  # The gateway's access-log fields, as nginx can give them.
  log_format apigw escape=json '{{"time":"$time_iso8601","requestId":"$request_id","clientIp":"$remote_addr","host":"$host","method":"$request_method","path":"$uri","status":$status,"bytes":$body_bytes_sent,"totalMs":$request_time,"backendMs":"$upstream_response_time"}}';
  keepalive_requests 100000000;
  client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir}; uwsgi_temp_path {dir}; scgi_temp_path {dir};
  upstream backend {{ server 127.0.0.1:{backend}; keepalive 128; keepalive_requests 100000000; }}
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  proxy_set_header X-Forwarded-Proto $scheme;
  proxy_set_header X-Forwarded-Host $host;
  proxy_set_header X-Ca-Request-Id $request_id;
  server {{
    listen 127.0.0.1:{http};
    listen 127.0.0.1:{h2} http2;
    server_name {host};
{api_location}  }}
  # The same, logging each request (nginx's best setting: buffered, flushed every second).
  server {{
    listen 127.0.0.1:{http_logged};
    server_name {host};
    access_log {dir}/access.log apigw buffer=64k flush=1s;
{api_location}  }}
  # The same over TLS (ECDSA P-256), session tickets on as the gateway's.
  server {{
    listen 127.0.0.1:{tls} ssl;
    server_name {host};
    ssl_certificate {dir}/tls.crt;
    ssl_certificate_key {dir}/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;
    ssl_session_cache shared:SSL:10m;
{api_location}  }}
  # A plain proxy_pass with the same headers, as users compare.
  server {{
    listen 127.0.0.1:{plain};
    server_name {host};
    location / {{ proxy_pass http://backend; }}
  }}
  server {{
    listen 127.0.0.1:{plain_logged};
    server_name {host};
    access_log {dir}/access-plain.log apigw buffer=64k flush=1s;
    location / {{ proxy_pass http://backend; }}
  }}
}}
"""


def nginx_conf(folder, backend, ports):
    """NGINX_CONF with `ports` (http, h2, http_logged, plain, plain_logged, tls; free ports for the rest)."""
    ports = {name: ports.get(name) or free_port() for name in ["http", "h2", "http_logged", "plain", "plain_logged", "tls"]}
    return NGINX_CONF.format(dir=folder, backend=backend, host=HOST, api_location=API_LOCATION, **ports)


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def answer_complete(answer):
    """Whether `answer` holds a whole HTTP/1.1 response with a Content-Length body."""
    head, separator, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return bool(separator) and length is not None and len(body) >= int(length.group(1))


def idle_connection_kib(port, pid, tls=False, count=2000):
    """Resident memory a proxy process keeps per idle keep-alive connection (over TLS when `tls`,
    full handshakes with SNI) that served one request."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    before = rss_mib(pid)
    connections = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port))
        if tls:
            connection = context.wrap_socket(connection, server_hostname=HOST)
        connection.sendall(f"GET /bench/users/42 HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        answer = b""
        while not answer_complete(answer):
            answer += connection.recv(4096)
        connections.append(connection)
    time.sleep(0.5)
    kib = (rss_mib(pid) - before) * 1024 / count
    for connection in connections:
        connection.close()
    return round(kib, 1)


def idle_memory(work):
    """`idle_connection_kib`, plain and over TLS, of a gateway and an nginx started afresh for each
    (a process that served heavy load keeps freed memory, which would hide what new connections
    cost)."""
    result = {}
    for tls in [False, True]:
        port, tls_port = free_port(), free_port()
        gateway = start([str(RELEASE / "apigw-gateway"), "--manifests", str(work / "apis"), "--http", f"127.0.0.1:{port}",
                         "--https", f"127.0.0.1:{tls_port}", "--admin", f"127.0.0.1:{free_port()}",
                         "--access-log", "false", "--workers", "1"], PROXY_CPU)
        wait_port(tls_port if tls else port)
        result["gateway_tls" if tls else "gateway"] = idle_connection_kib(tls_port if tls else port, gateway.pid, tls)
        gateway.terminate()
        gateway.wait()
        folder = work / ("idle-nginx-tls" if tls else "idle-nginx")
        folder.mkdir()
        for name in ["tls.crt", "tls.key"]:
            shutil.copy(work / name, folder / name)
        port, tls_port = free_port(), free_port()
        backend = re.search(r"server 127.0.0.1:(\d+);", (work / "nginx.conf").read_text()).group(1)
        (folder / "nginx.conf").write_text(nginx_conf(folder, backend, {"http": port, "tls": tls_port}))
        nginx = start(["nginx", "-c", str(folder / "nginx.conf"), "-p", str(folder)], PROXY_CPU)
        wait_port(tls_port if tls else port)
        worker = int(subprocess.run(["pgrep", "-P", str(nginx.pid)], capture_output=True, text=True).stdout.split()[0])
        result["nginx_tls" if tls else "nginx"] = idle_connection_kib(tls_port if tls else port, worker, tls)
        nginx.terminate()
        nginx.wait()
    return result


def ecdsa_certificate(folder):
    """A self-signed ECDSA P-256 certificate for HOST in `folder` (tls.crt, tls.key); its PEMs."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(folder / "tls.key"), "-out", str(folder / "tls.crt"), "-days", "2",
                    "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}"], capture_output=True, check=True)
    return (folder / "tls.crt").read_text(), (folder / "tls.key").read_text()


def h2load_tls(port, path, pid):
    """HTTP/1.1 over TLS, keep-alive: h2load (64 connections; SNI and Host are HOST) and the
    proxy's CPU time per request."""
    before = cpu_seconds(pid)
    out = run(["h2load", "--h1", "-c64", f"-D{DURATION}", f"--connect-to=127.0.0.1:{port}", f"https://{HOST}:{port}{path}"])
    (user0, sys0), (user1, sys1) = before, cpu_seconds(pid)
    rps = float(re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out).group(1))
    done = int(re.search(r"(\d+) succeeded", out).group(1))
    failed = int(re.search(r"(\d+) failed", out).group(1))
    if failed or not re.search(r"status codes: (\d+) 2xx", out) or not done:
        sys.exit(f"h2load over TLS saw failures on port {port}:\n{out}")
    return {"rps": rps, "cpu_us": ((user1 - user0) + (sys1 - sys0)) / done * 1e6}


def handshakes(port, pid, resumed):
    """TLS handshakes per second from two clients (`hack/tls_handshakes.py`: each connects, shakes
    hands with SNI, closes; full handshakes, or resumed with a first connection's ticket) and the
    proxy's CPU time per handshake."""
    before = cpu_seconds(pid)
    mode = "resumed" if resumed else "full"
    clients = [subprocess.Popen(["taskset", "-c", LOAD_CPU, sys.executable, str(ROOT / "hack/tls_handshakes.py"),
                                 str(port), HOST, str(DURATION), mode], stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    counts = [tuple(map(int, client.communicate()[0].split())) for client in clients]
    (user0, sys0), (user1, sys1) = before, cpu_seconds(pid)
    total, reused = sum(count for count, _ in counts), sum(reused for _, reused in counts)
    if resumed and reused < total * 0.99:
        sys.exit(f"port {port}: only {reused} of {total} handshakes resumed")
    return {"per_second": round(total / DURATION, 1), "cpu_us": ((user1 - user0) + (sys1 - sys0)) / total * 1e6,
            "resumed_share": round(reused / total, 3)}


def tls_rounds(proxies):
    """For each proxy `name: (TLS port, pid)`: medians over 3 alternating rounds of keep-alive
    requests, full handshakes and resumed handshakes."""
    runs = {name: {"keepalive": [], "full_handshakes": [], "resumed_handshakes": []} for name in proxies}
    for _ in range(3):
        for name, (port, pid) in proxies.items():
            runs[name]["keepalive"].append(h2load_tls(port, "/bench/users/42", pid))
            runs[name]["full_handshakes"].append(handshakes(port, pid, resumed=False))
            runs[name]["resumed_handshakes"].append(handshakes(port, pid, resumed=True))
    result = {}
    for name in proxies:
        result[name] = {kind: {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
                        for kind, rounds in runs[name].items()}
    return result


def tls_ratio(tls, kind, key):
    return round(tls["gateway"][kind][key] / tls["nginx"][kind][key], 3)


def admin_config(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5) as response:
        return json.load(response)


def memory_and_reload(backend_port, work):
    """A gateway's resident memory with the bench group alone (the baseline), with 10,000 more
    Apis, and once they are deleted again; how long loading them, reloading them all changed and
    reloading one changed take. Each memory figure follows a short load, as a serving gateway's
    allocator runs."""
    folder = work / "big"
    folder.mkdir()
    manifest = folder / "apis.yaml"
    manifest.write_text(gateway_manifest(backend_port))
    http, admin = free_port(), free_port()
    gateway = start([str(RELEASE / "apigw-gateway"), "--manifests", str(folder), "--http", f"127.0.0.1:{http}",
                     "--admin", f"127.0.0.1:{admin}", "--access-log", "false", "--workers", "1"], PROXY_CPU)
    wait_port(admin, timeout=60)
    while not admin_config(admin)["loaded"]:
        time.sleep(0.05)

    def served_rss(path):
        subprocess.run(["taskset", "-c", LOAD_CPU, "wrk", "-t1", "-c8", "-d2s", "-H", f"Host: {HOST}",
                        f"http://127.0.0.1:{http}{path}"], capture_output=True, check=True)
        return rss_mib(gateway.pid)

    def rewritten(text):
        """Seconds until the gateway serves `manifest` rewritten with `text`."""
        version = admin_config(admin)["version"]
        changed = time.time()
        manifest.write_text(text)
        while admin_config(admin)["version"] == version:
            time.sleep(0.01)
        return time.time() - changed

    baseline = served_rss("/bench/users/42")
    big = gateway_manifest(backend_port, 10_000)
    first_load = rewritten(big)
    rss = served_rss("/service5000/items/1")
    apis = admin_config(admin)["apis"]
    reload_seconds = rewritten(big.replace("timeout: 3000", "timeout: 4000"))
    # One Api changed among 10,000: the files are read and translated whole, the one Api compiled.
    reload_one_seconds = rewritten(big.replace("timeout: 3000", "timeout: 4000")
                                   .replace("/service7/items/[itemId]", "/service7/things/[itemId]"))
    rewritten(gateway_manifest(backend_port))
    deleted = served_rss("/bench/users/42")
    gateway.terminate()
    gateway.wait()
    return {"apis": apis, "rss_mib": round(rss, 1), "baseline_rss_mib": round(baseline, 1),
            "deleted_rss_mib": round(deleted, 1), "deleted_over_baseline": round(deleted / baseline, 3),
            "first_load_s": round(first_load, 2), "reload_s": round(reload_seconds, 2),
            "reload_one_s": round(reload_one_seconds, 2)}


def main():
    for tool in ["wrk", "h2load", "nginx", "taskset", PINGORA]:
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run `make bench`, which installs or builds it")
    if not (Path.home() / ".cargo/bin/oha").exists():
        sys.exit("oha is missing: run `make bench`, which installs it")
    work = Path(tempfile.mkdtemp(prefix="apigw-bench-"))
    backend_port, gateway_port, logged_port = free_port(), free_port(), free_port()
    nginx_ports = {name: free_port() for name in ["http", "h2", "http_logged", "plain", "plain_logged", "tls"]}
    start([str(RELEASE / "apigw-echo"), f"127.0.0.1:{backend_port}", "fixed"], LOAD_CPU)
    (work / "apis").mkdir()
    (work / "apis" / "apis.yaml").write_text(gateway_manifest(backend_port, tls=ecdsa_certificate(work)))
    gateway_tls_port = free_port()

    def gateway_on(port, access_log, stdout=subprocess.DEVNULL, extra=()):
        return start([str(RELEASE / "apigw-gateway"), "--manifests", str(work / "apis"), "--http", f"127.0.0.1:{port}",
                      "--admin", f"127.0.0.1:{free_port()}", "--access-log", access_log, "--workers", "1", *extra],
                     PROXY_CPU, stdout)

    gateway = gateway_on(gateway_port, "false", extra=["--https", f"127.0.0.1:{gateway_tls_port}"])
    # Tracing at 1 % and 100 % sampling, to a real OpenTelemetry Collector on the load's core
    # (OTLP/HTTP in, nothing out: its cost is not the gateway's).
    collector_port = free_port()
    (work / "otelcol.yaml").write_text(
        f"receivers: {{otlp: {{protocols: {{http: {{endpoint: '127.0.0.1:{collector_port}'}}}}}}}}\n"
        "exporters: {nop: {}}\nservice:\n  telemetry: {metrics: {level: none}}\n"
        "  pipelines: {traces: {receivers: [otlp], exporters: [nop]}}\n")
    start([OTELCOL, f"--config=file:{work / 'otelcol.yaml'}"], LOAD_CPU, subprocess.DEVNULL)
    wait_port(collector_port, timeout=30)
    traced_ports = {"1pct": free_port(), "100pct": free_port()}
    traced = {
        name: gateway_on(port, "false", extra=["--otlp-endpoint", f"http://127.0.0.1:{collector_port}/v1/traces",
                                               "--trace-sampling-ratio", "0.01" if name == "1pct" else "1"])
        for name, port in traced_ports.items()
    }
    # The same gateway with its access log on, written to a file as nginx's is.
    logged = gateway_on(logged_port, "true", open(work / "gateway-access.log", "w"))
    (work / "nginx.conf").write_text(nginx_conf(work, backend_port, nginx_ports))
    nginx = start(["nginx", "-c", str(work / "nginx.conf"), "-p", str(work)], PROXY_CPU)
    # Pingora, in its load-balancer example's shape: one thread, 128 idle backend connections.
    pingora_port = free_port()
    (work / "pingora.yaml").write_text("version: 1\nthreads: 1\nupstream_keepalive_pool_size: 128\n")
    pingora = start([PINGORA, "-c", str(work / "pingora.yaml")], PROXY_CPU,
                    env={"LISTEN": f"127.0.0.1:{pingora_port}", "BACKEND": f"127.0.0.1:{backend_port}"})
    for port in [backend_port, gateway_port, gateway_tls_port, logged_port, pingora_port, *nginx_ports.values(),
                 *traced_ports.values()]:
        wait_port(port)
    # taskset execs nginx, so the process started is nginx's master; its one child is the worker.
    nginx_worker = int(subprocess.run(["pgrep", "-P", str(nginx.pid)], capture_output=True, text=True).stdout.split()[0])
    nginx_port, nginx_h2 = nginx_ports["http"], nginx_ports["h2"]

    signed = signed_headers("/bench/signed/42")
    # name: (port, path, proxy pid, extra headers)
    targets = {
        "direct": (backend_port, "/v1/users", None, ()),
        "gateway": (gateway_port, "/bench/users/42", gateway.pid, ()),
        "nginx": (nginx_port, "/bench/users/42", nginx_worker, ()),
        "nginx_plain": (nginx_ports["plain"], "/bench/users/42", nginx_worker, ()),
        "pingora": (pingora_port, "/bench/users/42", pingora.pid, ()),
        "gateway_logged": (logged_port, "/bench/users/42", logged.pid, ()),
        "nginx_logged": (nginx_ports["http_logged"], "/bench/users/42", nginx_worker, ()),
        "nginx_plain_logged": (nginx_ports["plain_logged"], "/bench/users/42", nginx_worker, ()),
        "gateway_plugins": (gateway_port, "/bench/signed/42", gateway.pid, signed),
        "gateway_cache_hit": (gateway_port, "/bench/cached/42", gateway.pid, ()),
        "gateway_traced_1pct": (traced_ports["1pct"], "/bench/users/42", traced["1pct"].pid, ()),
        "gateway_traced_100pct": (traced_ports["100pct"], "/bench/users/42", traced["100pct"].pid, ()),
    }
    pids = {name: pid for name, (_, _, pid, _) in targets.items() if pid}
    for name, (port, path, _, headers) in targets.items():  # warm up pools and caches
        extra = [arg for header in headers for arg in ("-H", header)]
        run(["wrk", "-t1", "-c64", "-d2s", "-H", f"Host: {HOST}", *extra, f"http://127.0.0.1:{port}{path}"])
    results = {"http1": {name: [] for name in targets}}
    for _ in range(ROUNDS):
        for name, (port, path, pid, headers) in targets.items():
            results["http1"][name].append(wrk(port, path, pid, headers))
    # Rounds alternate the targets, so a noisy moment hits all of them; medians damp the rest.
    best = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for name, runs in results["http1"].items()}
    cpu_pairs = [n["cpu_us"] / g["cpu_us"] for g, n in zip(results["http1"]["gateway"], results["http1"]["nginx"])]

    def ratio(a, b):
        return round(best[a]["rps"] / best[b]["rps"], 3)

    def rounds(a, b):
        return [x["rps"] / y["rps"] for x, y in zip(results["http1"][a], results["http1"][b])]

    pairwise = [g["rps"] / n["rps"] for g, n in zip(results["http1"]["gateway"], results["http1"]["nginx"])]
    rate = best["gateway"]["rps"] / 2
    half_load = ["direct", "gateway", "nginx", "gateway_logged", "nginx_logged"]
    results["half_load"] = {name: oha(*targets[name][:2], rate) for name in half_load}
    results["http2"] = {"gateway": h2load(gateway_port, "/bench/users/42"), "nginx": h2load(nginx_h2, "/bench/users/42")}
    results["tls"] = tls_rounds({"gateway": (gateway_tls_port, gateway.pid), "nginx": (nginx_ports["tls"], nginx_worker)})
    results["idle_connection_kib"] = idle_memory(work)
    results["big_config"] = memory_and_reload(backend_port, work)
    results["ratios"] = {
        "http1_gateway_over_nginx": round(best["gateway"]["rps"] / best["nginx"]["rps"], 3),
        "http1_gateway_over_nginx_per_round": [round(ratio, 3) for ratio in pairwise],
        # Each round's gateway and nginx runs are seconds apart: the median of their ratios is
        # the least disturbed by the machine's drift.
        "http1_gateway_over_nginx_median_of_rounds": round(statistics.median(pairwise), 3),
        "http1_gateway_over_direct": round(best["gateway"]["rps"] / best["direct"]["rps"], 3),
        "http1_gateway_over_nginx_plain": ratio("gateway", "nginx_plain"),
        # The Rust anchor: Pingora as a plain proxy with the same headers.
        "http1_gateway_over_pingora": ratio("gateway", "pingora"),
        "http1_gateway_over_pingora_median_of_rounds": round(statistics.median(rounds("gateway", "pingora")), 3),
        "http1_pingora_cpu_over_gateway_cpu": round(best["pingora"]["cpu_us"] / best["gateway"]["cpu_us"], 3),
        "http1_gateway_over_nginx_plain_median_of_rounds": round(statistics.median(rounds("gateway", "nginx_plain")), 3),
        # Access logs on on both (nginx buffer=64k flush=1s).
        "http1_logged_gateway_over_nginx": ratio("gateway_logged", "nginx_logged"),
        "http1_logged_gateway_over_nginx_median_of_rounds": round(statistics.median(rounds("gateway_logged", "nginx_logged")), 3),
        "http1_logged_gateway_over_nginx_plain": ratio("gateway_logged", "nginx_plain_logged"),
        "http1_logged_gateway_over_nginx_plain_median_of_rounds": round(statistics.median(rounds("gateway_logged", "nginx_plain_logged")), 3),
        # What the access log costs each (1 - this is the share of throughput it takes).
        "http1_gateway_logged_over_unlogged": ratio("gateway_logged", "gateway"),
        "http1_gateway_logged_over_unlogged_median_of_rounds": round(statistics.median(rounds("gateway_logged", "gateway")), 3),
        "http1_nginx_logged_over_unlogged": ratio("nginx_logged", "nginx"),
        "http1_gateway_logged_cpu_over_unlogged_cpu": round(best["gateway_logged"]["cpu_us"] / best["gateway"]["cpu_us"], 3),
        # The plugin path: APP signature and traffic control against the same Api anonymous.
        "http1_plugins_over_anonymous": ratio("gateway_plugins", "gateway"),
        "http1_plugins_over_anonymous_median_of_rounds": round(statistics.median(rounds("gateway_plugins", "gateway")), 3),
        "http1_plugins_over_nginx_plain": ratio("gateway_plugins", "nginx_plain"),
        # The caching plugin: a hit answered by the gateway against the same request proxied.
        "http1_cache_hit_over_proxied": round(best["gateway_cache_hit"]["rps"] / best["gateway"]["rps"], 3),
        # Tracing: what 1 % and 100 % sampling cost against the same gateway untraced.
        "http1_traced_1pct_over_untraced": ratio("gateway_traced_1pct", "gateway"),
        "http1_traced_1pct_over_untraced_median_of_rounds": round(statistics.median(rounds("gateway_traced_1pct", "gateway")), 3),
        "http1_traced_100pct_over_untraced": ratio("gateway_traced_100pct", "gateway"),
        "http1_traced_100pct_over_untraced_median_of_rounds": round(statistics.median(rounds("gateway_traced_100pct", "gateway")), 3),
        "http1_nginx_cpu_over_gateway_cpu": round(best["nginx"]["cpu_us"] / best["gateway"]["cpu_us"], 3),
        "http1_nginx_cpu_over_gateway_cpu_per_round": [round(ratio, 3) for ratio in cpu_pairs],
        "http2_gateway_over_nginx": round(results["http2"]["gateway"]["rps"] / results["http2"]["nginx"]["rps"], 3),
        # TLS 1.3, ECDSA P-256 on both: keep-alive requests, full and resumed handshakes.
        "tls_keepalive_gateway_over_nginx": tls_ratio(results["tls"], "keepalive", "rps"),
        "tls_full_handshakes_gateway_over_nginx": tls_ratio(results["tls"], "full_handshakes", "per_second"),
        "tls_resumed_handshakes_gateway_over_nginx": tls_ratio(results["tls"], "resumed_handshakes", "per_second"),
        "tls_full_handshake_nginx_cpu_over_gateway_cpu": round(1 / tls_ratio(results["tls"], "full_handshakes", "cpu_us"), 3),
        "half_load_p99_added_ms": round(results["half_load"]["gateway"]["p99_ms"] - results["half_load"]["direct"]["p99_ms"], 3),
    }

    print(f"\nHTTP/1.1 keep-alive, 64 connections, {DURATION}s x {ROUNDS} alternating rounds (medians):")
    print(f"  {'':18} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for name, r in best.items():
        print(f"  {name:18} {r['rps']:>10.0f} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f}")
    print("\nCPU time of the proxy per request (medians; user + system):")
    for name in pids:
        r = best[name]
        print(f"  {name:18} {r['cpu_us']:6.2f} us  (user {r['user_us']:.2f}, system {r['sys_us']:.2f})")
    print(f"\nLatency at half of the gateway's peak ({int(rate)} req/s, 16 connections):")
    for name, r in results["half_load"].items():
        print(f"  {name:8} p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms")
    print("\nHTTP/2 (h2c), 64 connections x 10 streams:")
    for name, r in results["http2"].items():
        print(f"  {name:8} {r['rps']:>10.0f} req/s")
    print("\nTLS 1.3 (ECDSA P-256), medians of 3 alternating rounds:")
    for name in ["gateway", "nginx"]:
        t = results["tls"][name]
        print(f"  {name:8} keep-alive {t['keepalive']['rps']:>9.0f} req/s ({t['keepalive']['cpu_us']:.1f} us CPU each); "
              f"full handshakes {t['full_handshakes']['per_second']:>7.0f}/s ({t['full_handshakes']['cpu_us']:.0f} us each); "
              f"resumed {t['resumed_handshakes']['per_second']:>7.0f}/s ({t['resumed_handshakes']['cpu_us']:.0f} us each)")
    idle = results["idle_connection_kib"]
    print(f"\nMemory per idle keep-alive connection (2,000 of them): gateway {idle['gateway']} KiB, nginx {idle['nginx']} KiB; "
          f"over TLS gateway {idle['gateway_tls']} KiB, nginx {idle['nginx_tls']} KiB")
    big = results["big_config"]
    print(f"\n{big['apis']} APIs: gateway RSS {big['rss_mib']} MiB (bench group alone {big['baseline_rss_mib']} MiB, "
          f"after the 10,000 are deleted {big['deleted_rss_mib']} MiB: {big['deleted_over_baseline']} x), "
          f"loaded in {big['first_load_s']} s, reload {big['reload_s']} s, one Api changed {big['reload_one_s']} s")
    print("\nRatios:", json.dumps(results["ratios"], indent=2))
    out = ROOT / "target" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    try:
        main()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
