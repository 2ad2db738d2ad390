// The outcome of a drop: in progress, published (with its URL), or the error code and message.

import { externalLink, h } from "./dom";

export type BannerState =
  | { kind: "busy"; name: string }
  | { kind: "ok"; name: string; title: string; url: string }
  | { kind: "error"; name: string; code: string; message: string };

export interface BannerProps {
  state: BannerState;
  onOpen: (url: string) => void;
  onDismiss: () => void;
}

export function Banner({ state, onOpen, onDismiss }: BannerProps): HTMLElement {
  let body: HTMLElement;
  switch (state.kind) {
    case "busy":
      body = h("p", {}, h("span", { class: "spinner", "aria-hidden": "true" }), `Publishing “${state.name}”…`);
      break;
    case "ok":
      body = h("p", {}, "Published ", h("strong", {}, state.title), " at ", externalLink(state.url, onOpen));
      break;
    case "error":
      body = h(
        "p",
        {},
        `Could not publish “${state.name}”: `,
        h("code", { class: "error-code", "data-testid": "error-code" }, state.code),
        " ",
        h("span", { "data-testid": "error-message" }, state.message),
      );
      break;
  }
  return h(
    "div",
    { class: `banner banner-${state.kind}`, role: state.kind === "error" ? "alert" : "status", "data-testid": "banner", "data-kind": state.kind },
    body,
    state.kind === "busy" ? null : h("button", { class: "dismiss", title: "Dismiss", "aria-label": "Dismiss", onclick: onDismiss }, "×"),
  );
}
