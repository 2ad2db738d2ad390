import { describe, expect, it } from "vitest";
import type { ContentView, UsageLatestView } from "../../api/types";
import { isSort, recentUse, sortItems } from "./sort";

const item = (guid: string, over: Partial<ContentView> = {}): ContentView =>
  ({ guid, name: guid, title: null, app_mode: "static", last_deployed_time: "2026-12-01T10:00:00Z", ...over }) as ContentView;
const used = (guid: string, last_viewed: string, views_30d: number): [string, UsageLatestView] => [guid, { guid, last_viewed, views_30d }];

const items = [
  item("a", { title: "Zebra report", last_deployed_time: "2026-12-03T10:00:00Z" }),
  item("b", { title: "apple app", last_deployed_time: null }),
  item("c", { title: "", name: "mango", last_deployed_time: "2026-12-04T10:00:00Z" }),
  item("d", { title: "Apple 10", last_deployed_time: "2026-12-02T10:00:00Z" }),
];
const usage = new Map([
  used("a", "2026-12-05T09:00:00Z", 3),
  used("c", "2026-12-05T12:00:00Z", 3),
  used("d", "2026-11-01T12:00:00Z", 0),
  used("gone", "2026-12-05T13:00:00Z", 99), // a deleted item: ignored
]);
const order = (sort: Parameters<typeof sortItems>[1]) => sortItems(items, sort, usage).map((c) => c.guid);

describe("sortItems", () => {
  it("keeps the engine's order as published and leaves the input alone", () => {
    expect(order("published")).toEqual(["a", "b", "c", "d"]);
    sortItems(items, "name", usage);
    expect(items.map((c) => c.guid)).toEqual(["a", "b", "c", "d"]);
  });

  it("sorts by title (or name), ignoring case, numbers as numbers", () => {
    expect(order("name")).toEqual(["d", "b", "c", "a"]);
  });

  it("puts the last deployed first and never-deployed last", () => {
    expect(order("deployed")).toEqual(["c", "a", "d", "b"]);
  });

  it("puts the last viewed first and never-viewed last, in the engine's order", () => {
    expect(order("viewed")).toEqual(["c", "a", "d", "b"]);
  });

  it("puts the most viewed in 30 days first; ties go to the more recently viewed", () => {
    expect(order("views")).toEqual(["c", "a", "d", "b"]);
    const more = new Map([...usage, used("a", "2026-12-05T09:00:00Z", 4)]);
    expect(sortItems(items, "views", more).map((c) => c.guid)).toEqual(["a", "c", "d", "b"]);
  });

  it("works without any usage (recording off or never viewed)", () => {
    expect(sortItems(items, "views", new Map()).map((c) => c.guid)).toEqual(["a", "b", "c", "d"]);
    expect(sortItems(items, "viewed", new Map()).map((c) => c.guid)).toEqual(["a", "b", "c", "d"]);
  });

  it("knows its sort names", () => {
    expect(isSort("views")).toBe(true);
    expect(isSort("size")).toBe(false);
    expect(isSort(null)).toBe(false);
  });
});

describe("recentUse", () => {
  it("says views for pages and sessions for apps, nothing for none", () => {
    expect(recentUse(usage.get("a"), false)).toBe("3 views in 30 days");
    expect(recentUse({ guid: "x", last_viewed: "", views_30d: 1 }, true)).toBe("1 session in 30 days");
    expect(recentUse(usage.get("d"), false)).toBeNull();
    expect(recentUse(undefined, false)).toBeNull();
  });
});
