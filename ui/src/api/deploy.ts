// Publishing what was dropped: detect first (a preview the user can edit), then deploy.
//
// Desktop: the drop has real paths; the shell previews and stores them as a bundle through
// engine ops (`preview_path`, `stage_path`). Browser: the files are packed here into a
// `.tar.gz` (an archive dropped on its own is sent as it is), previewed by
// `/__api__/porch/inspect`, then created and uploaded through the Connect API. Both then
// deploy through the API and follow the task's log live.

import type { BrowserDrop } from "../platform";
import { tarGz, type PackFile } from "../lib/tar";
import { ApiError, command, request } from "./client";
import { deployBundle, followTask, setVanity, patchContent } from "./content";
import { inspectArchive } from "./server";
import type { BundlePreview, BundleView, ContentView, Staged } from "./types";

/** What was dropped, ready to preview and deploy. */
export type DropSource =
  | { kind: "path"; path: string; label: string }
  | { kind: "archive"; data: Uint8Array; filename: string; label: string };

/** An appmode and/or entry point chosen instead of the detected ones (absent: detected). */
export interface Overrides {
  appmode?: string;
  entrypoint?: string;
}

/** The user's edits on top of the preview. */
export interface DeployChoices {
  name: string;
  title: string;
  /** Empty for none. */
  vanity: string;
  /** Whether the user typed the title (else a redeploy keeps the item's own title). */
  titleEdited?: boolean;
  /** The chosen appmode / entry point; the engine checks and stores them with the bundle. */
  overrides?: Overrides;
}

/** `appmode=…&entrypoint=…` for the inspect and upload calls ("" when nothing is chosen). */
export function overrideQuery(o: Overrides | undefined): string {
  const q = new URLSearchParams();
  if (o?.appmode) q.set("appmode", o.appmode);
  if (o?.entrypoint) q.set("entrypoint", o.entrypoint);
  return q.toString();
}

export interface DeployResult {
  content: ContentView;
  url: string;
}

const ARCHIVE = /\.(tar\.gz|tgz|tar|zip)$/i;

/** Browser: the dropped files (with paths relative to the drop) as one source. */
export async function packFiles(files: PackFile[], label: string): Promise<DropSource> {
  if (files.length === 0) throw new ApiError("InvalidRequest", "Nothing to publish: the drop held no files (empty folders are not uploaded).");
  if (files.length === 1 && ARCHIVE.test(files[0].path)) {
    return { kind: "archive", data: files[0].data, filename: files[0].path.split("/").pop() ?? "bundle.tar.gz", label };
  }
  // A single dropped folder: its contents form the bundle (drop the folder name prefix).
  const tops = new Set(files.map((f) => f.path.split("/")[0]));
  let rooted = files;
  let filename = label;
  if (tops.size === 1 && files.every((f) => f.path.includes("/"))) {
    const [top] = tops;
    filename = top;
    rooted = files.map((f) => ({ path: f.path.slice(top.length + 1), data: f.data }));
  } else {
    // Loose files: name the bundle after its main file (index.html, app.py, a notebook, ...).
    filename = mainFile(files.map((f) => f.path)) ?? label;
  }
  const shown = tops.size === 1 || files.length === 1 ? label : `${filename} and ${files.length - 1} more`;
  return { kind: "archive", data: await tarGz(rooted), filename, label: shown };
}

const MAIN_FILES = [/^index\.html?$/i, /^(app|main|streamlit_app|dashboard)\.py$/i, /\.(ipynb|qmd|rmd)$/i, /^(app|server|plumber)\.r$/i, /\.py$/i, /\.html?$/i];

/** The file a drop of loose files is named after, by the same preferences as detection. */
export function mainFile(paths: string[]): string | null {
  for (const rule of MAIN_FILES) {
    const hit = paths.find((p) => !p.includes("/") && rule.test(p));
    if (hit) return hit;
  }
  return paths[0] ?? null;
}

