// The Library: every item with its type, title, status, viewer URL and views in the last 30
// days; search, filter and sort (as published, name, last deployed, last viewed, most viewed);
// kept live by the engine's event stream. Clicking an item opens its page. Usage comes from
// one call for the whole library (`GET /porch/usage`), fetched with the list; usage writes
// send no events, so the counts are as fresh as the last refresh.

import { toApiError } from "../../api/client";
import { jobs, listContent, renders, schedules } from "../../api/content";
import { subscribe } from "../../api/events";
import type { ContentView, UsageLatestView } from "../../api/types";
import { latestUsage } from "../../api/usage";
import type { Cleanup, Shell } from "../../app";
import { h } from "../../components/dom";
import { EmptyState, sampleSite } from "../../components/EmptyState";
import { ErrorNote } from "../../components/ErrorNote";
import { formatWhen, matches, modeIcon, modeLabel, runtimeKind } from "../../lib/format";
import { isSort, type LibrarySort, recentUse, SORTS, sortItems } from "./sort";

type Filter = "all" | "interactive" | "rendered" | "static";

/** The sort chosen last (kept in this browser, like the API key). */
const SORT_KEY = "porch.librarySort";
function savedSort(): LibrarySort {
  try {
    const s = localStorage.getItem(SORT_KEY);
    return isSort(s) ? s : "published";
  } catch {
    return "published";
  }
}

/** What the status column says about one item. */
interface Status {
  text: string;
  kind: "ok" | "idle" | "failed" | "info";
}

