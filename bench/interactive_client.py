#!/usr/bin/env python3
"""Measuring client for bench/interactive.sh. Standard library only; loopback only.

Sub-commands (each prints one JSON object on stdout):

  ws-echo URL [--n N] [--warmup W] [--size S]
      Opens one WebSocket (raw socket handshake, masked frames) to ws://127.0.0.1:PORT/PATH
      and does N sequential text echo round trips; reports p50/p99/mean/min/max in ms.

  cold --base URL --key KEY --guid GUID --path PATH --ready-path RPATH [--any-status]
       [--accept A] [--reps R]
      R times, interleaved: (1) stop every worker of GUID (POST .../restart, then poll
      .../jobs until empty) and time GET PATH through Porch from sending the request to the
      first response byte; (2) stop Porch's worker again and run the very command Porch ran
      (command line, environment and working directory read from /proc the first time) on
      a fresh port, polling RPATH every 10 ms with a raw GET as Porch's readiness check does
      (ready = status 200-499, or any status with --any-status): time from spawn to the
      first ready answer. Reports both, and the per-pair difference ("overhead").
"""

import argparse
import base64
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def fail(msg):
    print(f"interactive_client: error: {msg}", file=sys.stderr)
    sys.exit(1)


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def summary(ms):
    return {
        "n": len(ms),
        "p50_ms": round(pct(ms, 50), 3),
        "p99_ms": round(pct(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
        "all_ms": [round(x, 3) for x in ms] if len(ms) <= 50 else None,
    }


def host_port(url):
    u = urllib.parse.urlsplit(url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        fail(f"refusing non-loopback URL {url}")
    return u.hostname, u.port or 80, (u.path or "/") + (f"?{u.query}" if u.query else "")


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return bytes(buf)


def read_head(sock):
    head = bytearray()
    while not head.endswith(b"\r\n\r\n"):
        b = sock.recv(1)
        if not b:
            raise ConnectionError(f"closed during response head: {bytes(head)!r}")
        head += b
        if len(head) > 65536:
            raise ConnectionError("response head too long")
    return head.decode("latin-1")


# ----------------------------------------------------------------- ws-echo ----
def ws_connect(url, timeout=30.0):
    host, port, path = host_port(url)
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    req = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://{host}:{port}\r\n\r\n"
    )
    sock.sendall(req.encode())
    head = read_head(sock)
    if not head.startswith("HTTP/1.1 101"):
        fail(f"no WebSocket upgrade from {url}: {head.splitlines()[0] if head else '(empty)'}")
    return sock


def ws_frame(payload):
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", 0x81, 0x80 | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    else:
        hdr = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
    masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    return hdr + mask + masked


def ws_read(sock):
    b0, b1 = recv_exact(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", recv_exact(sock, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", recv_exact(sock, 8))
    if b1 & 0x80:
        recv_exact(sock, 4)  # servers do not mask, but be lenient
    return b0 & 0x0F, recv_exact(sock, n)


def cmd_ws_echo(args):
    sock = ws_connect(args.url)
    payload = (b"x" * args.size)
    frame = ws_frame(payload)  # the same masked frame every time: no masking cost in the loop
    times = []
    for i in range(args.warmup + args.n):
        t0 = time.perf_counter_ns()
        sock.sendall(frame)
        op, data = ws_read(sock)
        t1 = time.perf_counter_ns()
        if op != 0x1 or data != payload:
            fail(f"bad echo (opcode {op}, {len(data)} bytes)")
        if i >= args.warmup:
            times.append((t1 - t0) / 1e6)
    try:
        sock.sendall(bytes([0x88, 0x82]) + b"\0\0\0\0" + b"\x03\xe8")  # close 1000
        sock.close()
    except OSError:
        pass
    out = summary(times)
    out.pop("all_ms")
    print(json.dumps(out))


# -------------------------------------------------------------------- cold ----
def api(base, key, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base.rstrip("/") + path, data=data, method=method)
    req.add_header("Authorization", f"Key {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read()
    return json.loads(text) if text.strip() else None


def wait_no_jobs(base, key, guid, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not api(base, key, "GET", f"/__api__/v1/content/{guid}/jobs"):
            return
        time.sleep(0.05)
    fail(f"workers of {guid} did not stop within {timeout:.0f}s")


def ttfb(url, accept, timeout=120.0):
    """(ms from sending the request to its first response byte, status code)."""
    host, port, path = host_port(url)
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    t0 = time.perf_counter_ns()
    sock.sendall(req.encode())
    first = sock.recv(1)
    t1 = time.perf_counter_ns()
    if not first:
        fail(f"{url}: connection closed without a response")
    rest = read_head(sock)
    sock.close()
    line = (first.decode("latin-1") + rest).split("\r\n", 1)[0]
    try:
        status = int(line.split(" ")[1])
    except (IndexError, ValueError):
        status = 0
    return (t1 - t0) / 1e6, status


# --------------------------------------------------------------- own-start ----
def ready_once(host, port, path, any_status):
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while len(data) < 12:
                chunk = s.recv(64)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return False
    try:
        status = int(data.split(b" ")[1])
    except (IndexError, ValueError):
        return False
    return status > 0 and (any_status or status < 500)


def like_worker(base, key, guid):
    """(argv, env, cwd, port) of the item's running worker, read from /proc."""
    jobs = api(base, key, "GET", f"/__api__/v1/content/{guid}/jobs") or []
    job = next((j for j in jobs if j.get("pid") and j.get("port")), None)
    if job is None:
        fail(f"{guid} has no running worker to copy the command from")
    pid, port = int(job["pid"]), int(job["port"])
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0")[:-1]]
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(kv.decode().partition("=")[::2] for kv in f.read().split(b"\0") if b"=" in kv)
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError as e:
        fail(f"cannot read worker {pid} from /proc: {e}")
    return argv, env, cwd, port


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_port(argv, env, old, new):
    """The same command and environment, listening on `new` instead of `old`."""
    o, n = str(old), str(new)
    out = []
    for a in argv:
        if a == o:
            a = n
        elif a.endswith("=" + o):
            a = a[: -len(o)] + n
        out.append(a)
    env = dict(env)
    if env.get("PORT") == o:
        env["PORT"] = n
    return out, env


def start_once(argv, env, cwd, old_port, ready_path, any_status, timeout):
    """ms from spawning the worker's command on a fresh port to its first ready answer."""
    port = free_port()
    cmd, cenv = with_port(argv, env, old_port, port)
    if cmd == argv:
        fail(f"the worker's command does not name its port {old_port}; cannot move it")
    t0 = time.perf_counter_ns()
    proc = subprocess.Popen(cmd, cwd=cwd, env=cenv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ready = False
    try:
        limit = time.monotonic() + timeout
        while time.monotonic() < limit:
            if ready_once("127.0.0.1", port, ready_path, any_status):
                ready = True
                break
            if proc.poll() is not None:
                break
            time.sleep(0.01)
        t1 = time.perf_counter_ns()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if not ready:
        fail(f"{cmd[0]} never answered {ready_path} on port {port} (exit status {proc.returncode})")
    return (t1 - t0) / 1e6


def shown(cmd):
    return " ".join(c if len(c) < 120 else c[:40] + "...(%d chars)" % len(c) for c in cmd)


def set_zygote(args, on):
    api(args.base, args.key, "PATCH", "/__api__/porch/server", {"zygote": on})


def helpers(args):
    return api(args.base, args.key, "GET", "/__api__/porch/python-helpers") or []


def wait_helpers_ready(args, timeout=180.0):
    """Waits until every pre-imported Python helper that is not switched off is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hs = helpers(args)
        if hs and all(h["state"] in ("ready", "off") for h in hs) and any(h["state"] == "ready" for h in hs):
            return
        time.sleep(0.05)
    fail(f"the Python helpers did not become ready within {timeout:.0f}s: {helpers(args)}")


def forks(args):
    return sum(h.get("forks", 0) for h in helpers(args))


def cold_through_porch(args):
    api(args.base, args.key, "POST", f"/__api__/v1/content/{args.guid}/restart")
    wait_no_jobs(args.base, args.key, args.guid)
    time.sleep(args.settle)
    ms, status = ttfb(args.base.rstrip("/") + args.path, args.accept)
    if status != 200:
        fail(f"GET {args.path} answered {status} (expected 200 after a cold start)")
    return ms


def cmd_cold(args):
    """Interleaved: a cold start through Porch with nothing warm (zygote off), the same
    command started on its own, and (with --warm) a cold start forked from the environment's
    pre-imported helper (zygote on, helper ready)."""
    porch, own, diff, warm = [], [], [], []
    like = None
    if not args.warm:
        # Nothing warm for the whole run. A build from before the pre-imported helper
        # refuses the switch (400): it has nothing to switch off.
        try:
            set_zygote(args, False)
        except urllib.error.HTTPError as e:
            if e.code != 400:
                raise
    for _ in range(args.reps):
        if args.warm:
            set_zygote(args, False)
        ms = cold_through_porch(args)
        if like is None:
            like = like_worker(args.base, args.key, args.guid)
        # Porch's worker must not compete for the CPU while the app starts on its own.
        api(args.base, args.key, "POST", f"/__api__/v1/content/{args.guid}/restart")
        wait_no_jobs(args.base, args.key, args.guid)
        time.sleep(args.settle)
        o = start_once(*like, args.ready_path, args.any_status, args.timeout)
        porch.append(ms)
        own.append(o)
        diff.append(ms - o)
        if args.warm:
            set_zygote(args, True)
            wait_helpers_ready(args)
            before = forks(args)
            w = cold_through_porch(args)
            if forks(args) <= before:
                fail(f"the worker of {args.guid} was not forked from its Python helper: {helpers(args)}")
            warm.append(w)
    out = {"porch": summary(porch), "own": summary(own), "overhead": summary(diff), "command": shown(like[0])}
    if args.warm:
        out["warm"] = summary(warm)
    print(json.dumps(out))


def main(argv):
    p = argparse.ArgumentParser(prog="interactive_client.py")
    sub = p.add_subparsers(dest="command", required=True)

    w = sub.add_parser("ws-echo")
    w.add_argument("url")
    w.add_argument("--n", type=int, default=2000)
    w.add_argument("--warmup", type=int, default=200)
    w.add_argument("--size", type=int, default=32)
    w.set_defaults(func=cmd_ws_echo)

    c = sub.add_parser("cold")
    c.add_argument("--base", required=True)
    c.add_argument("--key", required=True)
    c.add_argument("--guid", required=True)
    c.add_argument("--path", required=True)
    c.add_argument("--accept", default="*/*")
    c.add_argument("--reps", type=int, default=5)
    c.add_argument("--settle", type=float, default=0.3, help="seconds to wait after the workers are gone")
    c.add_argument("--ready-path", required=True, help="readiness path of the app's own start")
    c.add_argument("--any-status", action="store_true")
    c.add_argument("--timeout", type=float, default=120)
    c.add_argument("--warm", action="store_true",
                   help="also measure starts forked from the pre-imported Python helper (toggles zygote)")
    c.set_defaults(func=cmd_cold)


    args = p.parse_args(argv)
    try:
        args.func(args)
    except (OSError, urllib.error.URLError) as e:
        fail(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
