// The Library screen: lists published content, keeps it live, and publishes what is dropped.
//
// State lives in one object and every change re-renders the screen from it (the screen is
// small; a framework would buy nothing yet). Data comes only through `api/`; host specifics
// (drops, opening links) only through `platform/`.

import { ApiError } from "../../api/client";
import { deployPath, listContent } from "../../api/content";
import { subscribe } from "../../api/events";
import { serverInfo } from "../../api/server";
import type { ContentView } from "../../api/types";
import { AppHeader } from "../../components/AppHeader";
import { Banner, type BannerState } from "../../components/Banner";
import { ContentTable } from "../../components/ContentTable";
import { h } from "../../components/dom";
import { DropOverlay } from "../../components/DropOverlay";
import { EmptyState } from "../../components/EmptyState";
import { onFileDrop, openExternal, type FileDrop } from "../../platform";

interface LibraryState {
  items: ContentView[] | null;
  loadError: ApiError | null;
  viewerUrls: string[];
  /** Names being dragged over the window, or null when no drag is in progress. */
  dragging: string[] | null;
  /** One banner per dropped item, in drop order. */
  banners: { id: number; state: BannerState }[];
}

export function mountLibrary(root: HTMLElement): void {
  const state: LibraryState = { items: null, loadError: null, viewerUrls: [], dragging: null, banners: [] };
  let nextBannerId = 1;

  const open = (url: string) => {
    openExternal(url).catch((err) => console.error("open failed", url, err));
  };

  const render = () => {
    const overlay = state.dragging ? [DropOverlay(state.dragging)] : [];
    root.replaceChildren(
      AppHeader({ viewerUrls: state.viewerUrls, onOpen: open }),
      h(
        "main",
        { class: "library" },
        state.banners.length > 0
          ? h(
              "div",
              { class: "banners" },
              ...state.banners.map(({ id, state: banner }) =>
                Banner({ state: banner, onOpen: open, onDismiss: () => dismiss(id) }),
              ),
            )
          : null,
        body(),
      ),
      ...overlay,
    );
  };

  const body = (): HTMLElement => {
    if (state.loadError && state.items === null) return loadErrorView(state.loadError);
    if (state.items === null) return h("p", { class: "muted loading" }, "Loading…");
    if (state.items.length === 0) return EmptyState();
    return h(
      "section",
      {},
      h("div", { class: "section-head" }, h("h2", {}, "Library"), h("span", { class: "muted small" }, countLabel(state.items.length))),
      ContentTable({ items: state.items, onOpen: open }),
      h("p", { class: "muted small hint" }, "Drop another folder or file anywhere to publish it."),
    );
  };

  const dismiss = (id: number) => {
    state.banners = state.banners.filter((b) => b.id !== id);
    render();
  };

  // Refetches are coalesced: an event during a fetch schedules exactly one more fetch.
  let fetching = false;
  let again = false;
  const refresh = async () => {
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    try {
      do {
        again = false;
        try {
          state.items = await listContent();
          state.loadError = null;
        } catch (err) {
          state.loadError = asApiError(err);
        }
        render();
      } while (again);
    } finally {
      fetching = false;
    }
  };

  const publish = async (path: string, name: string) => {
    const id = nextBannerId++;
    state.banners.push({ id, state: { kind: "busy", name } });
    render();
    let outcome: BannerState;
    try {
      const deployment = await deployPath(path);
      const content = deployment.content;
      outcome = { kind: "ok", name, title: content.title || content.name, url: content.content_url };
    } catch (err) {
      const e = asApiError(err);
      outcome = { kind: "error", name, code: e.code, message: e.message };
    }
    state.banners = state.banners.map((b) => (b.id === id ? { id, state: outcome } : b));
    render();
    // The engine's event refreshes the list too; this covers a missed or late event.
    void refresh();
  };

  const onDrop = async (drop: FileDrop) => {
    switch (drop.type) {
      case "enter":
        state.dragging = drop.paths.map(baseName);
        break;
      case "over":
        if (state.dragging === null) state.dragging = [];
        return state.dragging.length === 0 ? render() : undefined;
      case "leave":
        state.dragging = null;
        break;
      case "drop": {
        state.dragging = null;
        render();
        if (drop.paths.length === 0) {
          // A browser drop: no file-system paths to publish from.
          const name = drop.names.join(", ") || "dropped files";
          await publish("", name);
          return;
        }
        // One at a time: deploys share the engine's store and the user reads results in order.
        for (const path of drop.paths) await publish(path, baseName(path));
        return;
      }
    }
    render();
  };

  render();
  void refresh();
  serverInfo()
    .then((info) => {
      state.viewerUrls = info.viewer_urls;
      render();
    })
    .catch((err) => console.error("server_info failed", err));
  void subscribe(() => void refresh());
  void onFileDrop((drop) => void onDrop(drop));
}

function loadErrorView(error: ApiError): HTMLElement {
  const hint =
    error.code === "Unauthorized"
      ? "This Porch server needs an API key to list its content. Open the library in the Porch app on the publishing computer."
      : error.code === "Network"
        ? "The Porch server is not answering. Is it still running?"
        : "The library could not be loaded.";
  return h(
    "section",
    { class: "load-error", "data-testid": "load-error" },
    h("h2", {}, hint),
    h("p", { class: "muted" }, h("code", { class: "error-code" }, error.code), " ", error.message),
  );
}

function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError("Internal", String(err));
}

function countLabel(n: number): string {
  return n === 1 ? "1 item" : `${n} items`;
}

function baseName(path: string): string {
  const parts = path.split(/[\\/]/).filter((s) => s.length > 0);
  return parts[parts.length - 1] ?? path;
}
