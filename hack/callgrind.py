#!/usr/bin/env python3
"""`make callgrind`: user-space instructions per proxied request, counted by valgrind's callgrind.

Unlike times on this small shared machine, instruction counts repeat from run to run, so they
show what a change to the request path costs. Each gateway binary given (default: the release
build) proxies `make bench`'s Api to the same echo backend under callgrind; collection is
switched on after a warm-up, wrk sends keep-alive requests for a few seconds, and the
instructions counted are divided by the requests wrk completed. Three cases, as `make bench`
has them: the Api anonymous, the same with the access log on (written to a file), and the
plugin path (APP signature plus traffic control). `CALLGRIND_CASES=logged,plugins` picks some.
Results go to target/bench/callgrind.json; each run's callgrind.out stays in the printed folder
for callgrind_annotate.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the same backend, manifest and helpers as `make bench`)

SECONDS = 8
CONNECTIONS = 16


# name: (access log on, path, signed)
CASES = {
    "anonymous": (False, "/bench/users/42", False),
    "logged": (True, "/bench/users/42", False),
    "plugins": (False, "/bench/signed/42", True),
}


def instructions_per_request(binary, backend_port, work, case):
    access_log, path, signed = CASES[case]
    port, out = bench.free_port(), work / f"callgrind.{case}.{len(list(work.glob('callgrind.*')))}.out"
    gateway = bench.start(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                           str(binary), "--manifests", str(work / "apis"), "--http", f"127.0.0.1:{port}",
                           "--admin", f"127.0.0.1:{bench.free_port()}", "--access-log", str(access_log).lower(),
                           "--workers", "1"],
                          bench.PROXY_CPU, open(work / f"access.{case}.log", "w"))
    bench.wait_port(port, timeout=120)
    url = f"http://127.0.0.1:{port}{path}"
    headers = [arg for header in (bench.signed_headers(path) if signed else []) for arg in ("-H", header)]
    wrk = ["wrk", "-t1", f"-c{CONNECTIONS}", "-H", f"Host: {bench.HOST}", *headers]
    bench.run([*wrk, "-d3s", url])  # warm-up
    subprocess.run(["callgrind_control", "--instr=on", str(gateway.pid)], check=True, capture_output=True)
    load = bench.run([*wrk, f"-d{SECONDS}s", url])
    subprocess.run(["callgrind_control", "--instr=off", str(gateway.pid)], check=True, capture_output=True)
    gateway.terminate()
    gateway.wait(timeout=60)
    if re.search(r"Non-2xx or 3xx responses", load):
        sys.exit(f"wrk saw error responses from {binary}:\n{load}")
    requests = int(re.search(r"(\d+) requests in", load).group(1))
    totals = re.search(r"^totals: (\d+)", out.read_text(), re.M)
    return {"binary": str(binary), "case": case, "requests": requests, "instructions": int(totals.group(1)),
            "per_request": round(int(totals.group(1)) / requests), "callgrind_out": str(out)}


def main():
    binaries = [Path(arg) for arg in sys.argv[1:]] or [bench.RELEASE / "apigw-gateway"]
    work = Path(tempfile.mkdtemp(prefix="apigw-callgrind-"))
    backend_port = bench.free_port()
    bench.start([str(bench.RELEASE / "apigw-echo"), f"127.0.0.1:{backend_port}", "fixed"], bench.LOAD_CPU)
    (work / "apis").mkdir()
    (work / "apis" / "apis.yaml").write_text(bench.gateway_manifest(backend_port))
    bench.wait_port(backend_port)
    try:
        cases = os.environ.get("CALLGRIND_CASES", ",".join(CASES)).split(",")
        results = [instructions_per_request(binary, backend_port, work, case) for binary in binaries for case in cases]
    finally:
        for process in bench.processes:
            process.kill()
        time.sleep(0.2)
    for result in results:
        print(f"{result['binary']} {result['case']:9}: {result['per_request']} instructions per request "
              f"({result['requests']} requests)")
    print(f"callgrind output in {work}")
    output = bench.ROOT / "target" / "bench" / "callgrind.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
