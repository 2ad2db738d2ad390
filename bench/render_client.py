#!/usr/bin/env python3
"""Measuring client for bench/render.sh. Standard library only; loopback only.

Sub-commands (each prints one JSON object on stdout):

  overhead --base URL --key KEY --guid GUID --python PY --bundle DIR --work DIR
           [--reps N] [--warmup W]
      W unreported, then N reported interleaved pairs of
        porch:  POST /__api__/v1/content/GUID/render, then GET /__api__/v1/tasks/ID?wait=1
                until the task is finished; wall time from sending the POST to the answer
                that says finished (the task must have succeeded);
        direct: the command Porch runs for jupyter-static content,
                PY -m nbconvert --to html --execute --KernelManager.transport=ipc --output-dir OUT --output index NB,
                in a fresh copy of DIR (PY's bin dir first on PATH, as Porch does);
                wall time from spawn to exit (the copy is made before the clock starts).
      Reports both series, their medians and the overhead of the medians in percent.

  sched --base URL --key KEY --plan FILE [--poll S] [--grace S] [--log FILE]
      FILE has one "GUID PLANNED_EPOCH" line per scheduled run. From 2 s before each
      planned time, GET .../renders of that item every S seconds (default 0.05) until a
      render with trigger "schedule" appears; "seen" is when that answer arrived. Then it
      waits until every such render has finished, and reads its started_time (RFC 3339,
      whole seconds, Porch's clock), and marks runs queued behind another scheduled render
      (it had not finished at the planned time). With --log, Porch's own "scheduled render" log lines
      (sub-second timestamps) give a third view, when the scheduler fired.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request


def fail(msg):
    print(f"render_client: error: {msg}", file=sys.stderr)
    sys.exit(1)


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def stats(xs):
    return {
        "n": len(xs),
        "min": min(xs),
        "median": statistics.median(xs),
        "p95": pct(xs, 95),
        "max": max(xs),
        "all": xs,
    }


def epoch(rfc3339):
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


class Api:
    def __init__(self, base, key):
        self.base = base.rstrip("/")
        self.key = key

    def call(self, method, path, body=None, timeout=70):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + "/__api__" + path, data=data, method=method)
        req.add_header("Authorization", "Key " + self.key)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            fail(f"{method} {path}: HTTP {e.code}: {e.read()[:300]!r}")
        except OSError as e:
            fail(f"{method} {path}: {e}")
        return json.loads(raw) if raw else None


# ------------------------------------------------------------- overhead ----
def porch_render(api, guid):
    t0 = time.perf_counter()
    task_id = api.call("POST", f"/v1/content/{guid}/render")["task_id"]
    first = 0
    while True:
        t = api.call("GET", f"/v1/tasks/{task_id}?wait=1&first={first}")
        if t.get("finished"):
            secs = time.perf_counter() - t0
            if t.get("error") or t.get("code", 0) != 0:
                tail = "\n".join(t.get("output", [])[-10:])
                fail(f"render task {task_id} failed: {t.get('error')}\n{tail}")
            return secs
        first = t.get("last", first)
        if time.perf_counter() - t0 > 600:
            fail(f"render task {task_id} did not finish within 600 s")


def direct_render(python, bundle, work, n):
    run = os.path.join(work, f"direct-{n}")
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(bundle, os.path.join(run, "bundle"))
    out = os.path.join(run, "output")
    os.makedirs(out)
    nb = sorted(f for f in os.listdir(bundle) if f.endswith(".ipynb"))[0]
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(python) + os.pathsep + env.get("PATH", "")
    cmd = [python, "-m", "nbconvert", "--to", "html", "--execute", "--KernelManager.transport=ipc", "--output-dir", out, "--output", "index", nb]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=os.path.join(run, "bundle"), env=env, stdin=subprocess.DEVNULL, capture_output=True)
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        fail(f"direct nbconvert failed ({p.returncode}): {p.stderr.decode(errors='replace')[-800:]}")
    if not os.path.isfile(os.path.join(out, "index.html")):
        fail("direct nbconvert wrote no index.html")
    shutil.rmtree(run, ignore_errors=True)
    return secs


def cmd_overhead(a):
    api = Api(a.base, a.key)
    porch, direct = [], []
    for i in range(a.warmup + a.reps):
        p = porch_render(api, a.guid)
        d = direct_render(a.python, a.bundle, a.work, i)
        tag = "warm-up" if i < a.warmup else f"pair {i - a.warmup + 1}/{a.reps}"
        print(f"[bench] {tag}: porch {p:.3f} s, direct {d:.3f} s", file=sys.stderr)
        if i >= a.warmup:
            porch.append(round(p, 4))
            direct.append(round(d, 4))
    mp, md = statistics.median(porch), statistics.median(direct)
    print(json.dumps({
        "porch": stats(porch),
        "direct": stats(direct),
        "overhead_pct": round((mp - md) / md * 100.0, 2),
        "overhead_s": round(mp - md, 4),
    }))


# ---------------------------------------------------------------- sched ----
ANSI = re.compile(r"\x1b\[[0-9;]*m")
FIRED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?)\s.*scheduled render.*content=(\S+)")


def fired_times(path):
    """guid -> first 'scheduled render' timestamp in Porch's log (epoch seconds)."""
    out = {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = FIRED.match(ANSI.sub("", line))
                if m and m.group(2) not in out:
                    ts = m.group(1)
                    if not ts.endswith("Z"):
                        ts += "Z"
                    try:
                        out[m.group(2)] = epoch(ts)
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


def sched_rows(api, guid):
    return [r for r in api.call("GET", f"/v1/content/{guid}/renders") if r.get("trigger") == "schedule"]


def cmd_sched(a):
    api = Api(a.base, a.key)
    plan = []
    with open(a.plan) as f:
        for line in f:
            if line.strip():
                g, t = line.split()
                plan.append((g, int(t)))
    seen = {}
    deadline = max(t for _, t in plan) + a.grace
    while len(seen) < len(plan) and time.time() < deadline:
        tick = time.time()
        for g, t in plan:
            if g in seen or tick < t - 2 or tick > t + a.grace:
                continue
            rows = sched_rows(api, g)
            if rows:
                seen[g] = time.time()
        time.sleep(max(0.0, a.poll - (time.time() - tick)))
    # Let the scheduled renders finish, then read Porch's record of them.
    rows = {}
    end = time.time() + a.grace
    while time.time() < end:
        rows = {g: sched_rows(api, g) for g, _ in plan}
        if all(r and all(x.get("status") != "running" for x in r) for r in rows.values()):
            break
        time.sleep(0.5)
    fired = fired_times(a.log) if a.log else {}
    runs = []
    for i, (g, t) in enumerate(plan):
        r = sorted(rows.get(g) or [], key=lambda x: x.get("started_time", ""))
        first = r[0] if r else {}
        started = first.get("started_time")
        finished = first.get("finished_time")
        runs.append({
            "i": i + 1,
            "guid": g,
            "planned": t,
            "scheduled_renders": len(r),
            "status": first.get("status"),
            "started_time": started,
            "api_delay_s": None if not started else round(epoch(started) - t, 3),
            "seen_delay_s": None if g not in seen else round(seen[g] - t, 3),
            "fired_delay_s": None if g not in fired else round(fired[g] - t, 3),
            "render_s": None if not (started and finished) else round(epoch(finished) - epoch(started), 3),
        })
    # A run is "queued" when another scheduled render still held the render slot (one
    # render at a time) at its planned time: finished_time (truncated to the second) is at
    # or after the planned second. Its delay then measures that render, not the scheduler.
    spans = [(g, epoch(x["started_time"]), epoch(x["finished_time"]))
             for g, xs in rows.items() for x in xs if x.get("started_time") and x.get("finished_time")]
    for r in runs:
        r["queued"] = any(g != r["guid"] and s <= r["planned"] <= f for g, s, f in spans)
    summary = {}
    for k in ("api_delay_s", "seen_delay_s", "fired_delay_s"):
        xs = [r[k] for r in runs if r[k] is not None]
        summary[k] = stats(xs) if xs else None
    print(json.dumps({"runs": runs, "summary": summary, "poll_s": a.poll}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = ap.add_subparsers(dest="cmd", required=True)
    o = sp.add_parser("overhead")
    for k in ("--base", "--key", "--guid", "--python", "--bundle", "--work"):
        o.add_argument(k, required=True)
    o.add_argument("--reps", type=int, default=5)
    o.add_argument("--warmup", type=int, default=1)
    s = sp.add_parser("sched")
    for k in ("--base", "--key", "--plan"):
        s.add_argument(k, required=True)
    s.add_argument("--poll", type=float, default=0.05)
    s.add_argument("--grace", type=float, default=60.0)
    s.add_argument("--log")
    a = ap.parse_args()
    {"overhead": cmd_overhead, "sched": cmd_sched}[a.cmd](a)


if __name__ == "__main__":
    main()
