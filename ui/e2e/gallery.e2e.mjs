#!/usr/bin/env node
// End-to-end test of the landing page's gallery (issue 14, items 2 to 4) in real Chromium
// (Debian's, driven by playwright-core) against a real headless `porch serve`.
//
// Scenario: 6 sites deployed with Porch taking their pictures (headless Chromium through the
// runner), then 24 more with `thumbnails=manual` (generated cards) → tags and a title,
// intro from Settings → the landing page: axe-core finds no serious or critical violation,
// no console errors, focus order search → tag filter → first card → instant search, tag
// filter and pagination with JavaScript → the same without JavaScript (`/?q=`, `/?tag=`)
// → dark mode and a phone-sized viewport → the item page: a picture chosen and a tag
// added, seen on the landing page → usage: two viewers load pages, the item's Usage tab
// shows the counted views (chart, devices, last view; axe-core clean, light and dark), the
// library sorted by views and by last view puts the viewed items first, and with usage off
// the tab says where to turn it on. Screenshots go to $E2E_OUT (README material).
//
// Env: PORCH_BIN, CHROMIUM, E2E_OUT as in ui.e2e.mjs.
// Exit status non-zero on any failure; the last line says PASS or FAIL.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PORCH = process.env.PORCH_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, "target"), "debug/porch");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const OUT = process.env.E2E_OUT ?? mkdtempSync(join(tmpdir(), "porch-gallery-e2e."));
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
mkdirSync(OUT, { recursive: true });

const work = mkdtempSync(join(tmpdir(), "porch-gallery-e2e-work."));
const dataDir = join(work, "data");
let server = null;
let browser = null;
let lastPage = null;
let step = "setup";

const log = (msg) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

