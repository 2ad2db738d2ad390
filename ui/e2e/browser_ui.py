#!/usr/bin/env python3
"""Browser-mode check of the UI (no Tauri): ui/dist in a real WebKitGTK browser
(MiniBrowser via WebKitWebDriver, under Xvfb) against a fake engine API, proving the
platform fallbacks STYLE 1.7 asks for:

 1. GET /__api__/v1/content answers 401 -> the "needs an API key" state, with its code;
 2. it answers a list -> the table shows title, type and viewer URL;
 3. the list grows -> the new row appears without a reload (the browser fallback polls);
 4. files dropped in the browser -> an `Unsupported` error banner (a browser has no paths).

Usage: npm --prefix ui run build && python3 ui/e2e/browser_ui.py [screenshot-dir]
Needs Xvfb, webkit2gtk-driver (WebKitWebDriver, MiniBrowser) and selenium.
Prints PASS/FAIL last; exit status non-zero on failure.

(Chromium + Playwright would be the usual route, but on the development VM every
Chromium run took down the whole process tree, so this uses the WebKit stack that the
desktop e2e already relies on.)
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from selenium import webdriver

DIST = Path(__file__).resolve().parent.parent / "dist"
MINIBROWSER = os.environ.get("MINIBROWSER", "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser")

# What the fake API answers; the scenario swaps it.
API: dict = {"status": 401, "body": {"code": 30, "error": "a valid API key is required (Authorization: Key <key>)", "payload": None}}


class Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(DIST), **kwargs)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path.split("?")[0] == "/__api__/v1/content":
            body = json.dumps(API["body"]).encode()
            self.send_response(API["status"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


def item(n: int, title: str, origin: str) -> dict:
    guid = f"00000000-0000-4000-8000-{n:012d}"
    return {
        "guid": guid, "id": str(n), "name": f"item-{n}", "title": title, "description": "",
        "access_type": "all", "app_mode": "static" if n == 1 else "quarto-static", "content_category": "",
        "bundle_id": str(n), "created_time": "2026-11-29T10:00:00Z", "last_deployed_time": "2026-11-29T10:00:00Z",
        "content_url": f"{origin}/content/{guid}/", "dashboard_url": f"{origin}/connect/#/apps/{n}",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="porch-ui-e2e."))
    out.mkdir(parents=True, exist_ok=True)
    if not (DIST / "index.html").exists():
        print("FAIL: ui/dist is missing; run `npm --prefix ui run build` first")
        return 2

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"

    procs: list[subprocess.Popen] = []
    driver = None
    failed = False
    try:
        rfd, wfd = os.pipe()
        procs.append(subprocess.Popen(["Xvfb", "-displayfd", str(wfd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                      pass_fds=(wfd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        os.close(wfd)
        with os.fdopen(rfd) as f:
            display = f.readline().strip()
        env = {**os.environ, "DISPLAY": f":{display}"}
        port = free_port()
        procs.append(subprocess.Popen(["WebKitWebDriver", f"--port={port}"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for("WebKitWebDriver", lambda: _connects(port))

        opts = webdriver.WebKitGTKOptions()
        opts.binary_location = MINIBROWSER
        opts.add_argument("--automation")
        driver = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=opts)
        driver.set_window_size(960, 640)

        def q(css: str) -> list[dict]:
            return driver.execute_script(
                """return Array.from(document.querySelectorAll(arguments[0]), (el) => ({
                     text: el.innerText,
                     code: el.querySelector('[data-testid="error-code"]')?.innerText ?? null }));""",
                css,
            )

        driver.get(origin + "/")
        err = wait_for("the 401 state", lambda: q('[data-testid="load-error"]'))[0]["text"]
        assert "Unauthorized" in err and "API key" in err, err
        print("ok - 401 shows the needs-a-key state", flush=True)
        driver.save_screenshot(str(out / "browser-401.png"))

        API.update(status=200, body=[item(1, "Sales dashboard", origin)])
        driver.refresh()
        row = wait_for("a row", lambda: q('[data-testid="content-row"]'))[0]["text"]
        assert "Sales dashboard" in row and "Static site" in row and "/content/" in row, row
        print("ok - the list renders title, type and viewer URL", flush=True)

        API.update(body=[item(1, "Sales dashboard", origin), item(2, "Quarterly report", origin)])
        wait_for("the second row without a reload", lambda: len(q('[data-testid="content-row"]')) == 2, timeout=15)
        print("ok - a new item appears without a reload", flush=True)

        driver.execute_script(
            """const dt = new DataTransfer();
               dt.items.add(new File(['<h1>hi</h1>'], 'index.html', { type: 'text/html' }));
               for (const type of ['dragenter', 'dragover', 'drop'])
                 window.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));"""
        )
        banner = wait_for("an error banner", lambda: q('[data-testid="banner"][data-kind="error"]'))[0]
        assert banner["code"] == "Unsupported", banner
        print(f"ok - a browser drop explains itself: {banner['text'].strip()!r}", flush=True)
        driver.save_screenshot(str(out / "browser-list.png"))
    except Exception as e:
        failed = True
        print(f"not ok - {type(e).__name__}: {e}", flush=True)
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:
                pass
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        server.shutdown()
    print("FAIL: browser UI check" if failed else f"PASS: browser UI check (screenshots in {out})")
    return 1 if failed else 0


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
