// The top bar: the name, and where the library is being served on the LAN.

import { externalLink, h } from "./dom";

export interface AppHeaderProps {
  viewerUrls: string[];
  onOpen: (url: string) => void;
}

export function AppHeader({ viewerUrls, onOpen }: AppHeaderProps): HTMLElement {
  const serving =
    viewerUrls.length === 0
      ? h("span", { class: "muted" }, "Starting…")
      : h(
          "span",
          { class: "serving", "data-testid": "viewer-urls" },
          h("span", { class: "dot", "aria-hidden": "true" }),
          "Serving on ",
          ...viewerUrls.flatMap((url, i) => [i > 0 ? " · " : null, externalLink(url, onOpen)]),
        );
  return h(
    "header",
    { class: "app-header" },
    h("div", { class: "brand" }, h("img", { src: "./favicon.png", alt: "", class: "logo" }), h("h1", {}, "Porch")),
    serving,
  );
}
