// Typed calls about usage: one item's report (its Usage tab) and every item's latest usage
// (the library's sort by last viewed and by views in the last 30 days).

import { request } from "./client";
import type { UsageLatestView, UsageReport } from "./types";

const P = "/__api__/porch";

/** One item's views or sessions per day over the last `days` days (1 to 3650; 30 by default). */
export const itemUsage = (guid: string, days = 30) =>
  request<UsageReport>("GET", `${P}/content/${encodeURIComponent(guid)}/usage?days=${days}`);

/** Every item that was ever viewed: its last view and its views in the last 30 days (one call). */
export const latestUsage = () => request<UsageLatestView[]>("GET", `${P}/usage`);
