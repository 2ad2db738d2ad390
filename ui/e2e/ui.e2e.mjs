#!/usr/bin/env node
// End-to-end test of the web UI in real Chromium (Debian's, driven by playwright-core)
// against a real headless `porch serve` that embeds the built UI at /__porch__/.
//
// Scenario: sign in with a key → empty library → deploy a static site by a synthesized
// drop (preview, edit name/title, live task log, URL) → open it as a viewer → promote it to a
// second Porch acting as the Connect server (save the server, live log, report) → a live
// library update from the event stream → redeploy and roll back a version → an error for
// an unrecognisable drop → a page chosen as the entry point in the preview (and an app mode
// the files cannot run refused inline) → a FastAPI app by drop (deploy log, viewer, live process log,
// processes with the Python helper and its memory, an environment variable) → a notebook by drop with a schedule edited and its
// next runs previewed → an API key created in Settings and used with `rsconnect` → key
// revoked → server settings saved (address, remote publishing, runtime defaults), the Python
// helpers listed server-wide → the Reachability panel's checks.
// Screenshots of each screen go to $E2E_OUT (light, dark and narrow).
//
// Env: PORCH_BIN     the porch binary (built after `npm run build`, so it embeds ui/dist)
//      CHROMIUM      default /usr/bin/chromium
//      PORCH_TEST_VENV  venv with rsconnect (tests/requirements.txt)
//      PORCH_UV_CACHE_DIR  uv cache shared with the cargo tests (default target/tmp/uv-cache)
//      UV_CONSTRAINT the pins for environments Porch builds (default tests/constraints.txt)
//      E2E_OUT       screenshot folder (default a fresh /tmp/porch-ui-e2e.XXXX)
//      CI=true       steps that need uv or rsconnect fail instead of being skipped
//      PORCH_SKIP_LOG  file a skipped step appends `<test>: <reason>` to (set by .ci/test)
// Exit status non-zero on any failure; the last line says PASS or FAIL.

import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PORCH = process.env.PORCH_BIN ?? join(ROOT, "target/debug/porch");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const OUT = process.env.E2E_OUT ?? mkdtempSync(join(tmpdir(), "porch-ui-e2e."));
const VENV = process.env.PORCH_TEST_VENV ?? join(ROOT, ".venv-tests");
const UV_CACHE = process.env.PORCH_UV_CACHE_DIR ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, "target"), "tmp/uv-cache");
const STRICT = process.env.CI === "true";
const LONG = 300_000; // environment builds (uv, first run) on a busy 2-core machine
mkdirSync(OUT, { recursive: true });

const work = mkdtempSync(join(tmpdir(), "porch-ui-e2e-work."));
const DATA_DIR = join(work, "data");
const dataDir = DATA_DIR;
let server = null;
let target = null;
let browser = null;
let lastPage = null;
let step = "setup";
/** Whether the FastAPI step showed its Python helper (the Settings step then looks for it too). */
let helpersShown = false;

