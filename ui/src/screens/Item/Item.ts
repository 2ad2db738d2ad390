// The item page: a header (title, type, URL with open / copy / QR) and tabs: Overview,
// Logs (live tail with search), Processes (kill, restart; and the Python helper the app's
// processes start from, with its memory), Versions (rollback), Renders
// (open, re-render), Usage (views or sessions per day), Settings. The overview says when
// Porch keeps the computer awake for the item (keep-awake, from the server view). Tabs are routes
// (`#/item/<guid>/<tab>`), so they survive a reload and the back button works.

import { toApiError } from "../../api/client";
import * as api from "../../api/content";
import { followText, subscribe } from "../../api/events";
import type { ContentView } from "../../api/types";
import type { Cleanup, Shell } from "../../app";
import { button, copyText, h } from "../../components/dom";
import { ErrorNote } from "../../components/ErrorNote";
import { Qr } from "../../components/Qr";
import { toast } from "../../components/Toast";
import { pythonHelpers, serverView } from "../../api/server";
import { HELPER_MEMORY_NOTE, PythonHelpers } from "../../components/PythonHelpers";
import * as awake from "../../lib/awake";
import { everyWhileVisible } from "../../lib/visible";
import { formatBytes, formatWhen, modeIcon, modeLabel, runtimeKind } from "../../lib/format";
import { describe, fromView } from "../../lib/schedule";
import { galleryCard } from "./Gallery";
import { openPromote } from "./Promote";
import { mountItemSettings } from "./Settings";
import { usagePanel } from "./Usage";

const TABS: [string, string, (c: ContentView) => boolean][] = [
  ["overview", "Overview", () => true],
  ["logs", "Logs", (c) => runtimeKind(c.app_mode) === "interactive"],
  ["processes", "Processes", (c) => runtimeKind(c.app_mode) === "interactive"],
  ["versions", "Versions", () => true],
  ["renders", "Renders", (c) => runtimeKind(c.app_mode) === "rendered"],
  ["usage", "Usage", () => true],
  ["settings", "Settings", () => true],
];

export function mountItem(root: HTMLElement, shell: Shell, guid: string, tab: string): Cleanup {
  const cleanups: Cleanup[] = [];
  let alive = true;
  root.replaceChildren(h("p", { class: "muted loading" }, "Loading…"));

  const load = async () => {
    let c: ContentView;
    try {
      c = await api.getContent(guid);
    } catch (err) {
      root.replaceChildren(ErrorNote(err, "This item could not be loaded"), h("p", {}, h("a", { href: "#/" }, "Back to the library")));
      return;
    }
    if (!alive) return;
    const tabs = TABS.filter(([, , show]) => show(c));
    const current = tabs.some(([id]) => id === tab) ? tab : "overview";
    const panel = h("section", { class: "tab-panel", role: "tabpanel", "aria-labelledby": `tab-${current}`, "data-testid": `panel-${current}` });
    root.replaceChildren(
      header(c, shell),
      h(
        "nav",
        { class: "tabs", "aria-label": "Item sections" },
        ...tabs.map(([id, label]) =>
          h("a", { id: `tab-${id}`, class: "tab", href: `#/item/${encodeURIComponent(guid)}/${id}`, "aria-current": id === current ? "page" : undefined, "data-testid": `tab-${id}` }, label),
        ),
      ),
      panel,
    );
    const mount = PANELS[current];
    cleanups.push(mount(panel, shell, c));
  };
  void load();

  // Changes to this item (a deploy, a render ending) refresh the header and current tab,
  // except on tabs that stream or hold unsaved input.
  void subscribe((ev) => {
    const mine = "guid" in ev ? ev.guid === guid : true;
    if (!mine || !alive || tab === "logs" || tab === "settings") return;
    if (ev.type === "content_deleted") {
      shell.navigate("#/");
      return;
    }
    cleanups.splice(0).forEach((f) => f());
    void load();
  }).then((u) => (alive ? cleanups.push(u) : u()));

  return () => {
    alive = false;
    cleanups.splice(0).forEach((f) => f());
  };
}