/** What Porch detects in the drop, with the chosen appmode / entry point applied. */
export async function preview(src: DropSource, overrides: Overrides = {}): Promise<BundlePreview> {
  if (src.kind === "path") return command<BundlePreview>("preview_path", { path: src.path, overrides });
  return inspectArchive(src.data, src.filename, overrideQuery(overrides));
}

/**
 * Creates (or reuses, by name) the item, uploads, deploys and follows the task log.
 * `onLog` gets each batch of task lines.
 */
export async function deploy(src: DropSource, choices: DeployChoices, onLog: (lines: string[]) => void): Promise<DeployResult> {
  let content: ContentView;
  if (src.kind === "path") {
    onLog([`Packing ${src.path} …`]);
    const title = choices.titleEdited ? choices.title : undefined;
    const { appmode, entrypoint } = choices.overrides ?? {};
    const staged = await command<Staged>("stage_path", { path: src.path, options: { name: choices.name, title, appmode, entrypoint } });
    content = staged.content;
    onLog([`${staged.created ? "Created" : "Updating"} “${content.name}”: version ${staged.bundle_id}`]);
    await deployAndFollow(content.guid, staged.bundle_id, onLog);
  } else {
    let created = false;
    const existing = await request<ContentView[]>("GET", `/__api__/v1/content?name=${encodeURIComponent(choices.name)}`);
    if (existing.length > 0) {
      content = existing[0];
      if (choices.titleEdited && choices.title && choices.title !== content.title) {
        content = await patchContent(content.guid, { title: choices.title });
      }
      onLog([`Updating “${content.name}” with a new version`]);
    } else {
      content = await request<ContentView>("POST", "/__api__/v1/content", { json: { name: choices.name, title: choices.title } });
      created = true;
      onLog([`Created “${content.name}”`]);
    }
    const query = overrideQuery(choices.overrides);
    let bundle: BundleView;
    try {
      bundle = await request<BundleView>("POST", `/__api__/v1/content/${content.guid}/bundles${query ? `?${query}` : ""}`, { body: src.data });
    } catch (err) {
      // A refused bundle leaves no empty item behind (as the desktop's stage_path does).
      if (created) await request("DELETE", `/__api__/v1/content/${content.guid}`).catch(() => undefined);
      throw err;
    }
    onLog([`Uploaded version ${bundle.id} (${bundle.size} bytes)`]);
    await deployAndFollow(content.guid, bundle.id, onLog);
  }
  if (choices.vanity.trim() !== "") {
    await setVanity(content.guid, choices.vanity.trim());
  }
  const fresh = await request<ContentView>("GET", `/__api__/v1/content/${content.guid}`);
  return { content: fresh, url: fresh.vanity_url ?? fresh.content_url };
}

async function deployAndFollow(guid: string, bundleId: string, onLog: (lines: string[]) => void): Promise<void> {
  const { task_id } = await deployBundle(guid, bundleId);
  const t = await followTask(task_id, onLog);
  if (t.code !== 0 || t.error) throw new ApiError("StartFailed", t.error || `the deploy failed (code ${t.code})`);
}

/** Reads a browser drop, folders included, into relative paths and bytes. */
export async function readDrop(drop: BrowserDrop): Promise<{ files: PackFile[]; label: string }> {
  const files: PackFile[] = [];
  const names: string[] = [];
  if (drop.entries.length > 0) {
    for (const entry of drop.entries) {
      names.push(entry.name);
      await walk(entry, "", files);
    }
  } else {
    for (const file of drop.files) {
      names.push(file.name);
      files.push({ path: file.webkitRelativePath || file.name, data: new Uint8Array(await file.arrayBuffer()) });
    }
  }
  return { files, label: names.length === 1 ? names[0] : `${names.length} items` };
}

async function walk(entry: FileSystemEntry, prefix: string, out: PackFile[]): Promise<void> {
  const path = prefix ? `${prefix}/${entry.name}` : entry.name;
  if (entry.isFile) {
    const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
    out.push({ path, data: new Uint8Array(await file.arrayBuffer()) });
    return;
  }
  if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    // readEntries answers in batches until an empty one.
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
      if (batch.length === 0) break;
      for (const child of batch) await walk(child, path, out);
    }
  }
}