async function startPorch() {
  if (!existsSync(PORCH)) throw new Error(`no porch binary at ${PORCH} (set PORCH_BIN)`);
  const key = spawnSync(PORCH, ["key", "new", "--name", "e2e", "--data-dir", dataDir], { encoding: "utf8" });
  if (key.status !== 0) throw new Error(`porch key new failed: ${key.stderr}`);
  const child = spawn(PORCH, ["serve", "--data-dir", dataDir, "--bind", "127.0.0.1", "--port", "0"], {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "info" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let logged = "";
  child.stderr.on("data", (d) => {
    logged += d;
    writeFileSync(join(OUT, "porch.log"), logged);
  });
  const base = await new Promise((res, rej) => {
    let buf = "";
    child.stdout.on("data", (d) => {
      buf += d;
      const m = buf.match(/^Listening on (http:\/\/[^/\s]+)\//m);
      if (m) res(m[1]);
    });
    child.on("exit", (code) => rej(new Error(`porch serve exited with ${code}`)));
  });
  return { child, base, key: key.stdout.trim() };
}

async function api(method, path, body, raw) {
  const headers = { Authorization: `Key ${server.key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(`${server.base}${path}`, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: r.status, json };
}

/** A gzip tar with one index.html (ustar, written here: no tar dependency). */
function siteBundle(html) {
  const data = Buffer.from(html);
  const header = Buffer.alloc(512);
  header.write("index.html", 0);
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(data.length.toString(8).padStart(11, "0") + "\0", 124);
  header.write("00000000000\0", 136);
  header.write("        ", 148);
  header.write("0", 156);
  header.write("ustar\0", 257);
  header.write("00", 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return gzipSync(Buffer.concat([header, data, pad, Buffer.alloc(1024)]));
}

async function publish(name, title, description, colour) {
  const c = await api("POST", "/__api__/v1/content", { name, title, description });
  assert(c.status === 200, `create ${name}: ${JSON.stringify(c.json)}`);
  const html = `<!doctype html><html><head><title>${title}</title></head><body style="margin:0;font:48px system-ui;background:${colour};color:#fff;display:flex;align-items:center;justify-content:center;height:100vh"><h1>${title}</h1></body></html>`;
  const b = await api("POST", `/__api__/v1/content/${c.json.guid}/bundles`, undefined, siteBundle(html));
  assert(b.status === 200, `upload ${name}: ${JSON.stringify(b.json)}`);
  const t = await api("POST", `/__api__/v1/content/${c.json.guid}/deploy`, { bundle_id: b.json.id });
  for (;;) {
    const s = await api("GET", `/__api__/v1/tasks/${t.json.task_id}?wait=1`);
    if (s.json.finished) {
      assert(s.json.code === 0, `deploy ${name}: ${JSON.stringify(s.json)}`);
      break;
    }
  }
  return c.json.guid;
}

async function tag(guid, path) {
  let parent = null;
  for (const name of path.split("/")) {
    const all = (await api("GET", "/__api__/v1/tags")).json;
    let t = all.find((x) => x.name === name && (x.parent_id ?? null) === parent);
    if (!t) t = (await api("POST", "/__api__/v1/tags", { name, parent_id: parent })).json;
    parent = t.id;
  }
  const r = await api("POST", `/__api__/v1/content/${guid}/tags`, { tag_id: parent });
  assert(r.status === 200, `tag ${path}: ${JSON.stringify(r.json)}`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: false });
  log(`screenshot ${name}.png`);
}

/** axe-core on the page: no serious or critical violation. */
async function axe(page, what) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of result.violations) log(`axe (${what}): ${v.impact} ${v.id}: ${v.help} (${v.nodes.length})`);
  assert(bad.length === 0, `axe-core found serious or critical violations on ${what}: ${bad.map((v) => v.id).join(", ")}`);
}

async function main() {
  step = "start porch";
  server = await startPorch();
  log(`porch at ${server.base}`);

  step = "publish 30 sites (6 pictured by Porch)";
  const colours = ["#1d6fa5", "#a5541d", "#2f8f4e", "#7a3fa0", "#b0303a", "#35707a"];
  const names = ["Quarterly sales", "Churn dashboard", "Inventory report", "Team handbook", "Forecast model", "Survey results"];
  const guids = [];
  for (let i = 0; i < 6; i++) guids.push(await publish(`pictured-${i}`, names[i], i === 2 ? "Stock levels by ZEBRA warehouse" : `About ${names[i].toLowerCase()}`, colours[i]));
  for (const g of guids) {
    const deadline = Date.now() + 120_000;
    while ((await api("GET", `/__api__/v1/content/${g}/thumbnail`)).status !== 200) {
      assert(Date.now() < deadline, `Porch took no picture of ${g} (see porch.log)`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  assert((await api("PATCH", "/__api__/porch/server", { thumbnails: "manual" })).status === 200, "manual mode");
  for (let i = 0; i < 24; i++) guids.push(await publish(`note-${String(i).padStart(2, "0")}`, `Analysis note ${String(i).padStart(2, "0")}`, "", "#555"));
  await tag(guids[0], "finance/quarterly");
  await tag(guids[4], "finance/forecasts");
  await tag(guids[1], "product");
  await tag(guids[2], "operations");
  const s = await api("PATCH", "/__api__/porch/server", { gallery_title: "Acme analytics", gallery_intro: "Reports, dashboards and apps from the data team.\nAsk #data for access." });
  assert(s.status === 200, `gallery settings: ${JSON.stringify(s.json)}`);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: "light" });
  const page = await context.newPage();
  lastPage = page;
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(e.message));
  page.on("response", (r) => r.status() >= 400 && consoleErrors.push(`${r.status()} ${r.url()}`));

  step = "the landing page";
  await page.goto(`${server.base}/`);
  assert((await page.textContent("h1")) === "Acme analytics", "the title from Settings");
  assert((await page.textContent("#count")).includes("30 items"), "30 items");
  assert((await page.locator("ul#content > li").count()) === 24, "one page of 24 cards");
  await page.waitForFunction(() => [...document.querySelectorAll(".thumb img")].every((i) => i.complete && i.naturalWidth > 0));
  await shot(page, "gallery");
  await axe(page, "the landing page");

  step = "focus order";
  await page.keyboard.press("Tab");
  assert(await page.evaluate(() => document.activeElement?.id === "q"), "first Tab: the search box");
  await page.keyboard.press("Tab");
  assert(await page.evaluate(() => document.activeElement?.id === "tag"), "second Tab: the tag filter");
  await page.keyboard.press("Tab");
  const first = await page.evaluate(() => document.activeElement?.closest("ul#content > li h2") !== null);
  assert(first, "third Tab: the first card's link");
  const alts = await page.evaluate(() => [...document.querySelectorAll("img")].every((i) => i.hasAttribute("alt")));
  assert(alts, "every image has alt text");

  step = "instant search";
  await page.fill("#q", "zebra");
  await page.locator("#count", { hasText: "1 item matches" }).waitFor();
  assert(page.url().endsWith("/?q=zebra"), `the address follows the search: ${page.url()}`);
  assert((await page.textContent("ul#content")).includes("Inventory report"), "the match is shown");
  await shot(page, "gallery-search");
  await page.fill("#q", "");
  await page.locator("#count", { hasText: "30 items" }).waitFor();

  step = "instant tag filter";
  await page.selectOption("#tag", "finance");
  await page.locator("#count", { hasText: "2 items match" }).waitFor();
  assert(page.url().endsWith("/?tag=finance"), `the address follows the tag: ${page.url()}`);
  await shot(page, "gallery-tag");
  await page.selectOption("#tag", "");
  await page.locator("#count", { hasText: "30 items" }).waitFor();

  step = "pagination";
  await page.click("a[rel=next]");
  await page.locator("nav.pages", { hasText: "Page 2 of 2" }).waitFor();
  assert((await page.locator("ul#content > li").count()) === 6, "6 cards on page 2");

  step = "dark mode and a phone";
  await page.goto(`${server.base}/`);
  await page.emulateMedia({ colorScheme: "dark" });
  await page.waitForFunction(() => [...document.querySelectorAll(".thumb img")].every((i) => i.complete));
  await shot(page, "gallery-dark");
  await axe(page, "the landing page in dark mode");
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const ppage = await phone.newPage();
  ppage.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  await ppage.goto(`${server.base}/`);
  const overflow = await ppage.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  assert(!overflow, "no sideways scrolling on a phone");
  await ppage.waitForFunction(() => [...document.querySelectorAll(".thumb img")].every((i) => i.complete));
  await shot(ppage, "gallery-phone");
  await axe(ppage, "the landing page on a phone");
  await phone.close();

  step = "without JavaScript";
  const nojs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 860 } });
  const npage = await nojs.newPage();
  await npage.goto(`${server.base}/`);
  await npage.fill("#q", "handbook");
  await npage.click("button[type=submit]");
  await npage.waitForURL(/\?q=handbook/);
  assert((await npage.textContent("#count")).includes("1 item matches"), "the form searches without JavaScript");
  await npage.goto(`${server.base}/?tag=finance/quarterly`);
  assert((await npage.textContent("#count")).includes("1 item matches"), "the tag filter without JavaScript");
  await npage.goto(`${server.base}/?page=2`);
  assert((await npage.textContent("nav.pages")).includes("Page 2 of 2"), "pages without JavaScript");
  await nojs.close();

  step = "the item page: a picture and a tag";
  const ui = await context.newPage();
  lastPage = ui;
  await ui.emulateMedia({ colorScheme: "light" });
  await ui.goto(`${server.base}/__porch__/`);
  await ui.getByTestId("login").waitFor();
  await ui.fill("#api-key", server.key);
  await ui.click("button[type=submit]");
  await ui.getByTestId("content-row").first().waitFor();
  const target = guids[6];
  await ui.goto(`${server.base}/__porch__/#/item/${target}/overview`);
  await ui.getByTestId("gallery-card").waitFor();
  // A picture: a screenshot of one of Porch's own captures, chosen as a file.
  const png = Buffer.from(await (await fetch(`${server.base}/content/${guids[3]}/__thumbnail__`)).arrayBuffer());
  await ui.getByTestId("thumb-file").setInputFiles({ name: "picture.png", mimeType: "image/png", buffer: png });
  await ui.getByTestId("thumb-img").waitFor();
  // A refused picture says why.
  await ui.getByTestId("thumb-file").setInputFiles({ name: "evil.png", mimeType: "image/png", buffer: Buffer.from("<svg onload=alert(1)>") });
  await ui.getByTestId("error-note").filter({ hasText: "SVG" }).waitFor();
  await ui.fill("#tag-input", "finance/notes");
  await ui.getByTestId("tag-add").click();
  await ui.getByTestId("tag-list").filter({ hasText: "finance/notes" }).waitFor();
  await shot(ui, "item-gallery");
  await page.goto(`${server.base}/?tag=finance/notes`);
  assert((await page.textContent("#count")).includes("1 item matches"), "the new tag filters the landing page");
  assert((await page.locator(".thumb img").count()) === 1, "with the chosen picture");

  step = "usage: a viewer's page loads, counted and shown";
  // Two viewers: 3 + 1 page loads of one note (the repeated loads are revalidations, 304s,
  // and count), 1 of another. Nothing else in this run is a page view (the landing page,
  // Porch's captures and API calls are not counted).
  const [viewed, less] = [guids[10], guids[11]];
  // Two devices: two browser contexts with their own cookies and user agents (a first
  // load without a cookie is known by address and user agent, so two fresh contexts of
  // one browser on one address would share their first view's device).
  for (const [n, loads] of [[1, 3], [2, 1]]) {
    const viewer = await browser.newContext({ viewport: { width: 800, height: 600 }, userAgent: `PorchE2EViewer/${n}.0 (X11; Linux x86_64)` });
    const vpage = await viewer.newPage();
    for (let i = 0; i < loads; i++) assert((await vpage.goto(`${server.base}/content/${viewed}/`)).status() === 200, "the viewer sees the note");
    if (loads === 1) {
      // Usage times are whole seconds: the other note's view comes in a later second, so
      // the sort by last view has no tie to break.
      await new Promise((r) => setTimeout(r, 1100));
      assert((await vpage.goto(`${server.base}/content/${less}/`)).status() === 200, "the viewer sees the other note");
    }
    await viewer.close();
  }
  await ui.goto(`${server.base}/__porch__/#/item/${viewed}/usage`);
  await ui.getByTestId("usage-body").waitFor();
  // Recording is batched off the request path: refresh until the four views are in.
  {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const total = await ui.getByTestId("usage-total").textContent({ timeout: 10_000 }).catch(() => null);
      if (total === "4") break;
      assert(Date.now() < deadline, `the Usage tab shows 4 views within 60 s (it shows ${total})`);
      await new Promise((r) => setTimeout(r, 500));
      await ui.getByTestId("usage-refresh").click();
    }
  }
  assert((await ui.getByTestId("usage-devices").textContent()) === "2", "two devices");
  assert((await ui.getByTestId("usage-last").textContent()) !== "never", "a last view");
  const label = await ui.getByTestId("usage-chart").getAttribute("aria-label");
  assert(label?.includes("4 views in total on 1 day"), `the chart says what it shows: ${label}`);
  assert((await ui.locator('[data-testid="usage-chart"] rect.bar').count()) === 30, "one bar per day of 30");
  await shot(ui, "usage-tab");
  await axe(ui, "the Usage tab");
  await ui.selectOption("#usage-period", "7");
  await ui.locator('[data-testid="usage-chart"] rect.bar').nth(6).waitFor();
  assert((await ui.locator('[data-testid="usage-chart"] rect.bar').count()) === 7, "seven bars for 7 days");
  await ui.emulateMedia({ colorScheme: "dark" });
  await shot(ui, "usage-tab-dark");
  await axe(ui, "the Usage tab in dark mode");
  await ui.emulateMedia({ colorScheme: "light" });

  step = "usage: the library sorted by views in 30 days";
  // The other note's view came a second later and may be in the next batch: the sort reads
  // usage once, so wait until both notes' views are recorded.
  {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await api("GET", "/__api__/porch/usage");
      const seen = new Map((r.json ?? []).map((u) => [u.guid, u.views_30d]));
      if (seen.get(viewed) === 4 && seen.get(less) === 1) break;
      assert(Date.now() < deadline, `both notes' views recorded within 30 s (${JSON.stringify(r.json)})`);
      await new Promise((res) => setTimeout(res, 250));
    }
  }
  await ui.goto(`${server.base}/__porch__/#/`);
  await ui.getByTestId("content-row").first().waitFor();
  await ui.selectOption("#library-sort", "views");
  await ui.waitForFunction(([a, b]) => {
    const rows = [...document.querySelectorAll('[data-testid="content-row"]')].map((r) => r.getAttribute("data-guid"));
    return rows[0] === a && rows[1] === b;
  }, [viewed, less], { timeout: 10_000 });
  const top = ui.getByTestId("content-row").first();
  assert((await top.getByTestId("views-30d").textContent()).includes("4 views in 30 days"), "the row says its views");
  assert((await ui.getByTestId("views-30d").count()) === 2, "only the two viewed rows show a count");
  await shot(ui, "library-by-views");
  await axe(ui, "the library sorted by views");
  await ui.selectOption("#library-sort", "viewed");
  await ui.waitForFunction((b) => document.querySelector('[data-testid="content-row"]')?.getAttribute("data-guid") === b, less, { timeout: 10_000 });

  step = "usage: off, the tab says where to turn it on";
  assert((await api("PATCH", "/__api__/porch/server", { usage: false })).status === 200, "usage off");
  await ui.goto(`${server.base}/__porch__/#/item/${guids[12]}/usage`);
  await ui.getByTestId("usage-off").waitFor();
  assert((await ui.getByTestId("usage-off").locator('a[href="#/settings"]').count()) === 1, "a link to Settings");
  await shot(ui, "usage-off");
  await axe(ui, "the Usage tab with usage off");
  assert((await api("PATCH", "/__api__/porch/server", { usage: true })).status === 200, "usage on again");

  assert(consoleErrors.length === 0, `console errors: ${consoleErrors.join(" | ")}`);
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
  if (server) {
    try {
      process.kill(-server.child.pid, "SIGTERM");
    } catch {}
    await new Promise((r) => {
      if (server.child.exitCode !== null) return r();
      const t = setTimeout(() => {
        try {
          process.kill(-server.child.pid, "SIGKILL");
        } catch {}
        r();
      }, 15_000);
      server.child.on("exit", () => (clearTimeout(t), r()));
    });
  }
  rmSync(work, { recursive: true, force: true });
}
console.log(failed ? `FAIL: gallery e2e (screenshots and porch.log in ${OUT})` : `PASS: gallery e2e (screenshots in ${OUT})`);
process.exit(failed ? 1 : 0);
