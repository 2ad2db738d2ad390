// The full-window highlight while files are dragged over Porch.

import { h } from "./dom";

export function DropOverlay(names: string[]): HTMLElement {
  const what =
    names.length === 0 ? "Drop to publish" : names.length === 1 ? `Drop to publish “${names[0]}”` : `Drop to publish ${names.length} items`;
  return h(
    "div",
    { class: "drop-overlay", "data-testid": "drop-overlay", "aria-hidden": "true" },
    h("div", { class: "drop-target" }, h("div", { class: "drop-arrow" }, "⬇"), h("p", {}, what)),
  );
}

/**
 * An element with this attribute takes dropped files itself (an item's picture): in the
 * desktop window a drop on it is sent to it as a `DROPPED_PATHS` event (detail: the paths)
 * instead of opening Deploy.
 */
export const TAKES_PATHS = "data-takes-paths";

/** The event an element marked `TAKES_PATHS` receives for a desktop drop. */
export const DROPPED_PATHS = "porch:dropped-paths";