export function mountLibrary(root: HTMLElement, shell: Shell): Cleanup {
  let items: ContentView[] | null = null;
  let loadError: unknown = null;
  let query = "";
  let filter: Filter = "all";
  let sort: LibrarySort = savedSort();
  let usage = new Map<string, UsageLatestView>();
  const statuses = new Map<string, Status>();

  const search = h("input", {
    type: "search",
    id: "library-search",
    placeholder: "Search by title, name or type",
    "data-testid": "search",
    oninput: (e: Event) => {
      query = (e.target as HTMLInputElement).value;
      renderList();
    },
  }) as HTMLInputElement;
  const filterSelect = h(
    "select",
    {
      id: "library-filter",
      "data-testid": "filter",
      onchange: (e: Event) => {
        filter = (e.target as HTMLSelectElement).value as Filter;
        renderList();
      },
    },
    h("option", { value: "all" }, "Everything"),
    h("option", { value: "interactive" }, "Apps and APIs"),
    h("option", { value: "rendered" }, "Documents (rendered)"),
    h("option", { value: "static" }, "Static sites"),
  );
  const sortSelect = h(
    "select",
    {
      id: "library-sort",
      "data-testid": "sort",
      onchange: (e: Event) => {
        const v = (e.target as HTMLSelectElement).value;
        sort = isSort(v) ? v : "published";
        try {
          localStorage.setItem(SORT_KEY, sort);
        } catch {
          // Private mode or no storage: the choice lasts until the page is left.
        }
        renderList();
        // Usage writes send no events: sorting by usage reads it afresh.
        if (sort === "viewed" || sort === "views") {
          void latestUsage().then((latest) => {
            usage = new Map(latest.map((u) => [u.guid, u]));
            if (alive) renderList();
          }, () => {});
        }
      },
    },
    ...SORTS.map(([id, label]) => h("option", { value: id, selected: id === sort }, label)),
  );
  const count = h("span", { class: "muted small", "aria-live": "polite" });
  const list = h("div", { class: "library-list" });
  const toolbar = h(
    "div",
    { class: "toolbar" },
    h("h1", { class: "page-title" }, "Library"),
    count,
    h("div", { class: "spacer" }),
    h("label", { for: "library-search", class: "sr-only" }, "Search"),
    search,
    h("label", { for: "library-filter", class: "sr-only" }, "Show"),
    filterSelect,
    h("label", { for: "library-sort", class: "sr-only" }, "Sort by"),
    sortSelect,
  );
  root.replaceChildren(toolbar, list);

  const renderList = () => {
    toolbar.hidden = items !== null && items.length === 0;
    if (items === null) {
      list.replaceChildren(loadError ? ErrorNote(loadError, "The library could not be loaded") : h("p", { class: "muted loading" }, "Loading…"));
      return;
    }
    if (items.length === 0) {
      list.replaceChildren(
        EmptyState(() => {
          const enc = new TextEncoder();
          shell.deployFiles(sampleSite().map((f) => ({ path: `hello-porch/${f.path}`, data: enc.encode(f.text) })), "hello-porch");
        }),
      );
      return;
    }
    const shown = sortItems(
      items.filter((c) => (filter === "all" || runtimeKind(c.app_mode) === filter) && matches(query, c.title, c.name, modeLabel(c.app_mode), c.content_url)),
      sort,
      usage,
    );
    count.textContent = shown.length === items.length ? plural(items.length, "item") : `${shown.length} of ${plural(items.length, "item")}`;
    if (shown.length === 0) {
      list.replaceChildren(h("p", { class: "muted empty-search", "data-testid": "no-match" }, "Nothing matches. Clear the search or pick another filter."));
      return;
    }
    list.replaceChildren(
      h(
        "ul",
        { class: "cards", "data-testid": "content-table" },
        ...shown.map((c) => card(c)),
      ),
      h("p", { class: "muted small hint" }, "Drop another folder or file anywhere to publish it."),
    );
  };

  const card = (c: ContentView): HTMLElement => {
    const status = statuses.get(c.guid);
    const url = c.vanity_url ?? c.content_url;
    const title = c.title && c.title.trim() !== "" ? c.title : c.name;
    const used = recentUse(usage.get(c.guid), runtimeKind(c.app_mode) === "interactive");
    return h(
      "li",
      { class: "card content-card", "data-testid": "content-row", "data-guid": c.guid, "data-name": c.name },
      h("span", { class: `type-icon kind-${runtimeKind(c.app_mode)}`, "aria-hidden": "true" }, modeIcon(c.app_mode)),
      h(
        "div",
        { class: "card-main" },
        h("a", { class: "card-title", href: `#/item/${encodeURIComponent(c.guid)}` }, title),
        h(
          "div",
          { class: "muted small" },
          h("span", { class: "mode" }, modeLabel(c.app_mode)),
          title !== c.name ? ` · ${c.name}` : "",
          ` · deployed ${formatWhen(c.last_deployed_time)}`,
          used ? h("span", { "data-testid": "views-30d" }, ` · ${used}`) : null,
        ),
      ),
      h("div", { class: `status status-${status?.kind ?? "info"}`, "data-testid": "status" }, status?.text ?? ""),
      h(
        "div",
        { class: "card-url small" },
        c.bundle_id ? h("a", { href: url, onclick: (e: Event) => (e.preventDefault(), shell.open(url)) }, url) : h("span", { class: "muted" }, "not deployed"),
      ),
    );
  };

  // Status per item: processes for apps, last render and next run for documents.
  const loadStatus = async (c: ContentView) => {
    const kind = runtimeKind(c.app_mode);
    try {
      if (!c.bundle_id) statuses.set(c.guid, { text: "Not deployed", kind: "idle" });
      else if (kind === "static") statuses.set(c.guid, { text: "Static · always on", kind: "ok" });
      else if (kind === "interactive") {
        const js = await jobs(c.guid);
        statuses.set(c.guid, js.length > 0 ? { text: `Running · ${plural(js.length, "process", "processes")}`, kind: "ok" } : { text: "Idle · starts on first visit", kind: "idle" });
      } else {
        const [rs, ss] = await Promise.all([renders(c.guid), schedules(c.guid)]);
        const last = rs[0];
        const next = ss.filter((s) => s.enabled && s.next_run).map((s) => s.next_run as string).sort()[0];
        const parts = [last ? `Rendered ${formatWhen(last.finished_time ?? last.started_time)}${last.status === "failed" ? " (failed)" : last.status === "running" ? " (running)" : ""}` : "Never rendered"];
        if (next) parts.push(`next ${formatWhen(next)}`);
        statuses.set(c.guid, { text: parts.join(" · "), kind: last?.status === "failed" ? "failed" : "ok" });
      }
    } catch {
      statuses.delete(c.guid);
    }
  };

  // Refetches are coalesced: an event during a fetch schedules exactly one more fetch.
  let fetching = false;
  let again = false;
  let alive = true;
  const refresh = async () => {
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    try {
      do {
        again = false;
        try {
          // Usage is a nicety: the list shows without it (an older server, a failed read).
          const [list, latest] = await Promise.all([listContent(), latestUsage().catch(() => null)]);
          items = list;
          if (latest) usage = new Map(latest.map((u) => [u.guid, u]));
          loadError = null;
        } catch (err) {
          loadError = toApiError(err);
        }
        if (!alive) return;
        renderList();
        if (items) {
          await Promise.all(items.map(loadStatus));
          if (alive) renderList();
        }
      } while (again && alive);
    } finally {
      fetching = false;
    }
  };

  renderList();
  void refresh();
  let unsubscribe: (() => void) | null = null;
  void subscribe(() => void refresh()).then((u) => {
    if (alive) unsubscribe = u;
    else u();
  });
  return () => {
    alive = false;
    unsubscribe?.();
  };
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
