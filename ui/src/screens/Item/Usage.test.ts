import { describe, expect, it } from "vitest";
import type { UsageDayView, UsageReport } from "../../api/types";
import { BOX, describeChart, formatDay, formatDuration, layoutBars, metricOf, niceMax, usageChart, usageView } from "./Usage";

const day = (d: string, views = 0, sessions = 0, devices = 0): UsageDayView => ({ day: d, views, sessions, devices });
const week = [day("2026-11-29"), day("2026-11-30", 3, 0, 2), day("2026-12-01"), day("2026-12-02", 1, 0, 1), day("2026-12-03", 10, 0, 4), day("2026-12-04"), day("2026-12-05", 2, 0, 1)];
const report = (over: Partial<UsageReport> = {}): UsageReport => ({
  guid: "g", recording: true, days: week, views: 16, sessions: 0, unique_devices: 5, median_session_secs: null, last_viewed: "2026-12-05T10:00:00Z", ...over,
});

describe("niceMax", () => {
  it("rounds up to 1, 2 or 5 times a power of ten", () => {
    expect([0, 1, 2, 3, 7, 10, 11, 23, 60, 101, 4999].map(niceMax)).toEqual([1, 1, 2, 5, 10, 10, 20, 50, 100, 200, 5000]);
    expect(niceMax(Number.NaN)).toBe(1);
  });
});

describe("layoutBars", () => {
  it("scales bars to the nice top, one slot per day, in the plot box", () => {
    const { bars, max } = layoutBars(week, "views");
    expect(max).toBe(10);
    expect(bars).toHaveLength(7);
    const plotH = BOX.height - BOX.top - BOX.bottom;
    const floor = BOX.top + plotH;
    expect(bars[4].height).toBeCloseTo(plotH);
    expect(bars[1].height).toBeCloseTo(plotH * 0.3);
    expect(bars[0].height).toBe(0);
    for (const b of bars) {
      expect(b.y + b.height).toBeCloseTo(floor);
      expect(b.x).toBeGreaterThanOrEqual(BOX.left);
      expect(b.x + b.width).toBeLessThanOrEqual(BOX.width - BOX.right);
    }
    for (let i = 1; i < bars.length; i++) expect(bars[i].x).toBeGreaterThan(bars[i - 1].x + bars[i - 1].width);
  });

  it("keeps a day with one view visible next to a busy day", () => {
    const { bars } = layoutBars([day("2026-12-01", 1), day("2026-12-02", 5000)], "views");
    expect(bars[0].height).toBeGreaterThanOrEqual(2);
  });

  it("reads sessions for apps", () => {
    expect(metricOf("python-streamlit")).toBe("sessions");
    expect(metricOf("static")).toBe("views");
    expect(metricOf("quarto-static")).toBe("views");
    const { bars, max } = layoutBars([day("2026-12-01", 9, 2)], "sessions");
    expect([max, bars[0].value]).toEqual([2, 2]);
  });

  it("draws ninety days without overlapping bars", () => {
    const days = Array.from({ length: 90 }, (_, i) => day(`2026-09-${String((i % 28) + 1).padStart(2, "0")}`, i));
    const { bars } = layoutBars(days, "views");
    for (let i = 1; i < bars.length; i++) expect(bars[i].x).toBeGreaterThanOrEqual(bars[i - 1].x + bars[i - 1].width);
  });
});

describe("formatting", () => {
  it("formats session lengths", () => {
    expect([null, undefined, -1, 0, 44.6, 60, 200, 3600, 3900, 7199].map(formatDuration)).toEqual(["—", "—", "—", "0 s", "45 s", "1 min", "3 min 20 s", "1 h", "1 h 5 min", "2 h"]);
  });

  it("names UTC days without shifting them", () => {
    expect(formatDay("2026-12-05", "en-GB")).toBe("5 Dec");
    expect(formatDay("nonsense", "en-GB")).toBe("nonsense");
  });

  it("summarises the chart in words", () => {
    expect(describeChart(week, "views", "en-GB")).toBe("Page views per day over the last 7 days: 16 views in total on 4 days, most on 3 Dec (10).");
    expect(describeChart([day("2026-12-05")], "sessions")).toBe("App sessions per day over the last 1 day: none.");
  });
});

describe("the chart and the tab", () => {
  it("is one image named by its summary, a titled bar per day", () => {
    const el = usageChart(week, "views");
    expect(el.getAttribute("role")).toBe("img");
    expect(el.getAttribute("aria-label")).toContain("16 views in total");
    expect(el.querySelectorAll("rect.bar")).toHaveLength(7);
    expect(el.querySelector('rect[data-day="2026-12-03"] title')?.textContent).toContain("10 views");
  });

  it("shows the figures, the chart and a table with the same numbers", () => {
    const root = document.createElement("div");
    root.append(...usageView(report(), "views"));
    expect(root.querySelector('[data-testid="usage-total"]')?.textContent).toBe("16");
    expect(root.querySelector('[data-testid="usage-devices"]')?.textContent).toBe("5");
    expect(root.querySelector('[data-testid="usage-median"]')).toBeNull();
    expect(root.querySelectorAll('[data-testid="usage-table"] tbody tr')).toHaveLength(7);
    expect(root.querySelector('[data-testid="usage-chart"]')).not.toBeNull();
  });

  it("shows the median session for apps", () => {
    const root = document.createElement("div");
    root.append(...usageView(report({ views: 0, sessions: 3, median_session_secs: 95, days: [day("2026-12-05", 0, 3, 2)] }), "sessions"));
    expect(root.querySelector('[data-testid="usage-median"]')?.textContent).toBe("1 min 35 s");
    expect(root.querySelector('[data-testid="usage-total"]')?.textContent).toBe("3");
  });

  it("says where to turn usage on when it is off and nothing was counted", () => {
    const root = document.createElement("div");
    root.append(...usageView(report({ recording: false, views: 0, last_viewed: null, days: [day("2026-12-05")] }), "views"));
    const off = root.querySelector('[data-testid="usage-off"]');
    expect(off?.textContent).toContain("not being recorded");
    expect(off?.querySelector("a")?.getAttribute("href")).toBe("#/settings");
    expect(root.querySelector('[data-testid="usage-chart"]')).toBeNull();
  });

  it("keeps showing earlier numbers when recording was turned off", () => {
    const root = document.createElement("div");
    root.append(...usageView(report({ recording: false }), "views"));
    expect(root.querySelector('[data-testid="usage-paused"]')).not.toBeNull();
    expect(root.querySelector('[data-testid="usage-chart"]')).not.toBeNull();
  });

  it("says never, and what counts, before the first view", () => {
    const root = document.createElement("div");
    root.append(...usageView(report({ views: 0, unique_devices: 0, last_viewed: null, days: [day("2026-12-05")] }), "views"));
    expect(root.querySelector('[data-testid="usage-last"]')?.textContent).toBe("never");
    expect(root.querySelector('[data-testid="usage-empty"]')?.textContent).toContain("No views yet");
    expect(root.querySelector('[data-testid="usage-chart"]')).toBeNull();
  });
});
