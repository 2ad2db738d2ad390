#!/usr/bin/env python3
"""Save -> served timing for linked folders (driven by bench/watch.sh).

For each linked item: write a new marker into the folder's source file (the "save"), then
poll the item's page as a viewer until the marker shows; the time between is one sample.
Before each save the link must be idle (status "watching") so saves do not coalesce.

For the app and the notebook it also measures their own cost outside Porch, in the very
virtualenv Porch built: how long uvicorn takes from exec to its first answer, and how long
nbconvert takes to execute and export the notebook. Prints one JSON document.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request


def fail(msg):
    print(f"watch_client: {msg}", file=sys.stderr)
    sys.exit(1)


def stats(xs):
    if not xs:
        return None
    return {"n": len(xs), "median": statistics.median(xs), "min": min(xs), "max": max(xs), "all": xs}


class Api:
    def __init__(self, base, key):
        self.base, self.key = base.rstrip("/"), key

    def get(self, path, key=True, timeout=10):
        req = urllib.request.Request(self.base + path)
        if key:
            req.add_header("Authorization", f"Key {self.key}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (urllib.error.URLError, ConnectionError, socket.timeout) as e:
            return 0, str(e).encode()

    def link(self, guid):
        status, body = self.get(f"/__api__/porch/content/{guid}/link")
        if status != 200:
            fail(f"GET link of {guid}: {status} {body[:200]!r}")
        return json.loads(body)


def wait_idle(api, guid, timeout):
    """Until the link is watching and its last redeploy (if any) is over."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        link = api.link(guid)
        if link["status"] == "watching":
            return link
        time.sleep(0.05)
    fail(f"link of {guid} never became idle: {api.link(guid)}")


def save_and_time(api, guid, path, render, marker, timeout, poll):
    """Writes the file, returns seconds until the viewer's page shows `marker`."""
    content = render(marker)
    t0 = time.monotonic()
    with open(path, "w") as f:
        f.write(content)
    needle = marker.encode()
    while True:
        status, body = api.get(f"/content/{guid}/", key=False)
        if status == 200 and needle in body:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            fail(f"{marker} not served within {timeout}s (last status {status}); link: {api.link(guid)}")
        time.sleep(poll)


def static_page(marker):
    return f"<!doctype html><title>bench</title><h1>{marker}</h1>\n"


def fastapi_app(marker):
    return (
        "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n"
        f"@app.get('/')\ndef root():\n    return {{'marker': '{marker}'}}\n"
    )


def notebook(marker):
    nb = {
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                   "source": [f"print('{marker}')\n"]}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1)


# File saved, its content, and how often to poll the page: the rendered notebook is a
# ~280 KB page, and fetching it every 5 ms would take CPU from the render being timed.
KINDS = {
    "static": ("index.html", static_page, 0.005),
    "fastapi": ("app.py", fastapi_app, 0.005),
    "notebook": ("report.ipynb", notebook, 0.05),
}


def env_with(envs, module):
    """The Python of the environment under `envs` that can import `module`."""
    for name in sorted(os.listdir(envs)):
        py = os.path.join(envs, name, "bin", "python")
        if os.path.exists(py) and subprocess.run([py, "-c", f"import {module}"], capture_output=True).returncode == 0:
            return py
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def uvicorn_start(python, folder, work, tag):
    """Seconds from exec to the first HTTP answer of the app, run directly."""
    d = os.path.join(work, f"uvicorn-{tag}")
    shutil.copytree(folder, d)
    port = free_port()
    t0 = time.monotonic()
    p = subprocess.Popen([python, "-m", "uvicorn", "app:app", "--port", str(port)], cwd=d,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    r.read()
                return time.monotonic() - t0
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                if p.poll() is not None or time.monotonic() - t0 > 60:
                    fail("uvicorn did not start directly")
                time.sleep(0.005)
    finally:
        p.terminate()
        p.wait()


def nbconvert_time(python, folder, work, tag):
    """Seconds nbconvert takes to execute and export the notebook, run directly."""
    d = os.path.join(work, f"nbconvert-{tag}")
    shutil.copytree(folder, d)
    t0 = time.monotonic()
    r = subprocess.run([python, "-m", "nbconvert", "--to", "html", "--execute", "--KernelManager.transport=ipc", "--output-dir",
                        os.path.join(d, "out"), "--output", "index", "report.ipynb"], cwd=d, capture_output=True)
    if r.returncode != 0:
        fail(f"direct nbconvert failed: {r.stderr[-500:]!r}")
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--item", action="append", default=[], help="KIND:GUID:FOLDER")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--envs", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    api = Api(a.base, a.key)
    result = {}
    for spec in a.item:
        kind, guid, folder = spec.split(":", 2)
        fname, render, poll = KINDS[kind]
        path = os.path.join(folder, fname)
        # The direct run of the same content, alternated with the saves so that both see
        # the same machine load (a shared machine's load drifts within seconds).
        own_fn, py = None, None
        if kind == "fastapi":
            own_fn, py = uvicorn_start, env_with(a.envs, "uvicorn")
        elif kind == "notebook":
            own_fn, py = nbconvert_time, env_with(a.envs, "nbconvert")
        samples, own = [], []
        for i in range(a.warmup + a.reps):
            wait_idle(api, guid, a.timeout)
            time.sleep(0.5)  # let the previous redeploy's files settle; saves must not coalesce
            secs = save_and_time(api, guid, path, render, f"BENCH-{kind.upper()}-{i}-{time.time_ns()}", a.timeout, poll)
            direct = own_fn(py, folder, a.work, i) if own_fn and py else None
            if i >= a.warmup:
                samples.append(secs)
                if direct is not None:
                    own.append(direct)
            print(f"[bench] {kind} save {i + 1}/{a.warmup + a.reps}: {secs:.3f}s"
                  + (f" (direct {direct:.3f}s)" if direct is not None else ""), file=sys.stderr)
        link = wait_idle(api, guid, a.timeout)
        if link.get("last_result") != "success":
            fail(f"the last redeploy of {kind} failed: {link}")
        result[kind] = {"served": stats(samples), "own": stats(own)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
