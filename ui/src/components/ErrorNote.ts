// An error as the user sees it: what went wrong (the engine's message), its code, and what to do.

import { ApiError, hintFor, toApiError } from "../api/client";
import { h } from "./dom";

export function ErrorNote(err: unknown, context?: string): HTMLElement {
  const e = err instanceof ApiError ? err : toApiError(err);
  return h(
    "div",
    { class: "error-note", role: "alert", "data-testid": "error-note", "data-code": e.code },
    h("p", {}, context ? `${context}: ` : "", h("span", { "data-testid": "error-message" }, e.message), " ", h("code", { class: "error-code", "data-testid": "error-code" }, e.code)),
    h("p", { class: "muted small" }, hintFor(e)),
  );
}

/** Shows `note` at the top of `box`, in place of any error shown there before: one message,
 * for the latest attempt. */
export function replaceError(box: HTMLElement, note: HTMLElement): void {
  for (const old of Array.from(box.children)) {
    if (old.classList.contains("error-note")) old.remove();
  }
  box.prepend(note);
}
