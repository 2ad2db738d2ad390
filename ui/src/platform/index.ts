// The host seam: the only module that imports @tauri-apps/*. Everything above it runs the
// same in the desktop window and in a plain browser on the LAN; here each capability has a
// Tauri implementation and a browser fallback.
//
// Nothing in here knows about Porch's data; it moves opaque values and paths.

import { invoke as tauriInvoke, isTauri } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { getCurrentWebview } from "@tauri-apps/api/webview";

/** True inside the Porch desktop window, false in a browser. */
export function isDesktop(): boolean {
  return isTauri();
}

/**
 * Calls a Rust command of the desktop shell. Rejects with whatever the command returned as
 * its error (the shell sends `{code, message}`); callers map it, see `api/client.ts`.
 */
export function invoke<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  if (!isDesktop()) {
    return Promise.reject({ code: "Unsupported", message: `"${command}" needs the Porch app` });
  }
  return tauriInvoke<T>(command, args);
}

/**
 * Calls a command of the desktop shell with raw bytes as its body and string headers (an
 * upload): Tauri hands the bytes over as they are, not as JSON.
 */
export function invokeRaw<T>(command: string, bytes: Uint8Array, headers: Record<string, string>): Promise<T> {
  if (!isDesktop()) {
    return Promise.reject({ code: "Unsupported", message: `"${command}" needs the Porch app` });
  }
  return tauriInvoke<T>(command, bytes, { headers });
}

/** Subscribes to an event the shell emits; returns the unsubscribe function. */
export async function onHostEvent<T>(name: string, handler: (payload: T) => void): Promise<() => void> {
  if (!isDesktop()) return () => {};
  const unlisten = await listen<T>(name, (event) => handler(event.payload));
  return unlisten;
}

/** A file drag over the window, reduced to what the UI needs. */
export type FileDrop =
  | { type: "enter"; paths: string[] }
  | { type: "over" }
  /**
   * `paths` are absolute file-system paths (desktop). A browser cannot know them: it sends
   * `names` and the dropped entries (folders walkable) and files, captured during the event
   * because a DataTransfer is emptied once its handler returns.
   */
  | { type: "drop"; paths: string[]; names: string[]; transfer?: BrowserDrop; at?: { x: number; y: number } }
  | { type: "leave" };

/** What a browser drop held. */
export interface BrowserDrop {
  entries: FileSystemEntry[];
  files: File[];
}

/**
 * Reports files dragged onto the window. In Tauri this is the webview's native drag-drop
 * (it yields real paths); in a browser it is the DOM drag events (names only).
 */
export async function onFileDrop(handler: (drop: FileDrop) => void): Promise<() => void> {
  if (isDesktop()) {
    return getCurrentWebview().onDragDropEvent((event) => {
      const p = event.payload;
      switch (p.type) {
        case "enter":
          handler({ type: "enter", paths: p.paths });
          break;
        case "over":
          handler({ type: "over" });
          break;
        case "drop": {
          // The webview reports physical pixels; the page thinks in CSS pixels.
          const scale = window.devicePixelRatio || 1;
          const at = { x: p.position.x / scale, y: p.position.y / scale };
          handler({ type: "drop", paths: p.paths, names: p.paths.map(baseName), at });
          break;
        }
        case "leave":
          handler({ type: "leave" });
          break;
      }
    });
  }
  return browserFileDrop(handler);
}

function browserFileDrop(handler: (drop: FileDrop) => void): () => void {
  // dragenter/dragleave fire for every child element; count them so "leave" means the window.
  let depth = 0;
  const hasFiles = (e: DragEvent) => e.dataTransfer?.types.includes("Files") ?? false;
  const onEnter = (e: DragEvent) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    if (depth++ === 0) handler({ type: "enter", paths: [] });
  };
  const onOver = (e: DragEvent) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    handler({ type: "over" });
  };
  const onLeave = (e: DragEvent) => {
    if (!hasFiles(e)) return;
    if (--depth <= 0) {
      depth = 0;
      handler({ type: "leave" });
    }
  };
  const onDrop = (e: DragEvent) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    const dt = e.dataTransfer;
    const files = Array.from(dt?.files ?? []);
    const entries: FileSystemEntry[] = [];
    for (const item of Array.from(dt?.items ?? [])) {
      const entry = item.kind === "file" && typeof item.webkitGetAsEntry === "function" ? item.webkitGetAsEntry() : null;
      if (entry) entries.push(entry);
    }
    handler({ type: "drop", paths: [], names: files.map((f) => f.name), transfer: { entries, files } });
  };
  window.addEventListener("dragenter", onEnter);
  window.addEventListener("dragover", onOver);
  window.addEventListener("dragleave", onLeave);
  window.addEventListener("drop", onDrop);
  return () => {
    window.removeEventListener("dragenter", onEnter);
    window.removeEventListener("dragover", onOver);
    window.removeEventListener("dragleave", onLeave);
    window.removeEventListener("drop", onDrop);
  };
}

/**
 * Opens a URL in the user's browser. Inside the desktop window a plain link would navigate
 * the app's own webview away from the UI, so the shell opens it instead.
 */
export async function openExternal(url: string): Promise<void> {
  if (isDesktop()) {
    await tauriInvoke("open_external", { url });
    return;
  }
  window.open(url, "_blank", "noopener");
}

function baseName(path: string): string {
  const parts = path.split(/[\\/]/).filter((s) => s.length > 0);
  return parts[parts.length - 1] ?? path;
}

/** Start at login (desktop only; the shell writes the desktop's autostart entry). */
export const autostart = {
  get(): Promise<boolean> {
    if (!isDesktop()) return Promise.reject({ code: "Unsupported", message: "start at login needs the Porch app" });
    return tauriInvoke<boolean>("autostart_get");
  },
  set(on: boolean): Promise<void> {
    if (!isDesktop()) return Promise.reject({ code: "Unsupported", message: "start at login needs the Porch app" });
    return tauriInvoke<void>("autostart_set", { on });
  },
};

/** Stops Porch and starts it again, so a saved address takes effect (desktop only). */
export function restartApp(): Promise<void> {
  if (!isDesktop()) return Promise.reject({ code: "Unsupported", message: "restarting Porch needs the Porch app" });
  return tauriInvoke<void>("restart_app");
}