function log(msg) {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

// The one skip mechanism (as tests/common/skip.rs): a line `<test>: <reason>` appended to
// $PORCH_SKIP_LOG, which .ci/test counts and prints; under CI=true a failure unless the test
// is listed with a reason in tests/allowed-skips.txt.
function allowedSkips() {
  const file = join(ROOT, "tests/allowed-skips.txt");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#") && l.includes(": ") && l.slice(l.indexOf(": ") + 2).trim())
    .map((l) => l.slice(0, l.indexOf(": ")).trim());
}

function skipOrFail(test, why) {
  const reason = why.replace(/[\r\n]+/g, " ").trim();
  log(`SKIP: ${test}: ${reason}`);
  if (process.env.PORCH_SKIP_LOG) appendFileSync(process.env.PORCH_SKIP_LOG, `${test}: ${reason}\n`);
  if (STRICT && !allowedSkips().includes(test)) throw new Error(`${test}: cannot run under CI=true: ${reason} (not in tests/allowed-skips.txt)`);
}

function have(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

async function startPorch(dataDir = DATA_DIR, logName = "porch.log") {
  if (!existsSync(PORCH)) throw new Error(`no porch binary at ${PORCH} (set PORCH_BIN)`);
  const key = spawnSync(PORCH, ["key", "new", "--name", "e2e", "--data-dir", dataDir], { encoding: "utf8" });
  if (key.status !== 0) throw new Error(`porch key new failed: ${key.stderr}`);
  const child = spawn(PORCH, ["serve", "--data-dir", dataDir, "--bind", "127.0.0.1", "--port", "0"], {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "info", PORCH_UV_CACHE_DIR: UV_CACHE, UV_CONSTRAINT: process.env.UV_CONSTRAINT ?? join(ROOT, "tests/constraints.txt") },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so cleanup reaches every child it started
  });
  const logFile = join(OUT, logName);
  let logged = "";
  child.stderr.on("data", (d) => {
    logged += d;
    writeFileSync(logFile, logged);
  });
  const base = await new Promise((res, rej) => {
    let buf = "";
    child.stdout.on("data", (d) => {
      buf += d;
      const m = buf.match(/^Listening on (http:\/\/[^/\s]+)\//m);
      if (m) res(m[1]);
    });
    child.on("exit", (code) => rej(new Error(`porch serve exited with ${code}; log in ${logFile}`)));
  });
  return { child, base, key: key.stdout.trim() };
}

async function api(method, path, key, body, base = server.base) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Key ${key}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

/** Dispatches a real drag-and-drop sequence carrying `files` ({name, text}) onto the window. */
async function dropFiles(page, files) {
  await page.evaluate((files) => {
    const dt = new DataTransfer();
    for (const f of files) dt.items.add(new File([f.text], f.name));
    const target = document.querySelector("main") ?? document.body;
    for (const type of ["dragenter", "dragover", "drop"]) {
      target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  }, files);
}

const fileOf = (rel) => ({ name: rel.split("/").pop(), text: readFileSync(join(ROOT, rel), "utf8") });

async function shot(page, name) {
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: false });
  log(`screenshot ${name}.png`);
}

/** The preview form, then Deploy, then the result; returns the viewer URL. */
async function deployDrop(page, files, { name, title, expectType, shotPrefix }) {
  await dropFiles(page, files);
  const form = page.getByTestId("deploy-preview");
  await form.waitFor({ timeout: 60_000 });
  if (expectType) assert((await form.locator('[data-fact="Type"]').textContent()).includes(expectType), `detected type ${expectType}`);
  await page.getByTestId("deploy-name").fill(name);
  if (title) await page.getByTestId("deploy-title-input").fill(title);
  if (shotPrefix) await shot(page, `${shotPrefix}-preview`);
  await page.getByTestId("deploy-go").click();
  const done = page.getByTestId("deploy-done");
  const failed = page.getByTestId("error-note");
  await Promise.race([done.waitFor({ timeout: LONG }), failed.waitFor({ timeout: LONG })]);
  if (await failed.isVisible()) throw new Error(`deploy of ${name} failed: ${await failed.textContent()}`);
  if (shotPrefix) await shot(page, `${shotPrefix}-done`);
  return page.getByTestId("deploy-url").textContent();
}

async function main() {
  step = "start porch";
  server = await startPorch();
  log(`porch at ${server.base}, data in ${dataDir}`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "light" });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.base });
  const page = await context.newPage();
  lastPage = page;
  page.on("pageerror", (e) => log(`page error: ${e.message}`));

  step = "sign in";
  await page.goto(`${server.base}/__porch__/`);
  await page.getByTestId("login").waitFor();
  await page.fill("#api-key", "wrong-key");
  await page.click("button[type=submit]");
  await page.getByTestId("login-error").filter({ hasText: "does not know this key" }).waitFor();
  await shot(page, "login");
  await page.fill("#api-key", server.key);
  await page.click("button[type=submit]");
  await page.getByTestId("empty-state").waitFor();
  await shot(page, "library-empty");
  // The empty library's sample goes through the same preview (cancelled here).
  await page.getByTestId("sample").click();
  await page.getByTestId("deploy-preview").waitFor({ timeout: 60_000 });
  assert((await page.getByTestId("deploy-name").inputValue()) === "hello-porch", "the sample is named hello-porch");
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.getByTestId("deploy-dialog").waitFor({ state: "detached" });

  step = "deploy a static site by drop";
  const v1 = [
    { name: "index.html", text: "<!doctype html><title>E2E</title><h1>version one</h1>" },
    { name: "style.css", text: "h1{color:teal}" },
  ];
  const url = await deployDrop(page, v1, { name: "e2e-site", title: "E2E Site", expectType: "Static site", shotPrefix: "deploy" });
  assert(url.includes("/content/"), `viewer URL ${url}`);
  assert((await page.getByTestId("deploy-log").textContent()).length > 0, "the deploy log shows task lines");

  step = "open it as a viewer";
  const viewer = await context.newPage();
  await viewer.goto(url);
  assert((await viewer.textContent("h1")) === "version one", "viewer sees version one");

  step = "item page";
  await page.getByTestId("deploy-to-item").click();
  await page.getByTestId("item-title").filter({ hasText: "E2E Site" }).waitFor();
  await page.getByTestId("qr-toggle").click();
  await page.getByTestId("qr").waitFor();
  await shot(page, "item-overview");

  step = "promote to a second Porch acting as the Connect server";
  target = await startPorch(join(work, "target-data"), "target-porch.log");
  await page.getByTestId("promote").click();
  await page.getByTestId("promote-dialog").waitFor();
  await page.getByTestId("target-name").fill("prod");
  await page.getByTestId("target-url").fill(`${target.base}/`);
  await page.getByTestId("target-key").fill(target.key);
  await page.getByTestId("target-save").click();
  await page.getByTestId("promote-target").waitFor();
  await page.getByTestId("promote-start").click();
  await page.locator("[data-testid=promote-status][data-state]").waitFor({ timeout: LONG });
  assert((await page.getByTestId("promote-status").getAttribute("data-state")) === "ok", `promotion: ${await page.getByTestId("promote-log").textContent()}`);
  const promoteLog = await page.getByTestId("promote-log").textContent();
  assert(promoteLog.includes("  | "), `the target's build log is shown: ${promoteLog}`);
  assert(!promoteLog.includes(target.key), "the key is never shown");
  await page.getByTestId("promote-carried").waitFor();
  await shot(page, "item-promote");
  const promoted = (await api("GET", "/__api__/v1/content?name=e2e-site", target.key, undefined, target.base)).json;
  assert(promoted.length === 1 && promoted[0].title === "E2E Site", `promoted item ${JSON.stringify(promoted)}`);
  await page.getByTestId("promote-close").click();
  await page.getByTestId("promote-dialog").waitFor({ state: "detached" });

  step = "live library update from the event stream";
  await page.goto(`${server.base}/__porch__/#/`);
  await page.getByTestId("content-row").first().waitFor();
  const created = await api("POST", "/__api__/v1/content", server.key, { name: "made-by-api", title: "Made by the API" });
  assert(created.status === 200, `create by API: ${created.status}`);
  await page.locator('[data-testid=content-row][data-name="made-by-api"]').waitFor({ timeout: 30_000 });
  // A word no guid can hold: the search also matches viewer URLs, which carry the guid.
  await page.getByTestId("search").fill("site");
  await page.locator('[data-testid=content-row][data-name="made-by-api"]').waitFor({ state: "detached" });
  await page.getByTestId("search").fill("");

  step = "redeploy and roll back";
  const v2 = [
    { name: "index.html", text: "<!doctype html><title>E2E</title><h1>version two</h1>" },
    { name: "style.css", text: "h1{color:teal}" },
  ];
  await deployDrop(page, v2, { name: "e2e-site" });
  await viewer.reload();
  assert((await viewer.textContent("h1")) === "version two", "viewer sees version two");
  const guid = (await api("GET", "/__api__/v1/content?name=e2e-site", server.key)).json[0].guid;
  await page.goto(`${server.base}/__porch__/#/item/${guid}/versions`);
  await page.getByTestId("version-row").nth(1).waitFor();
  assert((await page.getByTestId("item-title").textContent()) === "E2E Site", "a redeploy keeps the title");
  await page.locator('[data-testid=version-row][data-active="false"]').getByTestId("rollback").click();
  await page.locator('[data-testid=version-row][data-active="true"]').last().waitFor();
  await page.getByTestId("toast").filter({ hasText: "live again" }).waitFor({ timeout: 60_000 });
  await viewer.reload();
  assert((await viewer.textContent("h1")) === "version one", "after the rollback the viewer sees version one");
  await shot(page, "item-versions");

  step = "an unrecognisable drop explains itself";
  await page.goto(`${server.base}/__porch__/#/`);
  await page.getByTestId("content-row").first().waitFor();
  await dropFiles(page, [{ name: "notes.txt", text: "just some notes" }]);
  const note = page.getByTestId("error-note");
  await note.waitFor({ timeout: 60_000 });
  assert((await note.getAttribute("data-code")) === "InvalidManifest", "the error names its code");
  assert((await note.textContent()).includes("manifest.json"), "the error says how to fix it");
  await shot(page, "deploy-error");
  await page.getByTestId("deploy-close").click();

  step = "choose the app mode and entry point in the preview";
  await dropFiles(page, [
    { name: "index.html", text: "<!doctype html><title>E2E</title><h1>the index</h1>" },
    { name: "guide.html", text: "<!doctype html><title>E2E</title><h1>the guide</h1>" },
  ]);
  await page.getByTestId("deploy-preview").waitFor({ timeout: 60_000 });
  const entrySelect = page.getByTestId("deploy-entrypoint");
  assert((await entrySelect.inputValue()) === "index.html", "detected entry point index.html");
  assert((await page.getByTestId("deploy-appmode").inputValue()) === "static", "detected app mode static");
  await page.getByTestId("deploy-name").fill("e2e-chosen");
  // An app mode the files cannot run: refused inline, the valid choice kept.
  await page.getByTestId("deploy-appmode").selectOption("python-dash");
  const runError = page.getByTestId("deploy-run-error");
  await runError.waitFor({ timeout: 60_000 });
  assert((await runError.textContent()).includes("python-dash"), "the refusal names the app mode");
  assert((await page.getByTestId("deploy-appmode").inputValue()) === "static", "the app mode stays static");
  // Another page: previewed again, then deployed with it.
  await entrySelect.selectOption("guide.html");
  await runError.waitFor({ state: "detached", timeout: 60_000 });
  await page.waitForFunction(() => (document.querySelector("[data-testid=deploy-entrypoint]")?.value ?? "") === "guide.html", null, { timeout: 60_000 });
  assert((await page.getByTestId("deploy-name").inputValue()) === "e2e-chosen", "the typed name survives the re-preview");
  await shot(page, "deploy-choices");
  await page.getByTestId("deploy-go").click();
  await page.getByTestId("deploy-done").waitFor({ timeout: LONG });
  const chosenUrl = await page.getByTestId("deploy-url").textContent();
  await viewer.goto(chosenUrl);
  assert((await viewer.textContent("h1")) === "the guide", "the viewer sees the chosen entry point");
  await page.getByTestId("deploy-to-item").click();
  await page.getByTestId("deploy-dialog").waitFor({ state: "detached" });
  await page.goto(`${server.base}/__porch__/#/`);
  await page.getByTestId("content-row").first().waitFor();

  step = "a FastAPI app by drop, its log stream, processes and an environment variable";
  if (!have("uv")) {
    skipOrFail("ui_e2e_app_log_and_schedule_steps", "uv is not installed: the app, log and schedule steps need it");
  } else {
    const appUrl = await deployDrop(page, [fileOf("tests/fixtures/apps/fastapi-app/app.py"), fileOf("tests/fixtures/apps/fastapi-app/requirements.txt")], {
      name: "e2e-api",
      title: "E2E API",
      expectType: "FastAPI",
      shotPrefix: "deploy-app",
    });
    const deployLog = await page.getByTestId("deploy-log").textContent();
    assert(deployLog.split("\n").length > 2, "the deploy log streamed several lines");
    await page.getByTestId("deploy-to-item").click();
    const appGuid = (await api("GET", "/__api__/v1/content?name=e2e-api", server.key)).json[0].guid;
    await page.goto(`${server.base}/__porch__/#/item/${appGuid}/logs`);
    await page.getByTestId("log").waitFor();
    // A cold app first answers 503 with a self-reloading "starting" page; poll until ready.
    // goto answers null when the starting page's own refresh got there first: ask again.
    let hit = await viewer.goto(appUrl);
    for (const until = Date.now() + LONG; (!hit || hit.status() === 503) && Date.now() < until; ) {
      await viewer.waitForTimeout(500);
      hit = await viewer.goto(appUrl);
    }
    assert(hit && hit.status() === 200, `the app answers its viewer (${hit?.status()})`);
    await page.waitForFunction(() => (document.querySelector("[data-testid=log]")?.textContent ?? "").trim().length > 0, null, { timeout: LONG });
    await viewer.goto(`${appUrl}?marker=e2e-live-tail`);
    await page.getByTestId("log-search").fill("e2e-live-tail");
    // The fixture app prints the marker itself (no reliance on an access log), so a line
    // that never arrives means the live tail is broken: no fallback.
    await page.waitForFunction(() => (document.querySelector("[data-testid=log]")?.textContent ?? "").includes("marker e2e-live-tail"), null, { timeout: 60_000 });
    await page.getByTestId("log-search").fill("");
    await shot(page, "item-logs");
    await page.goto(`${server.base}/__porch__/#/item/${appGuid}/processes`);
    await page.getByTestId("process-row").first().waitFor({ timeout: 60_000 });
    // The environment's Python helper (the panel reads it again every 5 s; it imports
    // FastAPI and uvicorn once after the deploy): ready, with its memory, serving this app.
    const helperRow = page.locator("[data-testid=item-python-helper] [data-testid=helper-row][data-state=ready]");
    await helperRow.waitFor({ timeout: LONG });
    const helperMemory = (await helperRow.getByTestId("helper-memory").textContent()).trim();
    assert(/^\d+(\.\d)? (KB|MB)$/.test(helperMemory), `the helper's memory is shown (${helperMemory})`);
    assert((await helperRow.textContent()).includes("This app"), "the helper names the app it serves");
    assert((await helperRow.getByTestId("helper-stops").textContent()).includes("unless an app it serves is viewed"), "and when it stops");
    const listed = (await api("GET", "/__api__/porch/python-helpers", server.key)).json;
    assert(listed.length === 1 && listed[0].items.includes(appGuid) && listed[0].memory > 0, `the API agrees: ${JSON.stringify(listed)}`);
    helpersShown = true;
    await shot(page, "item-processes");
    await page.goto(`${server.base}/__porch__/#/item/${appGuid}/settings`);
    await page.getByTestId("env-name").fill("E2E_SECRET");
    await page.getByTestId("env-value").fill("s3cret");
    await page.getByTestId("env-set").click();
    await page.getByTestId("env-list").filter({ hasText: "E2E_SECRET" }).waitFor();
    assert(!(await page.content()).includes("s3cret"), "the value is never shown");
    const names = (await api("GET", `/__api__/v1/content/${appGuid}/environment`, server.key)).json;
    assert(names.includes("E2E_SECRET"), "the engine stored the variable");
    await page.getByTestId("rt-max_processes").fill("2");
    await page.getByTestId("rt-min_processes").fill("3");
    await page.getByTestId("save-runtime").click();
    await page.getByTestId("error-note").filter({ hasText: "must not exceed" }).waitFor();
    await shot(page, "item-settings");

    step = "a notebook by drop, and its schedule";
    await page.goto(`${server.base}/__porch__/#/`);
    await page.getByTestId("content-row").first().waitFor();
    await deployDrop(page, [fileOf("tests/fixtures/frameworks/notebook/report.ipynb"), fileOf("tests/fixtures/frameworks/notebook/requirements.txt")], {
      name: "e2e-report",
      title: "E2E Report",
      expectType: "Notebook",
    });
    await page.getByTestId("deploy-to-item").click();
    const nbGuid = (await api("GET", "/__api__/v1/content?name=e2e-report", server.key)).json[0].guid;
    await page.goto(`${server.base}/__porch__/#/item/${nbGuid}/settings`);
    await page.getByTestId("schedule-editor").waitFor();
    await page.getByTestId("sched-type").selectOption("hour");
    await page.getByTestId("sched-n").fill("2");
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=next-run]").length === 5, null, { timeout: 30_000 });
    const zone = await page.getByTestId("sched-timezone").inputValue();
    assert(zone === (await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone)), "the zone defaults to the system's");
    assert((await page.getByTestId("next-runs-note").textContent()).includes("Every 2 hours"), "the preview describes the schedule");
    await page.getByTestId("sched-type").selectOption("cron");
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=next-run]").length === 5);
    // Text that is on the page only once the bad value was typed and the server refused it:
    // the note before it ("Cron “0 9 * * 1-5”…") must not satisfy the wait.
    await page.getByTestId("sched-cron").fill("61 * * * *");
    await page.waitForFunction(() => {
      const note = document.querySelector("[data-testid=next-runs-note]")?.textContent ?? "";
      return note.includes("\"61 * * * *\" is not a valid 5-field cron expression") && note.includes("out of bounds") && document.querySelectorAll("[data-testid=next-run]").length === 0;
    }, null, { timeout: 30_000 });
    await page.getByTestId("sched-cron").fill("0 9 * * 1-5");
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=next-run]").length === 5);
    await page.getByTestId("sec-schedule").evaluate((el) => el.scrollIntoView());
    await shot(page, "item-schedule");
    await page.getByTestId("sched-save").click();
    await page.getByTestId("toast").filter({ hasText: "Schedule saved" }).waitFor();
    const saved = (await api("GET", `/__api__/v1/content/${nbGuid}/schedules`, server.key)).json;
    assert(saved.length === 1 && saved[0].type === "cron" && saved[0].next_runs.length === 5, `saved schedule ${JSON.stringify(saved)}`);
    await page.goto(`${server.base}/__porch__/#/item/${nbGuid}/overview`);
    await page.getByTestId("schedule-summary").filter({ hasText: "0 9 * * 1-5" }).waitFor();
  }

  step = "an API key from Settings, used with rsconnect";
  await page.goto(`${server.base}/__porch__/#/settings`);
  await page.getByTestId("key-name").fill("laptop");
  await page.getByTestId("create-key").click();
  const cmd = await page.getByTestId("rsconnect-cmd").textContent();
  const newKey = (await page.getByTestId("new-key-value").textContent()).trim();
  assert(cmd.startsWith("rsconnect add --server http://") && cmd.endsWith(newKey), `rsconnect command: ${cmd}`);
  await shot(page, "app-settings");
  const rsconnect = join(VENV, "bin/rsconnect");
  if (!existsSync(rsconnect)) {
    skipOrFail("ui_e2e_key_used_with_rsconnect", `${rsconnect} not found (set PORCH_TEST_VENV)`);
  } else {
    const home = join(work, "rs-home");
    mkdirSync(home);
    const env = { ...process.env, HOME: home, NO_PROXY: "127.0.0.1,localhost", NO_COLOR: "1" };
    // The command as the UI shows it, pointed at the loopback address this test serves on.
    const args = cmd.split(" ").slice(1).map((a) => (a.startsWith("http://") ? server.base : a));
    const add = spawnSync(rsconnect, args, { env, encoding: "utf8", timeout: 120_000 });
    assert(add.status === 0, `rsconnect add: ${add.stdout}${add.stderr}`);
    const site = join(work, "rs-site");
    mkdirSync(site);
    writeFileSync(join(site, "index.html"), "<h1>from rsconnect</h1>");
    const dep = spawnSync(rsconnect, ["deploy", "html", "-n", "porch", "--title", "From rsconnect", site], { env, encoding: "utf8", timeout: LONG });
    assert(dep.status === 0, `rsconnect deploy: ${dep.stdout}${dep.stderr}`);
    await page.goto(`${server.base}/__porch__/#/`);
    await page.locator(".card-title", { hasText: "From rsconnect" }).waitFor({ timeout: 30_000 });
  }
  await page.goto(`${server.base}/__porch__/#/settings`);
  const row = page.getByTestId("key-row").filter({ hasText: "laptop" });
  page.once("dialog", (d) => d.accept());
  await row.getByTestId("revoke").click();
  await row.waitFor({ state: "detached" });
  assert((await api("GET", "/__api__/v1/content", newKey)).status === 401, "a revoked key is refused");

  step = "server settings: address, remote publishing, runtime defaults";
  await page.goto(`${server.base}/__porch__/#/settings`);
  await page.getByTestId("set-port").fill("4939");
  await page.getByTestId("set-bind-local").check();
  await page.getByTestId("save-address").click();
  await page.getByTestId("toast").filter({ hasText: "Address saved" }).waitFor();
  // This server was started with --bind and --port, so the pane says they win for this run.
  await page.getByTestId("listen-flags").waitFor();
  let sv = (await api("GET", "/__api__/porch/server", server.key)).json;
  assert(sv.settings.port === 4939 && sv.settings.bind === "local", `saved address ${JSON.stringify(sv.settings)}`);
  await page.getByTestId("set-port").fill("70000");
  await page.getByTestId("save-address").click();
  await page.getByTestId("address-form").getByTestId("error-note").waitFor();
  assert((await api("GET", "/__api__/porch/server", server.key)).json.settings.port === 4939, "a bad port is not saved");
  await shot(page, "app-settings-sharing");
  await page.getByTestId("remote-publishing").check();
  await page.getByTestId("toast").filter({ hasText: "Remote publishing on" }).waitFor();
  assert((await api("GET", "/__api__/porch/server", server.key)).json.allow_remote_publishing === true, "remote publishing switched on");
  await page.getByTestId("remote-publishing").uncheck();
  await page.getByTestId("toast").filter({ hasText: "Remote publishing off" }).waitFor();
  await page.getByTestId("def-max_processes").fill("7");
  await page.getByTestId("save-defaults").click();
  await page.getByTestId("toast").filter({ hasText: "Runtime defaults saved" }).waitFor();
  sv = (await api("GET", "/__api__/porch/server", server.key)).json;
  assert(sv.runtime_defaults.max_processes === 7 && sv.allow_remote_publishing === false, `defaults ${JSON.stringify(sv.runtime_defaults)}`);
  await page.getByTestId("def-min_processes").fill("9");
  await page.getByTestId("save-defaults").click();
  await page.getByTestId("runtime-defaults").getByTestId("error-note").filter({ hasText: "min_processes" }).waitFor();
  sv = (await api("GET", "/__api__/porch/server", server.key)).json;
  assert(sv.runtime_defaults.min_processes === 0 && sv.runtime_defaults.max_processes === 7, "an invalid default is not saved");
  await page.getByTestId("runtime-defaults").scrollIntoViewIfNeeded();
  await shot(page, "app-settings-defaults");
  if (helpersShown) {
    // Server-wide, above the switch that turns them off: the FastAPI app's helper.
    await page.getByTestId("python-helpers-now").getByTestId("helper-row").first().waitFor();
    assert((await page.getByTestId("python-helpers-now").textContent()).includes("E2E API"), "the Apps card names the app a helper serves");
    await page.getByTestId("python-helpers-now").scrollIntoViewIfNeeded();
    await shot(page, "app-settings-apps");
  }

  step = "Settings → Reachability: the checks, and why the phone test cannot work on this computer only";
  await page.goto(`${server.base}/__porch__/#/settings`);
  await page.getByTestId("reach-run").click();
  // This server listens on 127.0.0.1: the panel names it with its fix, and explains the phone test.
  await page.getByTestId("reach-bind").waitFor({ timeout: 60_000 });
  assert((await page.getByTestId("reach-bind").getAttribute("data-status")) === "problem", "bound to this computer only is a problem");
  assert((await page.getByTestId("reach-bind").textContent()).includes("bind=network"), "with its fix");
  assert((await page.getByTestId("reach-phone-blocked").textContent()).includes("this computer only"), "the phone test says why it cannot work");
  assert((await page.getByTestId("reach-firewall").count()) === 1, "the firewall check is shown");
  await page.getByTestId("set-reachability").scrollIntoViewIfNeeded();
  await shot(page, "app-settings-reachability");

  step = "look and feel: full library, dark, narrow";
  await page.goto(`${server.base}/__porch__/#/`);
  await page.getByTestId("content-row").first().waitFor();
  await page.waitForTimeout(500); // let the status column fill in for the picture
  await shot(page, "library");
  const dark = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: "dark" });
  const dpage = await dark.newPage();
  await dpage.goto(`${server.base}/__porch__/`);
  await dpage.fill("#api-key", server.key);
  await dpage.click("button[type=submit]");
  await dpage.getByTestId("content-row").first().waitFor();
  await dpage.waitForTimeout(500);
  await shot(dpage, "library-dark");
  await dpage.setViewportSize({ width: 420, height: 800 });
  await shot(dpage, "library-narrow");
  // Keyboard: the first Tab lands on the skip link, and focus is visible.
  await dpage.keyboard.press("Tab");
  assert((await dpage.evaluate(() => document.activeElement?.textContent)) === "Skip to content", "keyboard starts at the skip link");
  await dark.close();
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  console.error(`FAILED at step "${step}": ${e.stack ?? e}`);
  if (lastPage) await lastPage.screenshot({ path: join(OUT, "failure.png") }).catch(() => {});
} finally {
  if (browser) await browser.close().catch(() => {});
  for (const s of [server, target]) {
    if (!s) continue;
    try {
      process.kill(-s.child.pid, "SIGTERM");
    } catch {}
    await new Promise((r) => {
      if (s.child.exitCode !== null) return r();
      const t = setTimeout(() => {
        try {
          process.kill(-s.child.pid, "SIGKILL");
        } catch {}
        r();
      }, 15_000);
      s.child.on("exit", () => (clearTimeout(t), r()));
    });
  }
  rmSync(work, { recursive: true, force: true });
}
console.log(failed ? `FAIL: UI e2e (screenshots and porch.log in ${OUT})` : `PASS: UI e2e (screenshots in ${OUT})`);
process.exit(failed ? 1 : 0);
