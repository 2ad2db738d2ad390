// The browser's sign-in: the publisher's API key (from `porch key new` or the app's
// Settings). Kept for this tab only (sessionStorage) unless "remember" is ticked
// (localStorage). Per-tab storage matters: content pages are served from this same
// origin, and a page opened in another tab cannot read this tab's sessionStorage.

import { setApiKey, toApiError } from "../../api/client";
import { serverView } from "../../api/server";
import { h } from "../../components/dom";

const KEY = "porch.apiKey";

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY) ?? localStorage.getItem(KEY);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}

export function mountLogin(root: HTMLElement, onDone: () => void, notice?: string): void {
  const input = h("input", { type: "password", id: "api-key", autocomplete: "current-password", required: true, spellcheck: "false" }) as HTMLInputElement;
  const remember = h("input", { type: "checkbox", id: "remember" }) as HTMLInputElement;
  const status = h("p", { class: "field-error small", role: "alert", "data-testid": "login-error" }, notice ?? "");
  const submit = async (e: Event) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) {
      status.textContent = "Paste an API key first.";
      return;
    }
    setApiKey(key);
    try {
      await serverView();
    } catch (err) {
      setApiKey(null);
      const code = toApiError(err).code;
      status.textContent =
        code === "Unauthorized"
          ? "Porch does not know this key. Create one with `porch key new` on the publishing computer, or in the app's Settings."
          : code === "Forbidden"
            ? "This Porch only accepts management from its own computer. Start it with --allow-remote-publishing to manage it from here."
            : `Cannot check the key: ${toApiError(err).message}`;
      return;
    }
    (remember.checked ? localStorage : sessionStorage).setItem(KEY, key);
    onDone();
  };
  root.replaceChildren(
    h(
      "main",
      { class: "login" },
      h(
        "form",
        { class: "card login-card", onsubmit: submit, "data-testid": "login" },
        h("div", { class: "brand" }, h("img", { src: "./favicon.png", alt: "", class: "logo" }), h("h1", {}, "Porch")),
        h("p", { class: "muted" }, "Sign in with the publisher's API key to manage what this computer shares."),
        h("div", { class: "field" }, h("label", { for: "api-key" }, "API key"), input),
        h("label", { class: "check" }, remember, " Remember on this browser"),
        status,
        h("button", { type: "submit", class: "btn btn-primary" }, "Sign in"),
        h("p", { class: "muted small" }, "No key yet? Run ", h("code", {}, "porch key new"), " on the computer running Porch."),
      ),
    ),
  );
  input.focus();
}