function header(c: ContentView, shell: Shell): HTMLElement {
  const url = c.vanity_url ?? c.content_url;
  const lan = lanUrl(url, shell);
  const qrBox = h("div", { class: "qr-box", hidden: true, "data-testid": "qr-box" });
  return h(
    "header",
    { class: "item-header" },
    h("p", { class: "crumbs small" }, h("a", { href: "#/" }, "Library"), " / "),
    h(
      "div",
      { class: "item-title-row" },
      h("span", { class: `type-icon kind-${runtimeKind(c.app_mode)}`, "aria-hidden": "true" }, modeIcon(c.app_mode)),
      h("div", {}, h("h1", { class: "page-title", "data-testid": "item-title" }, c.title || c.name), h("p", { class: "muted small" }, `${modeLabel(c.app_mode)} · ${c.name} · deployed ${formatWhen(c.last_deployed_time)}`)),
    ),
    c.bundle_id
      ? h(
          "div",
          { class: "url-row" },
          h("a", { class: "item-url", href: url, "data-testid": "item-url", onclick: (e: Event) => (e.preventDefault(), shell.open(url)) }, url),
          button("Open in browser", () => shell.open(url), { kind: "primary", testid: "open" }),
          button("Copy link", () => void copyText(lan).then((ok) => toast(ok ? "Link copied" : "Could not copy the link", ok ? "ok" : "error")), { testid: "copy-link" }),
          button("QR code", () => {
            if (qrBox.hidden && qrBox.childElementCount === 0) {
              const plain = plainUrl(lan, shell);
              qrBox.append(Qr(lan, `QR code of ${lan}`), h("p", { class: "small muted" }, lan));
              // Phones and networks that do not resolve .local names still reach the address.
              if (plain !== lan) qrBox.append(h("p", { class: "small muted", "data-testid": "plain-url" }, `or by address: ${plain}`));
            }
            qrBox.hidden = !qrBox.hidden;
          }, { testid: "qr-toggle" }),
          button("Promote to Posit Connect…", () => openPromote(shell, c), { kind: "quiet", testid: "promote" }),
        )
      : h("p", { class: "muted" }, "Not deployed yet."),
    qrBox,
  );
}

/** The item's URL on the LAN address (a phone cannot open 127.0.0.1). */
function lanUrl(url: string, shell: Shell): string {
  const lan = shell.server?.viewer_urls.find((u) => !/\/\/(127\.|localhost|\[::1\])/.test(u));
  if (!lan) return url;
  try {
    const u = new URL(url);
    const l = new URL(lan);
    if (/^(127\.|localhost$|\[::1\]$)/.test(u.hostname)) {
      u.host = l.host;
      return u.toString();
    }
  } catch {
    // Not a URL we can rewrite; share it as it is.
  }
  return url;
}

/** `url` on the plain LAN address instead of the `.local` name (the fallback shown beside it). */
function plainUrl(url: string, shell: Shell): string {
  const plain = shell.server?.viewer_urls.find((u) => !/\/\/(127\.|localhost|\[::1\])/.test(u) && !/\.local[:/]/.test(u));
  if (!plain) return url;
  try {
    const u = new URL(url);
    if (!u.hostname.endsWith(".local")) return url;
    u.host = new URL(plain).host;
    return u.toString();
  } catch {
    return url;
  }
}

type Panel = (root: HTMLElement, shell: Shell, c: ContentView) => Cleanup;

const PANELS: Record<string, Panel> = {
  overview: overviewPanel,
  logs: logsPanel,
  processes: processesPanel,
  versions: versionsPanel,
  renders: rendersPanel,
  usage: usagePanel,
  settings: mountItemSettings,
};

function overviewPanel(root: HTMLElement, shell: Shell, c: ContentView): Cleanup {
  const kind = runtimeKind(c.app_mode);
  const facts = h("dl", { class: "facts" },
    h("dt", {}, "Runs as"), h("dd", {}, kind === "static" ? "Static files, always available" : kind === "rendered" ? "A rendered document" : "A live app, started on the first visit and stopped when idle"),
    h("dt", {}, "Entry point"), h("dd", {}, c.entrypoint ?? "—"),
    h("dt", {}, "Version"), h("dd", {}, c.bundle_id ? `#${c.bundle_id}` : "—"),
    h("dt", {}, "Created"), h("dd", {}, formatWhen(c.created_time)),
  );
  // Whether Porch keeps the computer awake for this item now (a viewer, a render, a due
  // schedule), read again every few seconds while the tab is open.
  const awakeLine = h("p", { class: "note small", role: "status", hidden: true, "data-testid": "keep-awake-item" });
  const paintAwake = () =>
    void serverView().then((s) => {
      const text = awake.forItem(s.keep_awake, c.guid);
      awakeLine.textContent = text ?? "";
      awakeLine.hidden = text === null;
    }, () => {});
  paintAwake();
  const stopAwake = everyWhileVisible(paintAwake, 10_000);
  root.replaceChildren(facts, awakeLine);
  if (c.bundle_id) root.append(galleryCard(c));
  if (kind === "rendered") {
    const box = h("div", { class: "card", "data-testid": "schedule-summary" }, h("h2", {}, "Schedule"), h("p", { class: "muted" }, "Loading…"));
    root.append(box);
    void api.schedules(c.guid).then(
      (ss) => {
        box.replaceChildren(
          h("h2", {}, "Schedule"),
          ss.length === 0
            ? h("p", { class: "muted" }, "Not scheduled. Add a schedule in Settings to re-render it regularly.")
            : h("ul", {}, ...ss.map((s) => h("li", {}, describe(fromView(s)), s.enabled ? "" : " (paused)", s.next_run ? ` — next ${formatWhen(s.next_run)}` : ""))),
          h("a", { href: `#/item/${encodeURIComponent(c.guid)}/settings` }, "Edit schedule"),
        );
      },
      (err) => box.replaceChildren(ErrorNote(err)),
    );
  }
  void shell;
  return stopAwake;
}

