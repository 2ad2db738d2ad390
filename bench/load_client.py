#!/usr/bin/env python3
"""Load client for bench/load.sh. Standard library only (asyncio); loopback only.

Sub-commands (each prints one JSON object on stdout):

  soak --base URL --ws-path P --sessions N --static-path P [--static-path P ...]
       --rps R --duration S [--interval I] [--ramp-concurrency C] [--http-conns H]
      Opens N WebSockets to P (at most C handshakes in flight), keeps them all open for S
      seconds, each sending a timestamped text message every I seconds (random phase) and
      timing its echo; meanwhile sends R GET/s, spread over H keep-alive connections, to
      the static paths in turn. Then closes everything. Reports sessions opened/failed,
      messages echoed/failed, HTTP answers by status, achieved request rate, and p50/p99
      latency of both.

  library --base URL --key KEY --items N [--concurrency C]
      Publishes N small static items (create, upload, deploy) through the API.

  latency --url URL [--key KEY] [--n N] [--warmup W]
      N sequential GETs over one keep-alive connection; reports p50/p99.
"""

import argparse
import asyncio
import base64
import io
import json
import os
import random
import statistics
import sys
import tarfile
import time
import urllib.parse


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a list (None when empty)."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def summary(ms):
    return {
        "n": len(ms),
        "p50_ms": None if not ms else round(pct(ms, 50), 3),
        "p99_ms": None if not ms else round(pct(ms, 99), 3),
        "max_ms": None if not ms else round(max(ms), 3),
        "mean_ms": None if not ms else round(statistics.fmean(ms), 3),
    }


