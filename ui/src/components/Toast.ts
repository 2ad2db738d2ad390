// Short-lived status messages (copied, saved, failed), announced to screen readers.

import { h } from "./dom";

let region: HTMLElement | null = null;

export function toast(message: string, kind: "ok" | "error" = "ok"): void {
  if (!region || !region.isConnected) {
    region = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(region);
  }
  const el = h("div", { class: `toast toast-${kind}`, "data-testid": "toast" }, message);
  region.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 3000);
}