function logsPanel(root: HTMLElement, _shell: Shell, c: ContentView): Cleanup {
  const abort = new AbortController();
  let text = "";
  let filter = "";
  const pre = h("pre", { class: "log log-tall", "data-testid": "log", tabindex: "0", "aria-label": "Process log" });
  const search = h("input", { type: "search", id: "log-search", placeholder: "Filter lines", "data-testid": "log-search", oninput: (e: Event) => ((filter = (e.target as HTMLInputElement).value), paint()) }) as HTMLInputElement;
  const follow = h("input", { type: "checkbox", id: "log-follow", checked: true }) as HTMLInputElement;
  const status = h("span", { class: "muted small", "data-testid": "log-status" }, "Connecting…");
  const paint = () => {
    const lines = text.split("\n");
    const shown = filter ? lines.filter((l) => l.toLowerCase().includes(filter.toLowerCase())) : lines;
    pre.textContent = shown.join("\n");
    if (follow.checked) pre.scrollTop = pre.scrollHeight;
  };
  root.replaceChildren(
    h("div", { class: "toolbar" }, h("label", { for: "log-search", class: "sr-only" }, "Filter lines"), search, h("label", { class: "check" }, follow, " Follow"), h("div", { class: "spacer" }), status),
    pre,
    h("p", { class: "muted small" }, "Output of the app's processes (most recent 500 lines, then live)."),
  );
  void followText(api.logFollowPath(c.guid), (chunk) => {
    text += chunk;
    // Keep the page light: the last 5000 lines.
    const lines = text.split("\n");
    if (lines.length > 5000) text = lines.slice(-5000).join("\n");
    status.textContent = "Live";
    paint();
  }, abort.signal, () => api.logTail(c.guid)).then(
    () => (status.textContent = "Stream ended"),
    (err) => !abort.signal.aborted && root.prepend(ErrorNote(err, "The log stream stopped")),
  );
  status.textContent = "Live";
  return () => abort.abort();
}

function processesPanel(root: HTMLElement, _shell: Shell, c: ContentView): Cleanup {
  let alive = true;
  const table = h("div", {});
  const helper = h("div", { class: "subsection", hidden: true, "data-testid": "item-python-helper" });
  // Titles of the other items a helper serves, read once (when one does).
  let titles: Promise<Map<string, string>> | null = null;
  const paintHelper = async () => {
    // A nicety beside the workers: an older server or a failed read shows nothing.
    const mine = (await pythonHelpers().catch(() => [])).filter((x) => x.items.includes(c.guid));
    if (mine.some((x) => x.items.some((g) => g !== c.guid))) {
      titles ??= api.listContent().then((cs) => new Map(cs.map((x) => [x.guid, x.title || x.name])), () => new Map());
    }
    const names = titles ? await titles : new Map<string, string>();
    if (!alive) return;
    helper.hidden = mine.length === 0;
    helper.replaceChildren(
      h("h2", {}, "Python helper"),
      h("p", { class: "muted small" }, "A Python process of this app's environment with its framework already imported: new processes of the apps it serves start from it in a fraction of a second."),
      PythonHelpers(mine, (g) => (g === c.guid ? "This app" : h("a", { href: `#/item/${encodeURIComponent(g)}/processes` }, names.get(g) ?? g))),
      h("p", { class: "muted small" }, HELPER_MEMORY_NOTE),
    );
  };
  const paint = async () => {
    void paintHelper();
    try {
      const js = await api.jobs(c.guid);
      if (!alive) return;
      table.replaceChildren(
        js.length === 0
          ? h("p", { class: "muted", "data-testid": "no-processes" }, "No process is running. The app starts when someone opens it.")
          : h(
              "table",
              { class: "grid", "data-testid": "processes" },
              h("thead", {}, h("tr", {}, ...["PID", "State", "Connections", "Version", "Up for", ""].map((t) => h("th", {}, t)))),
              h("tbody", {}, ...js.map((j) =>
                h("tr", { "data-testid": "process-row" },
                  h("td", {}, String(j.pid)), h("td", {}, j.state), h("td", {}, String(j.connections)), h("td", {}, `#${j.bundle_id}`), h("td", {}, `${j.uptime_secs} s`),
                  h("td", {}, button("Kill", () => void api.killJob(c.guid, j.key).then(() => (toast(`Process ${j.pid} stopped`), paint()), (e) => toast(toApiError(e).message, "error")), { kind: "danger", testid: "kill" })),
                ),
              )),
            ),
      );
    } catch (err) {
      table.replaceChildren(ErrorNote(err));
    }
  };
  root.replaceChildren(
    h("div", { class: "toolbar" }, button("Restart", () => void api.restart(c.guid).then(() => (toast("Restarting"), paint()), (e) => toast(toApiError(e).message, "error")), { testid: "restart" }), button("Refresh", () => void paint(), { kind: "quiet" })),
    table,
    helper,
  );
  void paint();
  const stop = everyWhileVisible(() => void paint(), 5000);
  return () => {
    alive = false;
    stop();
  };
}

