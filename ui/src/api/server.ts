// Typed calls about the server itself: addresses, keys, SMTP, dry runs.

import { request } from "./client";
import type { ApiKeyView, BundlePreview, HelperInfo, NewApiKey, NextRun, ServerView, SmtpView } from "./types";

const P = "/__api__/porch";

export const serverView = () => request<ServerView>("GET", `${P}/server`);
/**
 * Saves server settings (`null` puts one back to its default): `port` and `bind` apply at
 * the next start, `allow_remote_publishing` and `runtime_defaults` at once.
 */
export const saveServerSettings = (patch: Record<string, unknown>) => request<ServerView>("PATCH", `${P}/server`, { json: patch });
/** Pauses or resumes serving other computers (this one keeps access). */
export const setSharingPaused = (paused: boolean) => request<ServerView>("PUT", `${P}/sharing`, { json: { paused } });
export const apiKeys = () => request<ApiKeyView[]>("GET", `${P}/keys`);
export const createApiKey = (name: string) => request<NewApiKey>("POST", `${P}/keys`, { json: { name } });
export const revokeApiKey = (id: string) => request<void>("DELETE", `${P}/keys/${encodeURIComponent(id)}`);
/** The pre-imported Python helpers, one per Python environment, with their memory (PSS). */
export const pythonHelpers = () => request<HelperInfo[]>("GET", `${P}/python-helpers`);
export const smtp = () => request<SmtpView>("GET", `${P}/smtp`);
export const putSmtp = (s: Record<string, unknown>) => request<SmtpView>("PUT", `${P}/smtp`, { json: s });

/** What a deploy of this archive would detect; nothing is stored. */
export const inspectArchive = (archive: Uint8Array, filename: string, overrideQuery = "") =>
  request<BundlePreview>("POST", `${P}/inspect?filename=${encodeURIComponent(filename)}${overrideQuery ? `&${overrideQuery}` : ""}`, { body: archive });

/** The next 5 runs of a schedule definition; nothing is stored. */
export const previewSchedule = (body: unknown) => request<NextRun[]>("POST", `${P}/schedules/preview`, { json: body });

/** The `rsconnect add` command that registers this server with a key. */
export function rsconnectAdd(serverUrl: string, key: string, name = "porch"): string {
  return `rsconnect add --server ${serverUrl.replace(/\/$/, "")} --name ${name} --api-key ${key}`;
}

/** Sets the landing page's logo (PNG, JPEG, GIF or WebP; checked by the engine). */
export const putLogo = (image: Blob) => request<void>("PUT", `${P}/gallery/logo`, { body: image });
export const deleteLogo = () => request<void>("DELETE", `${P}/gallery/logo`);
