import { describe, expect, it } from "vitest";
import type { HelperInfo } from "../api/types";
import { formatBytes, formatWhen } from "../lib/format";
import { h } from "./dom";
import { helperState, helperStops, PythonHelpers } from "./PythonHelpers";

const helper = (over: Partial<HelperInfo>): HelperInfo => ({
  environment: "/data/envs/py-3f2a9c",
  state: "ready",
  reason: null,
  pid: 4242,
  memory: 31_457_280,
  modules: ["fastapi", "uvicorn"],
  forks: 2,
  items: ["g-api", "g-dash"],
  held: false,
  expires: "2031-05-04T10:20:00Z",
  ...over,
});

const rows = (el: HTMLElement) => [...el.querySelectorAll("[data-testid=helper-row]")].map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent));

describe("PythonHelpers", () => {
  it("shows each helper's environment, state, pid, memory (PSS, as bytes are shown elsewhere), items and expiry", () => {
    const el = PythonHelpers([helper({})], (g) => h("a", { href: `#/item/${g}` }, g === "g-api" ? "Sales API" : "Dashboard"));
    const [row] = rows(el);
    expect(row[0]).toBe("py-3f2a9c");
    expect(el.querySelector("code")?.getAttribute("title")).toBe("/data/envs/py-3f2a9c");
    expect(row[1]).toBe("Ready2 started from it");
    expect(row[2]).toBe("4242");
    expect(row[3]).toBe(formatBytes(31_457_280));
    expect(row[3]).toBe("30.0 MB");
    expect([...el.querySelectorAll("li a")].map((a) => [a.textContent, a.getAttribute("href")])).toEqual([["Sales API", "#/item/g-api"], ["Dashboard", "#/item/g-dash"]]);
    expect(row[5]).toBe(`${formatWhen("2031-05-04T10:20:00Z")}, unless an app it serves is viewed before`);
    expect(el.querySelector("[data-testid=helper-row]")?.getAttribute("data-state")).toBe("ready");
  });

  it("says a held helper stays, and shows no memory or pid for one that does not run", () => {
    expect(helperStops(helper({ held: true, expires: null }))).toMatch(/^Kept while an app it serves keeps a process running/);
    const stopped = helper({ state: "stopped", pid: null, memory: 0, expires: null, forks: 0, items: [] });
    expect(helperStops(stopped)).toMatch(/^Starts again/);
    const [row] = rows(PythonHelpers([stopped], (g) => g));
    expect(row.slice(1)).toEqual(["Stopped", "—", "—", "—", helperStops(stopped)]);
  });

  it("names why a helper is off, and every state in words", () => {
    const off = helper({ state: "off", reason: "unsafe to fork: threads are running", pid: null, memory: 0, expires: null, forks: 0 });
    const el = PythonHelpers([off], (g) => g);
    expect(rows(el)[0][1]).toBe("Offunsafe to fork: threads are running");
    expect(el.querySelector(".pill")?.className).toContain("pill-err");
    expect(helperStops(off)).toBe("—");
    expect(["ready", "starting", "stopped", "off", "new"].map(helperState)).toEqual(["Ready", "Importing", "Stopped", "Off", "new"]);
  });

  it("sets titles as text", () => {
    const el = PythonHelpers([helper({ environment: "<b>x</b>" })], () => "<img src=x onerror=alert(1)>");
    expect(el.querySelector("img")).toBeNull();
    expect(el.querySelector("b")).toBeNull();
  });
});
