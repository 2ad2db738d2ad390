// Promotion to a Posit Connect server (`/__api__/porch/targets`, `…/promote`,
// `…/promotions/{task}`): saved targets, starting a promotion and reading its report. The
// promotion itself is an engine task, followed like a deploy with `followTask`.

import { request } from "./client";
import type { PromotionReport, TargetView, TaskAccepted } from "./types";

const P = "/__api__/porch";
const enc = encodeURIComponent;

/** Saved targets (never their keys). */
export const targets = () => request<TargetView[]>("GET", `${P}/targets`);

/** Saves a target; the key is stored by the engine (0600) and never shown again. */
export const addTarget = (name: string, url: string, apiKey: string, caFile: string | null) =>
  request<TargetView>("POST", `${P}/targets`, { json: { name, url, api_key: apiKey, ca_file: caFile } });

export const removeTarget = (name: string) => request<void>("DELETE", `${P}/targets/${enc(name)}`);

export interface PromoteChoices {
  to: string;
  draft: boolean;
  replace: boolean;
  dry_run: boolean;
}

/** Starts promoting an item; answers the task that runs it. */
export const promote = (guid: string, choices: PromoteChoices) =>
  request<TaskAccepted>("POST", `${P}/content/${enc(guid)}/promote`, { json: choices });

/** What a promotion carried over, what it did not, and its checklist. */
export const report = (taskId: string) => request<PromotionReport>("GET", `${P}/promotions/${enc(taskId)}`);
