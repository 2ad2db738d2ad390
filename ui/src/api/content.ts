// Typed calls about content items: list, read, change, delete, and everything on the item page.

import { isDesktop } from "../platform";
import { ApiError, command, request, requestBlob, requestText } from "./client";
import type {
  BundleView,
  ContentView,
  FolderLink,
  JobView,
  RenderView,
  ScheduleView,
  SecretLinkView,
  TagView,
  TaskAccepted,
  TaskView,
  Variant,
  ViewerAccess,
} from "./types";

const V1 = "/__api__/v1";
const enc = encodeURIComponent;

/** Every content item, as the engine orders them. */
export function listContent(): Promise<ContentView[]> {
  return isDesktop() ? command<ContentView[]>("list_content") : request<ContentView[]>("GET", `${V1}/content`);
}

export const getContent = (guid: string) => request<ContentView>("GET", `${V1}/content/${enc(guid)}`);

/** Title, description, access and runtime fields (null = server default). */
export const patchContent = (guid: string, patch: Record<string, unknown>) =>
  request<ContentView>("PATCH", `${V1}/content/${enc(guid)}`, { json: patch });

export const deleteContent = (guid: string) => request<void>("DELETE", `${V1}/content/${enc(guid)}`);

export const setVanity = (guid: string, path: string) =>
  request<unknown>("PUT", `${V1}/content/${enc(guid)}/vanity`, { json: { path } });
export const clearVanity = (guid: string) => request<void>("DELETE", `${V1}/content/${enc(guid)}/vanity`);

/** Names of environment variables (values are never returned). */
export const envNames = (guid: string) => request<string[]>("GET", `${V1}/content/${enc(guid)}/environment`);
/** Sets a variable, or deletes it with `value: null`; answers the new list of names. */
export const setEnv = (guid: string, name: string, value: string | null) =>
  request<string[]>("PATCH", `${V1}/content/${enc(guid)}/environment`, { json: [{ name, value }] });

export const jobs = (guid: string) => request<JobView[]>("GET", `${V1}/content/${enc(guid)}/jobs`);
export const killJob = (guid: string, key: string) => request<void>("DELETE", `${V1}/content/${enc(guid)}/jobs/${enc(key)}`);
export const restart = (guid: string) => request<void>("POST", `${V1}/content/${enc(guid)}/restart`);

/** The last `lines` lines of the process log. */
export const logTail = (guid: string, lines = 500) => requestText(`${V1}/content/${enc(guid)}/log?lines=${lines}`);
/** Path of the following log stream (see `api/events.ts` `followText`). */
export const logFollowPath = (guid: string, lines = 500) => `${V1}/content/${enc(guid)}/log?lines=${lines}&follow=true`;

export const bundles = (guid: string) => request<BundleView[]>("GET", `${V1}/content/${enc(guid)}/bundles`);
/** Deploys (activates) a bundle: a rollback when it is an older one. Answers the task id. */
export const deployBundle = (guid: string, bundleId: string) =>
  request<TaskAccepted>("POST", `${V1}/content/${enc(guid)}/deploy`, { json: { bundle_id: bundleId } });

export const renders = (guid: string) => request<RenderView[]>("GET", `${V1}/content/${enc(guid)}/renders`);
export const renderNow = (guid: string, variantId?: string | number | null) =>
  request<TaskAccepted>(
    "POST",
    `${V1}/content/${enc(guid)}/render`,
    variantId === undefined || variantId === null ? {} : { json: { variant_id: variantId } },
  );
export const renderLog = (guid: string, id: string) => requestText(`${V1}/content/${enc(guid)}/renders/${enc(id)}/log`);

export const schedules = (guid: string) => request<ScheduleView[]>("GET", `${V1}/content/${enc(guid)}/schedules`);
export const createSchedule = (guid: string, body: unknown) =>
  request<ScheduleView>("POST", `${V1}/content/${enc(guid)}/schedules`, { json: body });
export const updateSchedule = (id: string, body: unknown) => request<ScheduleView>("PATCH", `${V1}/schedules/${enc(id)}`, { json: body });
export const deleteSchedule = (id: string) => request<void>("DELETE", `${V1}/schedules/${enc(id)}`);

