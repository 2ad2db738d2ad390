#!/usr/bin/env python3
"""Measuring client for bench/idle.sh. Standard library only; reads /proc, talks to nobody.

  measure --pid PID --seconds S [--interval I] [--json FILE]
      Reads voluntary_ctxt_switches and nonvoluntary_ctxt_switches of every thread of PID
      (/proc/PID/task/*/status, names from .../comm) at the start, every I seconds (default
      1) and at the end of S seconds. A thread's count over the window is its last reading
      minus its first; a thread that appears during the window counts from 0 (everything it
      did happened inside the window); a thread that disappears counts up to its last
      reading (what it did in its last interval is lost, so it is reported as `vanished`).
      Child processes of PID (app workers, renders) are listed, not counted: the target is
      about Porch's own process. Prints a table on stdout and, with --json, the raw numbers.

Wake-ups are voluntary context switches: a thread that blocks (epoll_wait, futex, a
timer) and is woken again counts one. Nonvoluntary ones are preemptions, reported for
completeness.
"""

import argparse
import json
import os
import sys
import time


def read_threads(pid):
    """{tid: (comm, voluntary, nonvoluntary)} for the threads of pid alive right now."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            vol = nonvol = None
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol = int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        nonvol = int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended between listdir and open
        if vol is not None and nonvol is not None:
            out[int(tid)] = (comm, vol, nonvol)
    return out


def children(pid):
    """Pids whose parent is pid (from /proc/*/stat)."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # The command name is in parentheses and may hold spaces; the ppid follows it.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(d))
    return kids


def measure(pid, seconds, interval):
    first = read_threads(pid)
    if first is None:
        sys.exit(f"idle_client: process {pid} does not exist")
    t0 = time.monotonic()
    kids_seen = set(children(pid))
    # tid -> [comm, first_vol, first_nonvol, last_vol, last_nonvol, new, alive]
    threads = {tid: [c, v, n, v, n, False, True] for tid, (c, v, n) in first.items()}
    deadline = t0 + seconds
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        time.sleep(min(interval, deadline - now))
        snap = read_threads(pid)
        if snap is None:
            sys.exit(f"idle_client: process {pid} ended during the measurement")
        kids_seen.update(children(pid))
        for tid, rec in threads.items():
            rec[6] = tid in snap
        for tid, (c, v, n) in snap.items():
            if tid in threads:
                rec = threads[tid]
                rec[0], rec[3], rec[4] = c, v, n
            else:
                threads[tid] = [c, 0, 0, v, n, True, True]
    elapsed = time.monotonic() - t0
    rows = []
    for tid, (c, v0, n0, v1, n1, new, alive) in sorted(threads.items()):
        rows.append({"tid": tid, "comm": c, "voluntary": v1 - v0, "nonvoluntary": n1 - n0, "new": new, "vanished": not alive})
    return {"pid": pid, "seconds": elapsed, "threads": rows, "children": sorted(kids_seen)}


def print_table(d):
    secs = d["seconds"]
    by_name = {}
    for r in d["threads"]:
        g = by_name.setdefault(r["comm"], {"threads": 0, "voluntary": 0, "nonvoluntary": 0, "new": 0, "vanished": 0})
        g["threads"] += 1
        g["voluntary"] += r["voluntary"]
        g["nonvoluntary"] += r["nonvoluntary"]
        g["new"] += r["new"]
        g["vanished"] += r["vanished"]
    total_v = sum(g["voluntary"] for g in by_name.values())
    total_n = sum(g["nonvoluntary"] for g in by_name.values())
    print("%-18s %7s %10s %8s %10s %8s %5s %8s" % ("thread", "threads", "voluntary", "vol/s", "nonvol", "nonvol/s", "new", "vanished"))
    for name, g in sorted(by_name.items(), key=lambda kv: (-kv[1]["voluntary"], kv[0])):
        print(
            "%-18s %7d %10d %8.2f %10d %8.2f %5d %8d"
            % (name, g["threads"], g["voluntary"], g["voluntary"] / secs, g["nonvoluntary"], g["nonvoluntary"] / secs, g["new"], g["vanished"])
        )
    n_threads = len(d["threads"])
    new = sum(r["new"] for r in d["threads"])
    gone = sum(r["vanished"] for r in d["threads"])
    print(
        "%-18s %7d %10d %8.2f %10d %8.2f %5d %8d"
        % ("TOTAL", n_threads, total_v, total_v / secs, total_n, total_n / secs, new, gone)
    )
    print()
    print("window %.1f s; wake-ups (voluntary switches) per second for the whole process: %.2f" % (secs, total_v / secs))
    if gone:
        print("note: %d thread(s) ended during the window; their last interval is not counted" % gone)
    if d["children"]:
        print("note: child processes existed during the window (not counted): %s" % " ".join(map(str, d["children"])))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--pid", type=int, required=True)
    m.add_argument("--seconds", type=float, required=True)
    m.add_argument("--interval", type=float, default=1.0)
    m.add_argument("--json")
    a = ap.parse_args()
    if a.seconds <= 0 or a.interval <= 0:
        sys.exit("idle_client: --seconds and --interval must be positive")
    d = measure(a.pid, a.seconds, a.interval)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(d, f, indent=1)
    print_table(d)


if __name__ == "__main__":
    main()
