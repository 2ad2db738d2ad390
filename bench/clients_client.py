"""Times publishing-client operations against a running Porch; prints one JSON object.

Run by bench/clients.sh with PORCH_URL, PORCH_KEY, BENCH_REPS. Each operation is a public
call of the real client: pins (`board_connect`, no cache, so reads go to the server) and
posit-sdk (create an item, upload a bundle, deploy, wait for the task).
"""

import io
import json
import os
import sys
import tarfile
import time

import pandas as pd
import pins
from posit import connect

url, key, reps = os.environ["PORCH_URL"], os.environ["PORCH_KEY"], int(os.environ["BENCH_REPS"])
out = {}


def timed(name, fn):
    times = []
    for i in range(reps):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    out[name] = times


board = pins.board_connect(server_url=url, api_key=key, cache=None)
pin = f"{board.fs.api.get_user()['username']}/bench-pin"
df = pd.DataFrame({"x": list(range(1000)), "y": [f"row {i}" for i in range(1000)]})
timed("pins pin_write (1000-row csv)", lambda i: board.pin_write(df.assign(i=i), pin, type="csv"))
timed("pins pin_read (latest)", lambda i: board.pin_read(pin))
timed("pins pin_versions", lambda i: board.pin_versions(pin))

client = connect.Client(url, key)


def site(i):
    page = f"<h1>bench {i}</h1>".encode()
    manifest = json.dumps({"version": 1, "metadata": {"appmode": "static", "primary_html": "index.html"}}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in [("manifest.json", manifest), ("index.html", page)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


item = client.content.create(name="bench-sdk")


def sdk_deploy(i):
    task = item.bundles.create(site(i)).deploy()
    task.wait_for()
    assert task.error_code == 0, task.error_message


timed("posit-sdk bundles.create + deploy + wait_for", sdk_deploy)
json.dump(out, sys.stdout)