/** One task's lines from `first` on, waiting up to `wait` seconds for news. */
export const task = (id: string, first: number, wait: number) =>
  request<TaskView>("GET", `${V1}/tasks/${enc(id)}?first=${first}&wait=${wait}`);

/** Follows a task to its end, reporting each batch of lines; answers the final state. */
export async function followTask(id: string, onLines: (lines: string[]) => void, signal?: AbortSignal): Promise<TaskView> {
  let first = 0;
  for (;;) {
    if (signal?.aborted) throw new DOMException("aborted", "AbortError");
    const t = await task(id, first, 10);
    if (t.output.length > 0) onLines(t.output);
    first = t.last;
    if (t.finished) return t;
  }
}

// ----- endpoints built in parallel (issues 4, 7, 8a): absent ones answer 404 -----

/** Resolves to null when this server has no such endpoint yet (the API's "API endpoint … not found"). */
export async function optional<T>(call: Promise<T>): Promise<T | null> {
  try {
    return await call;
  } catch (e) {
    if (isMissingEndpoint(e)) return null;
    throw e;
  }
}

export function isMissingEndpoint(e: unknown): boolean {
  return e instanceof ApiError && e.code === "NotFound" && /API endpoint/i.test(e.message);
}

export const getLink = (guid: string) => request<FolderLink>("GET", `/__api__/porch/content/${enc(guid)}/link`);
export const putLink = (guid: string, path: string) => request<FolderLink>("PUT", `/__api__/porch/content/${enc(guid)}/link`, { json: { path } });
export const deleteLink = (guid: string) => request<void>("DELETE", `/__api__/porch/content/${enc(guid)}/link`);

export const setViewerAccess = (guid: string, access: ViewerAccess) => patchContent(guid, { viewer_access: access });
export const secretLink = (guid: string) => request<SecretLinkView>("POST", `/__api__/porch/content/${enc(guid)}/secret-link`);
export const revokeSecretLink = (guid: string) => request<void>("DELETE", `/__api__/porch/content/${enc(guid)}/secret-link`);

export const variants = (guid: string) => request<Variant[]>("GET", `${V1}/content/${enc(guid)}/variants`);
export const createVariant = (guid: string, name: string, parameters: Record<string, unknown>) =>
  request<Variant>("POST", `${V1}/content/${enc(guid)}/variants`, { json: { name, parameters } });
export const deleteVariant = (guid: string, id: string | number) => request<void>("DELETE", `${V1}/content/${enc(guid)}/variants/${enc(String(id))}`);

// ----- tags and thumbnails (the landing page's gallery) -----

/** Every tag of the tree (Connect's `/v1/tags`). */
export const allTags = () => request<TagView[]>("GET", `${V1}/tags`);
export const createTag = (name: string, parentId: string | null) =>
  request<TagView>("POST", `${V1}/tags`, { json: { name, parent_id: parentId } });
export const contentTags = (guid: string) => request<TagView[]>("GET", `${V1}/content/${enc(guid)}/tags`);
/** Puts a tag (and its ancestors) on an item. */
export const addContentTag = (guid: string, tagId: string) =>
  request<TagView>("POST", `${V1}/content/${enc(guid)}/tags`, { json: { tag_id: tagId } });
/** Takes a tag (and its descendants) off an item. */
export const removeContentTag = (guid: string, tagId: string) =>
  request<void>("DELETE", `${V1}/content/${enc(guid)}/tags/${enc(tagId)}`);

/** The item's picture, or null when it has none (browser only). */
export const thumbnail = (guid: string) => requestBlob(`${V1}/content/${enc(guid)}/thumbnail`);
/** Sets the item's picture (PNG, JPEG, GIF or WebP; checked by the engine). */
export const putThumbnail = (guid: string, image: Blob) =>
  request<unknown>("PUT", `${V1}/content/${enc(guid)}/thumbnail`, { body: image });
export const deleteThumbnail = (guid: string) => request<void>("DELETE", `${V1}/content/${enc(guid)}/thumbnail`);
/** Asks Porch to take a screenshot of the item now (headless Chromium). */
export const captureThumbnail = (guid: string) =>
  request<unknown>("POST", `/__api__/porch/content/${enc(guid)}/thumbnail/capture`);
