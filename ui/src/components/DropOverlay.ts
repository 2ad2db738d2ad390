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
