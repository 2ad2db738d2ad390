// The shell every screen lives in: the header with navigation and the serving address, a
// hash router (`#/`, `#/item/<guid>/<tab>`, `#/settings`), the drop-anywhere handler that
// opens the Deploy dialog, and (in a browser) the API-key login gate.
//
// Screens own their part of the page and are torn down on navigation: each mount returns a
// cleanup function that stops its streams and timers.

import { ApiError, setApiKey, toApiError } from "./api/client";
import { serverView } from "./api/server";
import type { ServerView } from "./api/types";
import { h } from "./components/dom";
import { DROPPED_PATHS, DropOverlay, TAKES_PATHS } from "./components/DropOverlay";
import { isDesktop, onFileDrop, openExternal, type FileDrop } from "./platform";
import { openDeploy } from "./screens/Deploy/Deploy";
import { mountItem } from "./screens/Item/Item";
import { mountLibrary } from "./screens/Library/Library";
import { forgetKey, mountLogin, storedKey } from "./screens/Login/Login";
import { mountSettings } from "./screens/Settings/Settings";

export type Cleanup = () => void;

/** What every screen gets from the shell. */
export interface Shell {
  server: ServerView | null;
  open: (url: string) => void;
  navigate: (hash: string) => void;
  /** Opens the Deploy dialog on the files of a browser drop or a sample. */
  deployFiles: (files: { path: string; data: Uint8Array }[], label: string) => void;
}

export async function startApp(root: HTMLElement): Promise<void> {
  if (!isDesktop()) {
    const key = storedKey();
    if (!key) return mountLogin(root, () => void startApp(root));
    setApiKey(key);
  }
  let server: ServerView | null = null;
  try {
    server = await serverView();
  } catch (err) {
    const e = toApiError(err);
    if (e.code === "Unauthorized" && !isDesktop()) {
      forgetKey();
      setApiKey(null);
      return mountLogin(root, () => void startApp(root), "That API key is not valid (any more). Enter a current one.");
    }
    console.error("server view failed", e);
  }
  runShell(root, server);
}

function runShell(root: HTMLElement, server: ServerView | null): void {
  const main = h("main", { id: "main", class: "main", tabindex: "-1" });
  const overlayHost = h("div", {});
  const open = (url: string) => {
    openExternal(url).catch((err) => console.error("open failed", url, err));
  };
  const shell: Shell = {
    server,
    open,
    navigate: (hash) => {
      if (window.location.hash === hash) route();
      else window.location.hash = hash;
    },
    deployFiles: (files, label) => openDeploy(shell, { kind: "files", files, label }),
  };

  const nav = h("nav", { class: "nav", "aria-label": "Main" });
  const header = h(
    "header",
    { class: "app-header" },
    h("a", { class: "skip", href: "#main", onclick: (e: Event) => (e.preventDefault(), main.focus()) }, "Skip to content"),
    h("a", { class: "brand", href: "#/", "aria-label": "Porch library" }, h("img", { src: "./favicon.png", alt: "", class: "logo" }), h("span", {}, "Porch")),
    nav,
    serving(server, open),
  );
  root.replaceChildren(header, main, overlayHost);

  let cleanup: Cleanup = () => {};
  const route = () => {
    cleanup();
    const parts = window.location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
    const here = parts[0] ?? "";
    nav.replaceChildren(
      navLink("#/", "Library", here === "" || here === "item"),
      navLink("#/settings", "Settings", here === "settings"),
    );
    main.replaceChildren();
    if (here === "item" && parts[1]) cleanup = mountItem(main, shell, parts[1], parts[2] ?? "overview");
    else if (here === "settings") cleanup = mountSettings(main, shell);
    else cleanup = mountLibrary(main, shell);
  };
  window.addEventListener("hashchange", route);
  route();

  // Drop anywhere: the overlay while dragging, the Deploy dialog on drop.
  let dragging: string[] | null = null;
  const showOverlay = () => overlayHost.replaceChildren(...(dragging ? [DropOverlay(dragging)] : []));
  void onFileDrop((drop: FileDrop) => {
    switch (drop.type) {
      case "enter":
        dragging = drop.paths.map(baseName);
        break;
      case "over":
        if (dragging !== null) return;
        dragging = [];
        break;
      case "leave":
        dragging = null;
        break;
      case "drop": {
        dragging = null;
        // A drop on an area that takes files itself (an item's picture) goes there, not to
        // Deploy. A browser delivers DOM drop events to that area directly; the desktop
        // window reports the drop here with its position.
        const target = drop.at ? document.elementFromPoint(drop.at.x, drop.at.y)?.closest(`[${TAKES_PATHS}]`) : null;
        if (target && drop.paths.length > 0) {
          target.dispatchEvent(new CustomEvent<string[]>(DROPPED_PATHS, { detail: drop.paths }));
        } else if (drop.paths.length > 0) {
          for (const path of drop.paths) openDeploy(shell, { kind: "path", path, label: baseName(path) });
        } else if (drop.transfer) {
          openDeploy(shell, { kind: "transfer", transfer: drop.transfer });
        }
        break;
      }
    }
    showOverlay();
  });
}

function navLink(href: string, label: string, current: boolean): HTMLElement {
  return h("a", { href, class: "nav-link", "aria-current": current ? "page" : undefined }, label);
}

function serving(server: ServerView | null, open: (url: string) => void): HTMLElement {
  if (!server) return h("span", { class: "muted small" }, "Server details unavailable");
  const url = server.viewer_urls[0];
  return h(
    "span",
    { class: "serving small", "data-testid": "viewer-urls" },
    h("span", { class: `dot ${server.local_only ? "dot-local" : ""}`, "aria-hidden": "true" }),
    server.local_only ? "Only this computer: " : "Serving on ",
    url
      ? h("a", { href: url, onclick: (e: Event) => (e.preventDefault(), open(url)) }, url)
      : h("span", {}, "—"),
  );
}

function baseName(path: string): string {
  const parts = path.split(/[\\/]/).filter((s) => s.length > 0);
  return parts[parts.length - 1] ?? path;
}

export { ApiError };
