// Typed calls of the reachability checks (`porch doctor` in the window) and the phone test.

import { request } from "./client";
import type { PhoneState, PhoneTest, ReachReport } from "./types";

const P = "/__api__/porch/reach";

/** Runs every check (takes a few seconds: it connects, resolves and reads the firewall). */
export const reachReport = () => request<ReachReport>("GET", P);
/** Starts a one-time phone test (refused with the reason while no other device can open it). */
export const startPhoneTest = () => request<PhoneTest>("POST", `${P}/phone`);
/**
 * The test's state, waiting up to `wait` seconds for it to change: another device opens it,
 * it ends, or (unless `here` says the caller knows already) this computer opens it.
 */
export const phoneState = (token: string, here = false, wait = 25) =>
  request<PhoneState>("GET", `${P}/phone/${encodeURIComponent(token)}?wait=${wait}${here ? "&here=true" : ""}`);