def split_url(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port or 80


# ------------------------------------------------------------------ HTTP ----


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    chunked = False
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        if k == "content-length":
            length = int(v.strip())
        elif k == "transfer-encoding" and "chunked" in v.lower():
            chunked = True
    if chunked:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            body += chunk[:-2]
            if size == 0:
                break
    else:
        body = await reader.readexactly(length or 0)
    return status, body


def request(method, path, host, headers=None, body=b""):
    h = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: */*", "Accept-Encoding: identity"]
    for k, v in (headers or {}).items():
        h.append(f"{k}: {v}")
    if body or method in ("POST", "PUT", "PATCH"):
        h.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


class Conn:
    """One keep-alive HTTP/1.1 connection, reopened after errors."""

    def __init__(self, base):
        self.host, self.port = split_url(base)
        self.hosthdr = f"{self.host}:{self.port}"
        self.r = self.w = None

    async def call(self, method, path, headers=None, body=b""):
        if self.w is None:
            self.r, self.w = await asyncio.open_connection(self.host, self.port)
        try:
            self.w.write(request(method, path, self.hosthdr, headers, body))
            return await read_response(self.r)
        except Exception:
            self.close()
            raise

    def close(self):
        if self.w is not None:
            self.w.close()
        self.r = self.w = None


# ------------------------------------------------------------- WebSocket ----


def ws_frame(payload: bytes, opcode=1):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def ws_read(reader, writer):
    """The next data message; answers pings on the way (uvicorn closes sessions that do not)."""
    while True:
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await reader.readexactly(8), "big")
        if b1 & 0x80:
            mask = await reader.readexactly(4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(n)))
        else:
            data = await reader.readexactly(n)
        op = b0 & 0x0F
        if op == 8:
            raise ConnectionError("closed by the server")
        if op == 9:
            writer.write(ws_frame(data, opcode=10))
        if op in (1, 2):
            return data


async def ws_open(base, path):
    host, port = split_url(base)
    r, w = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    w.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://{host}:{port}\r\n\r\n"
        ).encode()
    )
    head = await r.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        w.close()
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode("latin-1"))
    return r, w


async def cmd_soak(a):
    stats = {
        "ws_opened": 0, "ws_open_failed": 0, "ws_open_errors": {}, "ws_echoed": 0, "ws_failed": 0,
        "ws_fail_reasons": {}, "http_by_status": {}, "http_errors": 0, "http_error_reasons": {},
    }
    ws_ms, http_ms = [], []
    stop = asyncio.Event()
    gate = asyncio.Semaphore(a.ramp_concurrency)
    open_done = asyncio.Event()
    opened_at = []

    def bump(d, k):
        d[k] = d.get(k, 0) + 1

    async def session(i):
        async with gate:
            try:
                r, w = await asyncio.wait_for(ws_open(a.base, a.ws_path), 60)
            except Exception as e:  # noqa: BLE001 - any failure counts
                stats["ws_open_failed"] += 1
                bump(stats["ws_open_errors"], str(e)[:80] or type(e).__name__)
                return
        stats["ws_opened"] += 1
        opened_at.append(time.monotonic())
        try:
            await open_done.wait()
            await asyncio.sleep(random.uniform(0, a.interval))
            while not stop.is_set():
                t0 = time.perf_counter()
                msg = f"{i}:{t0}".encode()
                w.write(ws_frame(msg))
                got = await asyncio.wait_for(ws_read(r, w), 30)
                if got != msg:
                    raise ValueError("wrong echo")
                ws_ms.append((time.perf_counter() - t0) * 1000)
                stats["ws_echoed"] += 1
                try:
                    await asyncio.wait_for(stop.wait(), a.interval)
                except asyncio.TimeoutError:
                    pass
        except Exception as e:  # noqa: BLE001
            if not stop.is_set():
                stats["ws_failed"] += 1
                bump(stats["ws_fail_reasons"], str(e)[:80] or type(e).__name__)
        finally:
            try:
                w.write(ws_frame(b"\x03\xe8", opcode=8))
                w.close()
            except Exception:  # noqa: BLE001
                pass

    async def http_worker(k):
        conn = Conn(a.base)
        per_conn = a.rps / a.http_conns
        next_t = time.perf_counter() + random.uniform(0, 1 / per_conn)
        j = k
        while not stop.is_set():
            delay = next_t - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            next_t += 1 / per_conn
            path = a.static_path[j % len(a.static_path)]
            j += 1
            t0 = time.perf_counter()
            try:
                status, _ = await asyncio.wait_for(conn.call("GET", path), 30)
                http_ms.append((time.perf_counter() - t0) * 1000)
                bump(stats["http_by_status"], str(status))
            except Exception as e:  # noqa: BLE001
                stats["http_errors"] += 1
                bump(stats["http_error_reasons"], str(e)[:80] or type(e).__name__)
        conn.close()

    t_start = time.monotonic()
    sessions = [asyncio.create_task(session(i)) for i in range(a.sessions)]
    # All handshakes done (or failed) before the measured period starts.
    while stats["ws_opened"] + stats["ws_open_failed"] < a.sessions:
        await asyncio.sleep(0.1)
    ramp = time.monotonic() - t_start
    open_done.set()
    print(f"[load] {stats['ws_opened']} sessions open after {ramp:.1f}s; holding for {a.duration}s", file=sys.stderr)
    sys.stderr.flush()
    http = [asyncio.create_task(http_worker(k)) for k in range(a.http_conns)]
    t0 = time.monotonic()
    while time.monotonic() - t0 < a.duration:
        await asyncio.sleep(1)
    stop.set()
    measured = time.monotonic() - t0
    await asyncio.gather(*http, return_exceptions=True)
    await asyncio.gather(*sessions, return_exceptions=True)
    http_total = sum(stats["http_by_status"].values())
    non_200 = http_total - stats["http_by_status"].get("200", 0)
    out = dict(stats)
    out.update(
        {
            "ramp_s": round(ramp, 2),
            "duration_s": round(measured, 2),
            "ws": summary(ws_ms),
            "http": summary(http_ms),
            "http_rps": round(http_total / measured, 1),
            "errors": stats["ws_open_failed"] + stats["ws_failed"] + stats["http_errors"] + non_200,
        }
    )
    print(json.dumps(out))


# --------------------------------------------------------------- library ----


def small_bundle(i):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        data = f"<!doctype html><title>item {i}</title><h1>Item {i}</h1>".encode()
        info = tarfile.TarInfo("index.html")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


async def cmd_library(a):
    auth = {"Authorization": f"Key {a.key}"}
    failures = []
    queue = asyncio.Queue()
    for i in range(a.items):
        queue.put_nowait(i)

    async def worker():
        conn = Conn(a.base)
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            try:
                body = json.dumps({"name": f"lib-{i:04d}", "title": f"Library item {i}"}).encode()
                s, b = await conn.call("POST", "/__api__/v1/content", {**auth, "Content-Type": "application/json"}, body)
                if s != 200:
                    raise RuntimeError(f"create {s} {b[:100]!r}")
                guid = json.loads(b)["guid"]
                s, b = await conn.call("POST", f"/__api__/v1/content/{guid}/bundles", auth, small_bundle(i))
                if s != 200:
                    raise RuntimeError(f"upload {s} {b[:100]!r}")
                bundle = json.loads(b)["id"]
                body = json.dumps({"bundle_id": bundle}).encode()
                s, b = await conn.call("POST", f"/__api__/v1/content/{guid}/deploy", {**auth, "Content-Type": "application/json"}, body)
                if s not in (200, 202):
                    raise RuntimeError(f"deploy {s} {b[:100]!r}")
                task = json.loads(b)["task_id"]
                while True:
                    s, b = await conn.call("GET", f"/__api__/v1/tasks/{task}?wait=1", auth)
                    t = json.loads(b)
                    if t.get("finished"):
                        if t.get("code") != 0:
                            raise RuntimeError(f"deploy failed: {t.get('error')}")
                        break
            except Exception as e:  # noqa: BLE001
                failures.append(f"item {i}: {e}")
        conn.close()

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(a.concurrency)))
    print(json.dumps({"items": a.items, "failed": len(failures), "first_failures": failures[:5], "seconds": round(time.monotonic() - t0, 1)}))


async def cmd_latency(a):
    host, port = split_url(a.url)
    u = urllib.parse.urlsplit(a.url)
    path = u.path + (("?" + u.query) if u.query else "")
    conn = Conn(a.url)
    headers = {"Authorization": f"Key {a.key}"} if a.key else {}
    ms, sizes, bad = [], set(), 0
    for i in range(a.warmup + a.n):
        t0 = time.perf_counter()
        status, body = await conn.call("GET", path, headers)
        dt = (time.perf_counter() - t0) * 1000
        if status != 200:
            bad += 1
        if i >= a.warmup:
            ms.append(dt)
            sizes.add(len(body))
    conn.close()
    out = summary(ms)
    out.update({"non_200": bad, "bytes": max(sizes) if sizes else 0})
    print(json.dumps(out))


def main(argv):
    p = argparse.ArgumentParser(prog="load_client.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("soak")
    s.add_argument("--base", required=True)
    s.add_argument("--ws-path", required=True)
    s.add_argument("--sessions", type=int, default=5000)
    s.add_argument("--static-path", action="append", required=True)
    s.add_argument("--rps", type=float, default=1000)
    s.add_argument("--duration", type=float, default=300)
    s.add_argument("--interval", type=float, default=10)
    s.add_argument("--ramp-concurrency", type=int, default=64)
    s.add_argument("--http-conns", type=int, default=16)
    l = sub.add_parser("library")
    l.add_argument("--base", required=True)
    l.add_argument("--key", required=True)
    l.add_argument("--items", type=int, default=1000)
    l.add_argument("--concurrency", type=int, default=8)
    t = sub.add_parser("latency")
    t.add_argument("--url", required=True)
    t.add_argument("--key")
    t.add_argument("--n", type=int, default=500)
    t.add_argument("--warmup", type=int, default=50)
    a = p.parse_args(argv)
    fn = {"soak": cmd_soak, "library": cmd_library, "latency": cmd_latency}[a.cmd]
    asyncio.run(fn(a))


if __name__ == "__main__":
    main(sys.argv[1:])
