// The item's Usage tab: page views (static and rendered items) or app sessions (apps) per
// day as a bar chart drawn by hand in SVG, with unique devices, the median session (apps)
// and the last view; a period of 7, 30 or 90 days. The chart is one `role="img"` with a
// summary as its label, and the same numbers are in a table for screen readers. When usage
// is off it says where to turn it on; when nothing was counted yet, it says what counts.
//
// Recording is batched off the request path (a few seconds) and sends no events, so the
// tab reads the report again every 15 s while it is open, and on "Refresh".

import type { ContentView, UsageDayView, UsageReport } from "../../api/types";
import { itemUsage } from "../../api/usage";
import type { Cleanup, Shell } from "../../app";
import { button, h, svg } from "../../components/dom";
import { ErrorNote } from "../../components/ErrorNote";
import { formatWhen, runtimeKind } from "../../lib/format";
import { everyWhileVisible } from "../../lib/visible";

/** What is counted for an item: sessions for apps, page views for everything else. */
export type Metric = "views" | "sessions";

export function metricOf(appMode: string): Metric {
  return runtimeKind(appMode) === "interactive" ? "sessions" : "views";
}

/** The periods offered, in days. */
export const PERIODS = [7, 30, 90] as const;
let lastPeriod = 30;

/** The smallest 1, 2 or 5 times a power of ten at or above `n` (at least 1): the chart's top. */
export function niceMax(n: number): number {
  if (!(n > 1)) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

/** The chart's drawing box (SVG user units; it scales to the panel's width). */
export const BOX = { width: 720, height: 200, left: 40, right: 8, top: 10, bottom: 26 };

export interface Bar {
  day: string;
  value: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Where each day's bar goes. A day with something is at least 2 units tall, so it shows. */
export function layoutBars(days: UsageDayView[], metric: Metric, box = BOX): { bars: Bar[]; max: number } {
  const values = days.map((d) => d[metric]);
  const max = niceMax(Math.max(0, ...values));
  const plotW = box.width - box.left - box.right;
  const plotH = box.height - box.top - box.bottom;
  const slot = days.length > 0 ? plotW / days.length : plotW;
  const gap = Math.min(Math.max(slot * 0.2, 1), 8);
  const bars = days.map((d, i) => {
    const value = d[metric];
    const height = value > 0 ? Math.max(2, (value / max) * plotH) : 0;
    return { day: d.day, value, x: box.left + i * slot + gap / 2, y: box.top + plotH - height, width: Math.max(slot - gap, 1), height };
  });
  return { bars, max };
}

/** "5 Dec" for a `YYYY-MM-DD` day (the engine's days are UTC days). */
export function formatDay(day: string, locale?: string): string {
  const t = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(t.getTime())) return day;
  return t.toLocaleDateString(locale, { day: "numeric", month: "short", timeZone: "UTC" });
}

/** A session length: "45 s", "3 min 20 s", "1 h 5 min"; "—" when there is none. */
export function formatDuration(secs: number | null | undefined): string {
  if (secs === null || secs === undefined || !Number.isFinite(secs) || secs < 0) return "—";
  const s = Math.round(secs);
  if (s < 60) return `${s} s`;
  if (s < 3600) {
    const rest = s % 60;
    return rest === 0 ? `${Math.floor(s / 60)} min` : `${Math.floor(s / 60)} min ${rest} s`;
  }
  const m = Math.round(s / 60);
  const rest = m % 60;
  return rest === 0 ? `${Math.floor(m / 60)} h` : `${Math.floor(m / 60)} h ${rest} min`;
}

const noun = (metric: Metric, n: number) => (metric === "views" ? (n === 1 ? "view" : "views") : n === 1 ? "session" : "sessions");
const count = (metric: Metric, n: number) => `${n.toLocaleString()} ${noun(metric, n)}`;

/** What the chart shows, in words: its accessible name. */
export function describeChart(days: UsageDayView[], metric: Metric, locale?: string): string {
  const what = metric === "views" ? "Page views" : "App sessions";
  const total = days.reduce((n, d) => n + d[metric], 0);
  const head = `${what} per day over the last ${days.length} ${days.length === 1 ? "day" : "days"}`;
  if (total === 0) return `${head}: none.`;
  const best = days.reduce((a, d) => (d[metric] > a[metric] ? d : a), days[0]);
  const active = days.filter((d) => d[metric] > 0).length;
  return `${head}: ${count(metric, total)} in total on ${active} ${active === 1 ? "day" : "days"}, most on ${formatDay(best.day, locale)} (${best[metric].toLocaleString()}).`;
}

/** The bar chart: one image with a summary for its name, a tooltip on each bar. */
export function usageChart(days: UsageDayView[], metric: Metric): SVGElement {
  const { bars, max } = layoutBars(days, metric);
  const b = BOX;
  const bottom = b.height - b.bottom;
  const plotH = b.height - b.top - b.bottom;
  const ticks = [0, max / 2, max].filter((v) => Number.isInteger(v));
  const labelEvery = days.length <= 7 ? 1 : days.length <= 31 ? 7 : 14;
  return svg(
    "svg",
    { class: "usage-chart", viewBox: `0 0 ${b.width} ${b.height}`, role: "img", "aria-label": describeChart(days, metric), "data-testid": "usage-chart" },
    ...ticks.map((v) => {
      const y = b.top + plotH - (v / max) * plotH;
      return svg("g", { class: "tick" },
        svg("line", { x1: b.left, x2: b.width - b.right, y1: y, y2: y, class: v === 0 ? "axis" : "grid" }),
        svg("text", { x: b.left - 6, y: y + 4, "text-anchor": "end" }, v.toLocaleString()),
      );
    }),
    ...bars.map((bar) =>
      svg("rect", { class: "bar", x: bar.x.toFixed(2), y: bar.y.toFixed(2), width: bar.width.toFixed(2), height: bar.height.toFixed(2), rx: Math.min(2, bar.width / 4).toFixed(2), "data-day": bar.day, "data-value": bar.value },
        svg("title", {}, `${formatDay(bar.day)}: ${count(metric, bar.value)}`)),
    ),
    // Day labels, counted back from today so the last bar is always labelled.
    ...bars
      .filter((_, i) => (bars.length - 1 - i) % labelEvery === 0)
      .map((bar) => svg("text", { class: "day", x: (bar.x + bar.width / 2).toFixed(2), y: bottom + 18, "text-anchor": "middle" }, formatDay(bar.day))),
  );
}

/** The chart's numbers as a table, for screen readers (hidden on screen). */
function usageTable(days: UsageDayView[], metric: Metric): HTMLElement {
  return h(
    "table",
    { class: "sr-only", "data-testid": "usage-table" },
    h("caption", {}, `${metric === "views" ? "Page views" : "App sessions"} and devices per day`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"), h("th", { scope: "col" }, metric === "views" ? "Views" : "Sessions"), h("th", { scope: "col" }, "Devices"))),
    h("tbody", {}, ...days.map((d) => h("tr", {}, h("th", { scope: "row" }, formatDay(d.day)), h("td", {}, String(d[metric])), h("td", {}, String(d.devices))))),
  );
}

function stat(label: string, value: string, testid: string): HTMLElement {
  return h("div", { class: "stat" }, h("dt", {}, label), h("dd", { "data-testid": testid }, value));
}

/** The tab's content for one report. */
export function usageView(r: UsageReport, metric: Metric): HTMLElement[] {
  const total = metric === "views" ? r.views : r.sessions;
  const settingsLink = h("a", { href: "#/settings" }, "Settings → Usage → Record usage");
  if (!r.recording && total === 0 && r.last_viewed === null) {
    return [
      h("div", { class: "note", "data-testid": "usage-off" },
        h("p", {}, h("strong", {}, "Usage is not being recorded."), " Turn it on in ", settingsLink, " to count page views and app sessions."),
        h("p", { class: "small muted" }, "Porch keeps no addresses, names or user agents: a viewer is a random cookie."),
      ),
    ];
  }
  const period = r.days.length;
  const out: HTMLElement[] = [];
  if (!r.recording) out.push(h("p", { class: "note", "data-testid": "usage-paused" }, "Usage is not being recorded now; these are the numbers from before. Turn it back on in ", settingsLink, "."));
  out.push(
    h("dl", { class: "usage-stats" },
      stat(metric === "views" ? `Views, last ${period} days` : `Sessions, last ${period} days`, total.toLocaleString(), "usage-total"),
      stat("Unique devices", r.unique_devices.toLocaleString(), "usage-devices"),
      metric === "sessions" ? stat("Median session", formatDuration(r.median_session_secs), "usage-median") : null,
      stat("Last viewed", r.last_viewed ? formatWhen(r.last_viewed) : "never", "usage-last"),
    ),
  );
  if (total === 0) {
    out.push(
      h("p", { class: "muted", "data-testid": "usage-empty" },
        r.last_viewed === null
          ? `No ${noun(metric, 0)} yet. ${metric === "views" ? "A view is one page opened in a browser" : "A session is one visit to the app"}; your own previews, Porch's pictures and API calls are not counted.`
          : `No ${noun(metric, 0)} in the last ${period} days.`,
      ),
    );
  } else {
    out.push(h("figure", { class: "card usage-figure" }, usageChart(r.days, metric), usageTable(r.days, metric)));
  }
  return out;
}

export function usagePanel(root: HTMLElement, _shell: Shell, c: ContentView): Cleanup {
  const metric = metricOf(c.app_mode);
  let alive = true;
  let period = lastPeriod;
  const body = h("div", { "data-testid": "usage-body" }, h("p", { class: "muted loading" }, "Loading…"));
  const select = h(
    "select",
    {
      id: "usage-period",
      "data-testid": "usage-period",
      onchange: (e: Event) => {
        period = lastPeriod = Number((e.target as HTMLSelectElement).value) || 30;
        void paint();
      },
    },
    ...PERIODS.map((d) => h("option", { value: String(d), selected: d === period }, `Last ${d} days`)),
  );
  // The latest read wins (a period change during a refresh); an unchanged report is not
  // redrawn, so the timer does not disturb a reader.
  let asked = 0;
  let shown = "";
  const paint = async () => {
    const mine = ++asked;
    try {
      const r = await itemUsage(c.guid, period);
      const key = JSON.stringify(r);
      if (!alive || mine !== asked || key === shown) return;
      shown = key;
      body.replaceChildren(...usageView(r, metric));
    } catch (err) {
      if (!alive || mine !== asked) return;
      shown = "";
      body.replaceChildren(ErrorNote(err, "Usage could not be read"));
    }
  };
  root.replaceChildren(
    h("div", { class: "toolbar" },
      h("label", { for: "usage-period", class: "sr-only" }, "Period"),
      select,
      h("div", { class: "spacer" }),
      button("Refresh", () => void paint(), { kind: "quiet", testid: "usage-refresh" }),
    ),
    body,
  );
  void paint();
  const stop = everyWhileVisible(() => void paint(), 15_000);
  return () => {
    alive = false;
    stop();
  };
}
