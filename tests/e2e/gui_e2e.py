#!/usr/bin/env python3
"""WebDriver scenario for the real Porch window; run by tests/e2e/gui.sh.

Steps (each prints `ok - ...`; the first failure raises, screenshots the window and exits 1):
 1. launch `porch --data-dir D --bind 127.0.0.1 --port 0` through tauri-driver;
 2. the Library shows its empty state;
 3. `porch deploy <folder> --data-dir D` (the CLI, talking to the running app) publishes a
    folder, and its row appears without a reload (engine event -> porch://event -> refetch);
 4. the row's viewer URL serves the folder's page over HTTP;
 5. a drop: WebDriver cannot perform an OS-level file drop, so the script emits the
    `tauri://drag-enter` / `tauri://drag-drop` events that wry raises for a real drop. The
    UI's real `onDragDropEvent` handler receives them, shows the `preview_path` command's
    preview, and Deploy calls the real `stage_path` command then deploys through the API
    (`api_request`), following the task log; the result and a second row
    must appear, and the item page loads through the `api_request` command;
 5b. on the item page, a picture dropped on the picture area becomes the item's thumbnail
    (served to viewers at `…/__thumbnail__`) instead of a deploy; a file that is not a
    picture is refused with a note and stores nothing;
 6. dropping a path that does not exist shows an error note with a code and message;
 7. the tray icon, through a stand-in tray on the session bus (tests/e2e/tray_host.py, as a
    panel would use it): its menu offers Open Porch, the viewer URL, Pause sharing and Quit
    Porch, and has an icon; "Pause sharing" pauses sharing (`porch settings` says so) and
    unpauses it again. Closing the window (WM_DELETE_WINDOW, as a window manager sends it)
    closes it to the tray: the X window and its WebKit web process are gone, porch keeps
    serving (a content URL is fetched while closed); the tray's "Open Porch" builds a new
    window, which WebDriver switches to, and the Library there shows the same items; closed
    again, a second launch (`porch --data-dir D`) brings it back the same way; then it is
    closed to the tray again (needs
    python-xlib, pinned in tests/requirements.txt; without it the step is a counted skip,
    see `skip`);
 8. SIGTERM to the app with its window closed to the tray: the engine shuts down
    gracefully, the process exits and so do the processes it started (WebKit's).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.options import ArgOptions

TIMEOUT = 20.0
ROOT = Path(__file__).resolve().parents[2]


def skip(test: str, why: str) -> None:
    """The one skip mechanism (as tests/common/skip.rs): appends `<test>: <reason>` to
    $PORCH_SKIP_LOG, which .ci/test counts and prints; under CI=true raises unless `test` is
    listed with a reason in tests/allowed-skips.txt."""
    why = " ".join(why.split())
    print(f"SKIP: {test}: {why}", flush=True)
    log = os.environ.get("PORCH_SKIP_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{test}: {why}\n")
    if os.environ.get("CI") in ("true", "1"):
        allowed = set()
        listed = ROOT / "tests" / "allowed-skips.txt"
        if listed.is_file():
            for line in listed.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                name, sep, reason = line.partition(": ")
                if line and not line.startswith("#") and sep and reason.strip():
                    allowed.add(name.strip())
        if test not in allowed:
            raise AssertionError(f"{test}: cannot run under CI=true: {why} (not in tests/allowed-skips.txt)")


class Scenario:
    def __init__(self, args: argparse.Namespace) -> None:
        self.app = os.path.abspath(args.app)
        self.out = Path(args.out)
        self.work = Path(args.work)
        self.data = self.work / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.driver_url = args.driver
        self.driver: webdriver.Remote | None = None
        self.shots = 0

    # ---- helpers -------------------------------------------------------------------

    def ok(self, what: str) -> None:
        print(f"ok - {what}", flush=True)

    def wait_for(self, what: str, predicate, timeout: float = TIMEOUT):
        deadline = time.monotonic() + timeout
        last_err: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = predicate()
                if value:
                    return value
            except WebDriverException as err:  # element went stale during a re-render
                last_err = err
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}" + (f" ({last_err})" if last_err else ""))

    def find(self, css: str) -> list[dict]:
        """Snapshots matching elements in one script call. The UI re-renders whole screens,
        so element references go stale; plain values taken atomically do not."""
        assert self.driver is not None
        return self.driver.execute_script(
            """
            const pick = (el, sel) => el.querySelector(sel);
            return Array.from(document.querySelectorAll(arguments[0]), (el) => ({
              text: el.innerText,
              href: (el.matches('a') ? el : pick(el, '.card-url a') || pick(el, '[data-testid="deploy-url"]') || pick(el, 'a'))?.href ?? null,
              code: pick(el, '[data-testid="error-code"]')?.innerText ?? null,
              message: pick(el, '[data-testid="error-message"]')?.innerText ?? null,
            }));
            """,
            css,
        )

    def screenshot(self, name: str) -> Path:
        assert self.driver is not None
        self.shots += 1
        path = self.out / f"{self.shots:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        # The whole X screen too, to see the real native window (no window manager: undecorated).
        subprocess.run(["import", "-window", "root", str(path.with_suffix(".screen.png"))],
                       check=False, capture_output=True, timeout=10)
        print(f"   screenshot: {path}", flush=True)
        return path

    def emit(self, event: str, payload: dict) -> None:
        """Emits a Tauri event from the page, as wry does for native drag-drop."""
        assert self.driver is not None
        err = self.driver.execute_async_script(
            """
            const [event, payload, done] = arguments;
            window.__TAURI_INTERNALS__.invoke('plugin:event|emit', { event, payload })
              .then(() => done(null), (e) => done(String(e)));
            """,
            event,
            payload,
        )
        assert err is None, f"emitting {event} failed: {err}"

    def click(self, css: str) -> None:
        """Clicks the first element matching `css` (by script: re-renders make references stale)."""
        assert self.driver is not None
        found = self.driver.execute_script(
            "const el = document.querySelector(arguments[0]); if (el) el.click(); return !!el;", css)
        assert found, f"nothing to click at {css}"

    def porch_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [self.app, *args, "--data-dir", str(self.data)]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        print(f"   $ {' '.join(cmd)} -> {res.returncode}", flush=True)
        for line in (res.stdout + res.stderr).strip().splitlines()[-6:]:
            print(f"     | {line}", flush=True)
        return res

    def app_pid(self) -> int | None:
        """The PID of the GUI process launched for this run (matched on its unique data dir)."""
        me = str(self.data)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            args = [a.decode(errors="replace") for a in argv if a]
            if args and os.path.abspath(args[0]) == self.app and me in args and "deploy" not in args:
                return int(entry.name)
        return None

    @staticmethod
    def make_site(root: Path, name: str, marker: str) -> Path:
        site = root / name
        site.mkdir(parents=True)
        (site / "index.html").write_text(
            f"<!doctype html><html><head><title>{marker}</title></head>"
            f"<body><h1>{marker}</h1><p>Published by the GUI e2e.</p></body></html>\n",
            encoding="utf-8",
        )
        return site

    # ---- the scenario ------------------------------------------------------------

    def run(self) -> None:
        opts = ArgOptions()
        opts.set_capability("browserName", "wry")
        opts.set_capability("tauri:options", {
            "application": self.app,
            "args": ["--data-dir", str(self.data), "--bind", "127.0.0.1", "--port", "0"],
        })
        started = time.monotonic()
        self.driver = webdriver.Remote(command_executor=self.driver_url, options=opts)
        self.driver.set_script_timeout(30)
        self.ok(f"session up in {time.monotonic() - started:.1f}s")

        # 2. empty state
        self.wait_for("the empty state", lambda: self.find('[data-testid="empty-state"]'))
        assert self.driver.title == "Porch", f"document title is {self.driver.title!r}"
        text = self.find('[data-testid="empty-state"]')[0]["text"]
        assert "Drop a folder or file anywhere" in text, text
        urls = self.wait_for("the viewer URL in the header", lambda: self.find('[data-testid="viewer-urls"] a'))
        viewer = urls[0]["href"]
        assert viewer and viewer.startswith("http://127.0.0.1:"), viewer
        self.ok(f"empty Library shown; serving on {viewer}")
        self.screenshot("empty")

        # 3. deploy with the CLI; the row must appear live
        sites = self.work / "sites"
        first = self.make_site(sites, "e2e hello site", "Hello from the Porch e2e")
        res = self.porch_cli("deploy", str(first))
        assert res.returncode == 0, "porch deploy failed"
        # The CLI creates the item before its bundle goes live: wait for the row that links
        # to the viewer URL, not the "Not deployed" one that may show first.
        base = viewer.rstrip("/")
        rows = self.wait_for(
            "the deployed row to appear live",
            lambda: [r for r in self.find('[data-testid="content-row"]') if (r.get("href") or "").startswith(base)],
        )
        assert len(rows) == 1, f"{len(rows)} rows"
        row_text = rows[0]["text"]
        assert "e2e hello site" in row_text or "Hello from the Porch e2e" in row_text, row_text
        link = rows[0]["href"]
        assert link and link.startswith(viewer.rstrip("/")), f"viewer link {link!r} not under {viewer!r}"
        self.ok(f"row appeared live: {row_text!r} -> {link}")

        # 4. the viewer URL serves the page
        with urllib.request.urlopen(link, timeout=10) as resp:
            body = resp.read().decode("utf-8", errors="replace")
        assert resp.status == 200 and "Hello from the Porch e2e" in body, (resp.status, body[:200])
        self.ok("viewer URL serves the published page")
        self.screenshot("deployed-by-cli")

        # 5. a drop, through the webview's drag-drop events
        second = self.make_site(sites, "dropped-site", "Dropped on the Porch window")
        self.emit("tauri://drag-enter", {"paths": [str(second)], "position": {"x": 200, "y": 200}})
        self.wait_for("the drop overlay", lambda: self.find('[data-testid="drop-overlay"]'))
        overlay = self.find('[data-testid="drop-overlay"]')[0]["text"]
        assert "dropped-site" in overlay, overlay
        self.ok("drag-enter shows the drop overlay")
        self.screenshot("drag-over")
        self.emit("tauri://drag-drop", {"paths": [str(second)], "position": {"x": 200, "y": 200}})
        self.wait_for("the overlay to go", lambda: not self.find('[data-testid="drop-overlay"]'))
        # The preview comes from the `preview_path` command (engine op, nothing stored yet).
        preview = self.wait_for("the deploy preview", lambda: self.find('[data-testid="deploy-preview"]'))
        assert "Static site" in preview[0]["text"], preview[0]["text"]
        self.ok("the drop shows what Porch detected")
        self.screenshot("deploy-preview")
        self.click('[data-testid="deploy-go"]')
        # Deploying: `stage_path` stores the bundle, then the API deploys it as a task.
        done = self.wait_for("the deploy result", lambda: self.find('[data-testid="deploy-done"]'))
        dropped_link = done[0]["href"]
        self.ok(f"drop published through stage_path + the deploy API: {dropped_link}")
        self.wait_for("two rows", lambda: len(self.find('[data-testid="content-row"]')) == 2)
        with urllib.request.urlopen(dropped_link, timeout=10) as resp:
            body = resp.read().decode("utf-8", errors="replace")
        assert "Dropped on the Porch window" in body, body[:200]
        self.ok("the dropped folder is served at its viewer URL")
        # The item page reads through the `api_request` command (the engine's router in-process).
        self.click('[data-testid="deploy-to-item"]')
        title = self.wait_for("the item page", lambda: self.find('[data-testid="item-title"]'))
        self.ok(f"item page via api_request: {title[0]['text']!r}")
        self.picture_drop_sets_the_thumbnail(dropped_link)
        self.wait_for("the versions tab", lambda: self.find('[data-testid="tab-versions"]'))
        self.click('[data-testid="tab-versions"]')
        self.wait_for("one version row", lambda: self.find('[data-testid="version-row"]'))
        self.screenshot("item-versions")
        self.driver.execute_script("window.location.hash = '#/'")
        self.wait_for("the library again", lambda: len(self.find('[data-testid="content-row"]')) == 2)

        # 6. a drop that fails shows the error code and message
        missing = self.work / "does-not-exist"
        self.emit("tauri://drag-drop", {"paths": [str(missing)], "position": {"x": 200, "y": 200}})
        err = self.wait_for("an error note", lambda: self.find('[data-testid="error-note"]'))
        code, message = err[0]["code"], err[0]["message"]
        assert code and message, (code, message)
        self.ok(f"failed drop shows {code}: {message}")
        self.screenshot("drop-error")
        self.click('[data-testid="deploy-close"]')
        assert len(self.find('[data-testid="content-row"]')) == 2

        # 7. Settings: start at login writes and removes the XDG autostart entry (gui.sh
        #    points XDG_CONFIG_HOME at the work folder), and the address form says this
        #    run's --bind/--port win over the saved address.
        self.driver.execute_script("window.location.hash = '#/settings'")
        self.wait_for("the start-at-login switch", lambda: self.driver.execute_script(
            "const c = document.getElementById('autostart'); return !!c && !c.disabled;"))
        entry = Path(os.environ.get("XDG_CONFIG_HOME", str(self.work / "xdg-config"))) / "autostart" / "porch.desktop"
        assert not entry.exists(), f"{entry} exists before the switch"
        self.click("#autostart")
        self.wait_for("the autostart entry", entry.exists)
        text = entry.read_text()
        assert f'Exec="{self.app}"' in text and "[Desktop Entry]" in text, text
        self.ok(f"start at login wrote {entry}")
        self.wait_for("the listen-flags note", lambda: self.find('[data-testid="listen-flags"]'))
        self.screenshot("settings")
        self.click("#autostart")
        self.wait_for("the autostart entry to go", lambda: not entry.exists())
        self.ok("start at login off removed the entry")
        self.driver.execute_script("window.location.hash = '#/'")
        self.wait_for("the library again", lambda: len(self.find('[data-testid="content-row"]')) == 2)

        # 8. a deploy that fails in the engine raises a desktop notification (gui.sh runs a
        #    stand-in notification daemon on a private session bus and names its log)
        notes = Path(os.environ["PORCH_E2E_NOTIFICATIONS"])
        broken = self.work / "sites" / "broken-app"
        broken.mkdir(parents=True)
        (broken / "app.py").write_text("from flask import Flask\n\napp = Flask(__name__)\n")
        (broken / "requirements.txt").write_text("porch-e2e-no-such-package==0.0.1\n")
        self.emit("tauri://drag-drop", {"paths": [str(broken)], "position": {"x": 200, "y": 200}})
        self.wait_for("the broken app's preview", lambda: self.find('[data-testid="deploy-preview"]'))
        self.click('[data-testid="deploy-go"]')
        err = self.wait_for("the failed deploy's error", lambda: self.find('[data-testid="error-note"]'), timeout=180)
        self.ok(f"the deploy failed in the window: {err[0]['message']}")

        def notified():
            if not notes.exists():
                return None
            lines = [json.loads(line) for line in notes.read_text().splitlines() if line.strip()]
            # The cause (uv's last line), not only "uv pip install failed":
            return [n for n in lines if "the deploy failed" in n["body"] and "broken-app" in n["body"]
                    and "porch-e2e-no-such-package" in n["body"]]

        got = self.wait_for("a desktop notification of the failed deploy", notified, timeout=30)
        assert got[0]["summary"] == "Porch", got
        self.ok(f"desktop notification: {got[0]['summary']}: {got[0]['body']}")
        self.click('[data-testid="deploy-close"]')

        pid = self.app_pid()
        assert pid is not None, "cannot find the porch GUI process"

        # 9. closing the window closes it to the tray; the server keeps serving; a second
        #    launch opens it again with the same Library; then closed to the tray again
        closed_to_tray = self.close_to_tray_and_reopen(pid, link)

        # 10. graceful quit on SIGTERM (with the window closed to the tray); the processes
        #     porch started end with it
        children = _descendants(pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            state = _proc_state(pid)
            if state == "Z":  # exited; its parent (WebKitWebDriver) has not reaped it yet
                break
            time.sleep(0.1)
        assert _proc_state(pid) in (None, "Z"), f"porch (pid {pid}) still running 15s after SIGTERM"
        self.ok(f"porch (pid {pid}) exited after SIGTERM" + (" with its window closed to the tray" if closed_to_tray else ""))
        self.wait_for(f"the processes porch started ({children}) to exit",
                      lambda: all(_proc_state(c) in (None, "Z") for c in children))
        self.ok(f"the {len(children)} processes porch started exited with it")
        # The app's stderr reaches tauri-driver's log (gui.sh writes it to --out).
        log = self.out / "tauri-driver.log"
        if log.exists():
            text = log.read_text(errors="replace")
            assert "termination signal received" in text and "shutting down" in text, \
                "the app did not log a graceful shutdown"
            self.ok("the shell ran the graceful shutdown path")
        try:
            urllib.request.urlopen(viewer, timeout=2)
            raise AssertionError("the server still answers after quit")
        except OSError:
            self.ok("the server stopped listening")

    def drop_at(self, css: str, path: Path) -> None:
        """Emits a drop of `path` at the centre of the element `css`, in the physical pixels
        wry reports (CSS pixels times the device pixel ratio)."""
        assert self.driver is not None
        x, y = self.driver.execute_script(
            """
            const r = document.querySelector(arguments[0]).getBoundingClientRect();
            const s = window.devicePixelRatio || 1;
            return [(r.left + r.width / 2) * s, (r.top + r.height / 2) * s];
            """,
            css,
        )
        self.emit("tauri://drag-drop", {"paths": [str(path)], "position": {"x": x, "y": y}})

    def picture_drop_sets_the_thumbnail(self, viewer_link: str) -> None:
        """5b. On the item page, a picture dropped on the picture area becomes the item's
        thumbnail (the `thumbnail_from_path` command) instead of a new deploy; a file that is
        not a picture is refused with a note and changes nothing."""
        import struct
        import zlib

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        # A real 2x2 RGB PNG, written here so the test needs no image library.
        rows = b"".join(b"\x00" + b"\xd0\x40\x20" * 2 for _ in range(2))
        png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
               + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
        picture = self.work / "picture.png"
        picture.write_bytes(png)
        not_a_picture = self.work / "notes.png"
        not_a_picture.write_text("these are notes, not a picture\n", encoding="utf-8")
        thumb_url = viewer_link.rstrip("/") + "/__thumbnail__"

        self.wait_for("the picture area", lambda: self.find('[data-testid="thumb-drop"]'))
        self.drop_at('[data-testid="thumb-drop"]', not_a_picture)
        err = self.wait_for("the refused-picture note", lambda: self.find('[data-testid="error-note"]'))
        assert err[0]["message"], err
        # (A picture Chromium took of the new item may be there: thumbnails are `auto`.)
        with urllib.request.urlopen(thumb_url, timeout=10) as resp:
            assert resp.read() != not_a_picture.read_bytes(), "the refused file is served as the picture"
        self.ok(f"a dropped file that is not a picture is refused: {err[0]['message']!r}")

        self.drop_at('[data-testid="thumb-drop"]', picture)
        self.wait_for("the picture on the item page", lambda: self.driver.execute_script(
            "const i = document.querySelector('[data-testid=\"thumb-img\"]');"
            " return !!i && i.src.startsWith('data:image/png') && i.complete && i.naturalWidth === 2;"))
        with urllib.request.urlopen(thumb_url, timeout=10) as resp:
            body = resp.read()
            assert resp.status == 200 and resp.headers.get("Content-Type") == "image/png", (resp.status, resp.headers)
            assert body == png, "the viewers' thumbnail is not the dropped picture"
        # No Deploy dialog; the caller then finds the library still at two rows.
        assert not self.find('[data-testid="deploy-preview"]'), "the picture drop opened Deploy"
        self.ok("a picture dropped on the picture area becomes the thumbnail, not a deploy")
        self.screenshot("picture-dropped")

    def restart_applies_the_saved_address(self) -> None:
        """A second session started without --bind/--port: the window listens where the saved
        settings say, and Settings → "Restart Porch now" moves it to a newly saved port."""
        assert self.driver is not None
        try:
            self.driver.quit()  # the first session's app has quit
        except WebDriverException:
            pass
        first, second = _free_port(), _free_port()
        res = self.porch_cli("settings", "set", f"port={first}", "bind=local")
        assert res.returncode == 0, "porch settings set failed"
        opts = ArgOptions()
        opts.set_capability("browserName", "wry")
        opts.set_capability("tauri:options", {"application": self.app, "args": ["--data-dir", str(self.data)]})
        self.driver = webdriver.Remote(command_executor=self.driver_url, options=opts)
        self.driver.set_script_timeout(30)
        urls = self.wait_for("the viewer URL in the header", lambda: self.find('[data-testid="viewer-urls"] a'))
        assert urls[0]["href"] == f"http://127.0.0.1:{first}/", urls[0]["href"]
        self.ok(f"started without flags, the window listens on the saved address 127.0.0.1:{first}")
        before = self.app_pid()
        assert before is not None, "cannot find the porch GUI process"

        self.driver.execute_script("window.location.hash = '#/settings'")
        self.wait_for("the port field", lambda: self.find('[data-testid="set-port"]'))
        self.driver.execute_script(
            "const i = document.querySelector('[data-testid=\"set-port\"]'); i.value = arguments[0];"
            "i.dispatchEvent(new Event('input', { bubbles: true }));", str(second))
        self.click('[data-testid="save-address"]')
        self.wait_for("the restart offer", lambda: self.find('[data-testid="restart-now"]'))
        self.screenshot("restart-offer")
        self.click('[data-testid="restart-now"]')

        def serving_on_second():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{second}/", timeout=2) as resp:
                    return resp.status == 200
            except OSError:
                return False

        self.wait_for(f"Porch to come back on port {second}", serving_on_second, timeout=60)
        assert _proc_state(before) in (None, "Z"), f"the first process (pid {before}) still runs"
        after = self.wait_for("the restarted process", self.app_pid)
        assert after != before
        self.ok(f"Restart Porch now: pid {before} quit, pid {after} serves on 127.0.0.1:{second}")
        os.kill(after, signal.SIGTERM)
        self.wait_for("the restarted process to quit", lambda: _proc_state(after) in (None, "Z"))
        self.ok("the restarted process quit on SIGTERM")

    def close_to_tray_and_reopen(self, pid: int, url: str) -> bool:
        """Step 9; returns whether it ran (False: a counted skip without python-xlib)."""
        assert self.driver is not None
        try:
            from Xlib import X, display, protocol
        except ImportError:
            skip("gui_e2e_close_to_tray_and_reopen", "python-xlib is not installed")
            return False
        d = display.Display()
        net_pid = d.intern_atom("_NET_WM_PID")
        protocols = d.intern_atom("WM_PROTOCOLS")
        delete = d.intern_atom("WM_DELETE_WINDOW")

        def app_windows():
            # The window belongs to the desktop shell, a child of the porch process.
            ours = {pid, *_descendants(pid)}
            found = []
            for win in d.screen().root.query_tree().children:
                try:
                    prop = win.get_full_property(net_pid, X.AnyPropertyType)
                    attrs = win.get_attributes()
                except Exception:
                    continue
                if prop is not None and ours & set(prop.value) and win.get_wm_name() == "Porch":
                    found.append((win, attrs.map_state))
            return found

        def web_processes():
            return [c for c in _descendants(pid) if _program(c) == "WebKitWebProcess" and _proc_state(c) not in (None, "Z")]

        def close_window() -> None:
            wins = self.wait_for("the Porch X window", lambda: [w for w, state in app_windows() if state == X.IsViewable])
            win = wins[0]
            event = protocol.event.ClientMessage(window=win, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0]))
            win.send_event(event, event_mask=X.NoEventMask)
            d.flush()
            # Closed to the tray means destroyed, not hidden: no X window of porch is left.
            self.wait_for("the window to be destroyed (not only hidden)",
                          lambda: not any(w.id == win.id for w, _ in app_windows()))
            self.wait_for("the webview's WebKitWebProcess to exit", lambda: not web_processes())
            assert _proc_state(pid) not in (None, "Z"), "porch exited when its window was closed"

        def reopened(how: str) -> None:
            self.wait_for("a new Porch window", lambda: [w for w, state in app_windows() if state == X.IsViewable])
            self.wait_for("a web process for the new window", web_processes)
            # WebDriver: the old browsing context is gone; the new webview is one to switch to.
            handles = self.wait_for("the new window's browsing context", lambda: self.driver.window_handles)
            self.driver.switch_to.window(handles[-1])
            self.wait_for("the Library in the new window", lambda: len(self.find('[data-testid="content-row"]')) == len(rows_before))
            rows_after = sorted((r["href"] or "", r["text"]) for r in self.find('[data-testid="content-row"]'))
            assert [h for h, _ in rows_after] == [h for h, _ in rows_before], (rows_before, rows_after)
            self.ok(f"reopened {how}: the Library shows the same {len(rows_after)} items")

        rows_before = sorted((r["href"] or "", r["text"]) for r in self.find('[data-testid="content-row"]'))
        # The two deployed sites and the failed deploy's item (not deployed).
        assert len(rows_before) == 3, rows_before
        assert web_processes(), "no WebKitWebProcess runs for the open window"

        # The tray icon, as a panel shows it.
        items = os.environ.get("PORCH_E2E_TRAY_ITEMS")
        assert items, "PORCH_E2E_TRAY_ITEMS is not set (gui.sh starts the stand-in tray)"

        def tray(*args: str) -> str:
            res = subprocess.run([sys.executable, str(ROOT / "tests/e2e/tray_host.py"), args[0], items, *args[1:]],
                                 capture_output=True, text=True, timeout=30)
            assert res.returncode == 0, f"tray_host.py {args[0]}: {res.stderr or res.stdout}"
            return res.stdout

        def menu() -> dict[str, dict]:
            return {e["label"]: e for e in map(json.loads, tray("menu").splitlines())}

        entries = self.wait_for("Porch's tray icon to register", lambda: os.path.exists(items) and menu())
        for label in ("Open Porch", "Pause sharing", "Quit Porch"):
            assert label in entries, f"the tray menu has no {label!r}: {list(entries)}"
        assert any(label.startswith("http://") for label in entries), f"no viewer URL in the tray menu: {list(entries)}"
        assert entries["Pause sharing"]["checked"] is False, entries["Pause sharing"]
        assert tray("icon").split(), "the tray icon has no picture"

        def sharing_paused() -> bool:
            res = self.porch_cli("settings", "show")
            assert res.returncode == 0, res
            return "Sharing with other computers is paused" in res.stdout

        assert not sharing_paused()
        tray("click", "Pause sharing")
        self.wait_for("sharing to pause from the tray", sharing_paused)
        assert menu()["Pause sharing"]["checked"] is True
        tray("click", "Pause sharing")
        self.wait_for("sharing to resume from the tray", lambda: not sharing_paused())
        self.ok(f"the tray icon: {sorted(entries)}; Pause sharing pauses and resumes")

        close_window()
        # Serving on while closed: the page and a content URL from the engine, fresh.
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read().decode("utf-8", errors="replace")
            assert resp.status == 200 and "Hello from the Porch e2e" in body, (resp.status, body[:200])
        self.ok("closing the window destroys it and its web process; porch keeps serving")
        self.screenshot_screen("closed-to-tray")

        # The tray's "Open Porch" opens the window again.
        tray("click", "Open Porch")
        reopened("from the tray's Open Porch")
        self.screenshot("reopened")
        close_window()

        # A second launch on the same data folder does the same; this process then exits
        # with status 0 once the running Porch has been told (the single-instance name).
        res = self.porch_cli()
        assert res.returncode == 0, "the second launch failed"
        reopened("by a second launch")

        close_window()
        self.ok("closed to the tray again")
        d.close()
        return True

    def screenshot_screen(self, name: str) -> None:
        """The whole X screen only (there is no webview to ask for a screenshot)."""
        self.shots += 1
        path = self.out / f"{self.shots:02d}-{name}.screen.png"
        subprocess.run(["import", "-window", "root", str(path)], check=False, capture_output=True, timeout=10)
        print(f"   screenshot: {path}", flush=True)

    def fail_screenshot(self) -> None:
        if self.driver is None:
            return
        try:
            self.screenshot("failure")
            print("   page text:", self.driver.find_element(By.TAG_NAME, "body").text[:1000], flush=True)
        except Exception as err:  # the app may be gone; the failure itself matters more
            print(f"   (no failure screenshot: {err})", flush=True)

    def close(self) -> None:
        if self.driver is not None:
            try:
                self.driver.quit()
            except Exception:
                pass  # the app already exited
        # A process the restart started is nobody's child here: stop it by its data folder.
        pid = self.app_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, their children, ...)."""
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], list(kids.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _program(pid: int) -> str:
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return ""
    return os.path.basename(argv0.decode(errors="replace"))


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app", required=True, help="the porch GUI binary")
    parser.add_argument("--driver", required=True, help="tauri-driver URL")
    parser.add_argument("--work", required=True, help="scratch directory (data dir, fixture sites)")
    parser.add_argument("--out", required=True, help="where screenshots go")
    args = parser.parse_args()
    scenario = Scenario(args)
    try:
        scenario.run()
        scenario.restart_applies_the_saved_address()
    except Exception as err:
        print(f"not ok - {type(err).__name__}: {err}", flush=True)
        scenario.fail_screenshot()
        return 1
    finally:
        scenario.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
