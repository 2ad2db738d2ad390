// Shown when nothing is published yet: the invitation to drop something.

import { h } from "./dom";

export function EmptyState(): HTMLElement {
  return h(
    "section",
    { class: "empty", "data-testid": "empty-state" },
    h("div", { class: "empty-icon", "aria-hidden": "true" }, "⬇"),
    h("h2", {}, "Drop a folder or file here to publish it"),
    h(
      "p",
      { class: "muted" },
      "A static site, a Quarto or notebook render, a .tar.gz or .zip bundle. ",
      "It will be served to everyone on your network.",
    ),
  );
}
