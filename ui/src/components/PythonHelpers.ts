// The pre-imported Python helpers (one per Python environment; `zygote/` in the engine) as
// the Processes views show them: environment, state, pid, memory (PSS), the apps each one
// serves, and when it stops or that an app holds it. Presentational: the caller fetches
// `pythonHelpers()` and says how to name an item.

import type { HelperInfo } from "../api/types";
import { formatBytes, formatWhen } from "../lib/format";
import { type Child, h } from "./dom";

const STATES: Record<string, string> = { ready: "Ready", starting: "Importing", stopped: "Stopped", off: "Off" };

/** A helper's state in words (anything unknown as the engine sent it). */
export function helperState(state: string): string {
  return STATES[state] ?? state;
}

/** When a helper stops, in words. */
export function helperStops(x: HelperInfo): string {
  if (x.held) return "Kept while an app it serves keeps a process running";
  if (x.expires) return `${formatWhen(x.expires)}, unless an app it serves is viewed before`;
  if (x.state === "stopped") return "Starts again with the next start of an app it serves";
  return "—";
}

/** The environment's folder name (the full path is its tooltip). */
function envName(path: string): string {
  return path.replace(/\/+$/, "").split("/").pop() || path;
}

/** A table of helpers; `item` names one served item (a guid) or links to it. */
export function PythonHelpers(helpers: HelperInfo[], item: (guid: string) => Child): HTMLElement {
  return h(
    "table",
    { class: "grid", "data-testid": "python-helpers" },
    h("thead", {}, h("tr", {}, ...["Environment", "State", "PID", "Memory", "Serves", "Stops"].map((t) => h("th", {}, t)))),
    h("tbody", {}, ...helpers.map((x) =>
      h("tr", { "data-testid": "helper-row", "data-state": x.state },
        h("td", {}, h("code", { title: x.environment }, envName(x.environment))),
        h("td", {},
          h("span", { class: `pill pill-${x.state === "ready" ? "ok" : x.state === "off" ? "err" : "info"}`, "data-testid": "helper-state" }, helperState(x.state)),
          x.reason ? h("div", { class: "small muted" }, x.reason) : null,
          x.forks > 0 ? h("div", { class: "small muted" }, `${x.forks} started from it`) : null,
        ),
        h("td", {}, x.pid === null ? "—" : String(x.pid)),
        h("td", { "data-testid": "helper-memory" }, x.pid === null ? "—" : formatBytes(x.memory)),
        h("td", {}, x.items.length === 0 ? "—" : h("ul", { class: "plain" }, ...x.items.map((g) => h("li", {}, item(g))))),
        h("td", { class: "small", "data-testid": "helper-stops" }, helperStops(x)),
      ),
    )),
  );
}

/** What the memory column means (PSS), under the table. */
export const HELPER_MEMORY_NOTE = "Memory is PSS: what a helper shares with the app processes started from it counts by its share.";