function versionsPanel(root: HTMLElement, _shell: Shell, c: ContentView): Cleanup {
  const paint = async () => {
    try {
      const bs = await api.bundles(c.guid);
      root.replaceChildren(
        h("p", { class: "muted small" }, "Every deploy is kept. Rolling back serves an older version again (it becomes the active one)."),
        h(
          "table",
          { class: "grid", "data-testid": "versions" },
          h("thead", {}, h("tr", {}, ...["Version", "Deployed", "Size", ""].map((t) => h("th", {}, t)))),
          h("tbody", {}, ...bs.map((b) =>
            h("tr", { "data-testid": "version-row", "data-bundle": b.id, "data-active": String(b.active) },
              h("td", {}, `#${b.id}`), h("td", {}, formatWhen(b.created_time)), h("td", {}, formatBytes(b.size)),
              h("td", {}, b.active ? h("span", { class: "pill pill-ok" }, "Active") : button("Roll back to this", () => void rollback(b.id), { testid: "rollback" })),
            ),
          )),
        ),
      );
    } catch (err) {
      root.replaceChildren(ErrorNote(err));
    }
  };
  const rollback = async (id: string) => {
    try {
      const { task_id } = await api.deployBundle(c.guid, id);
      const t = await api.followTask(task_id, () => {});
      if (t.code !== 0 || t.error) throw new Error(t.error);
      toast(`Version #${id} is live again`);
    } catch (err) {
      toast(`Rollback failed: ${toApiError(err).message}`, "error");
    }
    void paint();
  };
  void paint();
  return () => {};
}

function rendersPanel(root: HTMLElement, shell: Shell, c: ContentView): Cleanup {
  const list = h("div", {});
  const logBox = h("pre", { class: "log", hidden: true, "data-testid": "render-log" });
  const paint = async () => {
    try {
      const rs = await api.renders(c.guid);
      list.replaceChildren(
        rs.length === 0
          ? h("p", { class: "muted" }, "No renders yet.")
          : h("table", { class: "grid", "data-testid": "renders" },
              h("thead", {}, h("tr", {}, ...["Started", "Trigger", "Status", "Output", ""].map((t) => h("th", {}, t)))),
              h("tbody", {}, ...rs.map((r) =>
                h("tr", { "data-testid": "render-row" },
                  h("td", {}, formatWhen(r.started_time)), h("td", {}, r.trigger),
                  h("td", {}, h("span", { class: `pill pill-${r.status === "success" ? "ok" : r.status === "failed" ? "err" : "info"}` }, r.status), r.current ? h("span", { class: "pill pill-info" }, "Shown to viewers") : null, r.error ? h("div", { class: "small field-error" }, r.error) : null),
                  h("td", {}, r.output_size ? formatBytes(r.output_size) : "—"),
                  h("td", { class: "row-actions" },
                    r.url ? button("Open", () => shell.open(r.url as string)) : null,
                    button("Log", () => void api.renderLog(c.guid, r.id).then((t) => ((logBox.textContent = t), (logBox.hidden = false)), (e) => toast(toApiError(e).message, "error")), { kind: "quiet" }),
                  ),
                ),
              )),
            ),
      );
    } catch (err) {
      list.replaceChildren(ErrorNote(err));
    }
  };
  // One click, one render: the button waits for Porch's answer before it takes another.
  const renderNow = button("Render now", () => {
    renderNow.disabled = true;
    void api
      .renderNow(c.guid)
      .then(() => (toast("Render started"), paint()), (e) => toast(toApiError(e).message, "error"))
      .finally(() => (renderNow.disabled = false));
  }, { kind: "primary", testid: "render-now" }) as HTMLButtonElement;
  root.replaceChildren(
    h("div", { class: "toolbar" }, renderNow),
    list,
    logBox,
  );
  void paint();
  let alive = true;
  let unsub: (() => void) | null = null;
  void subscribe((ev) => {
    if ("guid" in ev && ev.guid !== c.guid) return;
    void paint();
  }).then((u) => (alive ? (unsub = u) : u()));
  return () => {
    alive = false;
    unsub?.();
  };
}
