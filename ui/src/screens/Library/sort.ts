// The library's orders: as published (the engine's order), by name, by last deploy, by last
// view and by views in the last 30 days. Usage comes from one call (`GET /porch/usage`) for
// every item; an item missing from it was never viewed (or not since its events were folded
// away, which keeps its last view: the engine reports that too).

import type { ContentView, UsageLatestView } from "../../api/types";

export type LibrarySort = "published" | "name" | "deployed" | "viewed" | "views";

/** The choices of the sort menu, in the order shown. */
export const SORTS: [LibrarySort, string][] = [
  ["published", "Order published"],
  ["name", "Name"],
  ["deployed", "Last deployed"],
  ["viewed", "Last viewed"],
  ["views", "Most viewed (30 days)"],
];

export function isSort(s: string | null | undefined): s is LibrarySort {
  return SORTS.some(([id]) => id === s);
}

/** Milliseconds of an RFC 3339 time, or -Infinity when absent or unreadable (sorts last). */
function ms(iso: string | null | undefined): number {
  if (!iso) return -Infinity;
  const t = Date.parse(iso.replace(/\[.*\]$/, ""));
  return Number.isNaN(t) ? -Infinity : t;
}

const titleOf = (c: ContentView) => (c.title && c.title.trim() !== "" ? c.title : c.name);

/**
 * The items in the chosen order; a new array, the input is left alone. Every order is
 * stable, and ties (and items without the number sorted on) keep the engine's order.
 */
export function sortItems(items: ContentView[], sort: LibrarySort, usage: ReadonlyMap<string, UsageLatestView>): ContentView[] {
  const indexed = items.map((c, i) => ({ c, i }));
  const by = (key: (c: ContentView) => number) => (a: { c: ContentView; i: number }, b: { c: ContentView; i: number }) => {
    const ka = key(a.c);
    const kb = key(b.c);
    if (ka !== kb) return kb > ka ? 1 : -1; // larger first
    return a.i - b.i;
  };
  switch (sort) {
    case "published":
      return items.slice();
    case "name":
      indexed.sort((a, b) => titleOf(a.c).localeCompare(titleOf(b.c), undefined, { sensitivity: "base", numeric: true }) || a.i - b.i);
      break;
    case "deployed":
      indexed.sort(by((c) => ms(c.last_deployed_time)));
      break;
    case "viewed":
      indexed.sort(by((c) => ms(usage.get(c.guid)?.last_viewed)));
      break;
    case "views":
      indexed.sort((a, b) => {
        const va = usage.get(a.c.guid)?.views_30d ?? 0;
        const vb = usage.get(b.c.guid)?.views_30d ?? 0;
        if (va !== vb) return vb - va;
        return by((c) => ms(usage.get(c.guid)?.last_viewed))(a, b);
      });
      break;
  }
  return indexed.map((x) => x.c);
}

/** "12 views" / "1 session" for a card; null when there were none (the card says nothing). */
export function recentUse(u: UsageLatestView | undefined, interactive: boolean): string | null {
  const n = u?.views_30d ?? 0;
  if (n === 0) return null;
  const noun = interactive ? (n === 1 ? "session" : "sessions") : n === 1 ? "view" : "views";
  return `${n.toLocaleString()} ${noun} in 30 days`;
}
