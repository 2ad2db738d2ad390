// The Deploy dialog: what was dropped → what Porch detected (editable app mode, entry point,
// name, title, vanity path; a changed app mode or entry point is previewed again, so the
// engine checks it before anything is stored) → Deploy → the live task log → the viewer URL. Errors say what is wrong and what
// to do, and the dialog stays open so nothing typed is lost.

import { toApiError } from "../../api/client";
import { getContent } from "../../api/content";
import { deploy, packFiles, preview, readDrop, type DeployChoices, type DropSource, type Overrides } from "../../api/deploy";
import type { BundlePreview } from "../../api/types";
import type { Shell } from "../../app";
import { button, copyText, field, h } from "../../components/dom";
import { ErrorNote } from "../../components/ErrorNote";
import { toast } from "../../components/Toast";
import { modeLabel } from "../../lib/format";
import type { PackFile } from "../../lib/tar";
import type { BrowserDrop } from "../../platform";
import { RunChoices } from "./RunChoices";

export type DeployInput =
  | { kind: "path"; path: string; label: string }
  | { kind: "transfer"; transfer: BrowserDrop }
  | { kind: "files"; files: PackFile[]; label: string };

const NAME_RULE = /^[A-Za-z0-9._-]{3,64}$/;

export function openDeploy(shell: Shell, input: DeployInput): void {
  const dialog = h("dialog", { class: "dialog deploy", "aria-labelledby": "deploy-title", "data-testid": "deploy-dialog" }) as HTMLDialogElement;
  const heading = h("h2", { id: "deploy-title" }, "Publish");
  const body = h("div", { class: "dialog-body" });
  const close = () => {
    window.removeEventListener("hashchange", onNavigate);
    dialog.close();
    dialog.remove();
  };
  // Navigating away (links in the result, the back button) closes a finished dialog.
  const onNavigate = () => {
    if (!busy) close();
  };
  window.addEventListener("hashchange", onNavigate);
  dialog.append(heading, body);
  dialog.addEventListener("cancel", (e) => {
    if (busy) e.preventDefault();
  });
  document.body.append(dialog);
  dialog.showModal();

  let busy = false;
  let source: DropSource | null = null;
  let detected: BundlePreview | null = null;
  // The app mode / entry point the shown preview was made with (checked by the engine).
  let overrides: Overrides = {};

  const show = (...children: (HTMLElement | null)[]) => body.replaceChildren(...children.filter((c): c is HTMLElement => c !== null));

  const fail = (err: unknown, context: string, retry?: () => void) => {
    busy = false;
    show(
      ErrorNote(err, context),
      h("div", { class: "actions" }, retry ? button("Try again", retry) : null, button("Close", close, { kind: "primary", testid: "deploy-close" })),
    );
  };

  const start = async () => {
    show(h("p", { class: "muted" }, h("span", { class: "spinner", "aria-hidden": "true" }), "Looking at what you dropped…"));
    try {
      if (input.kind === "path") source = { kind: "path", path: input.path, label: input.label };
      else if (input.kind === "files") source = await packFiles(input.files, input.label);
      else {
        const read = await readDrop(input.transfer);
        source = await packFiles(read.files, read.label);
      }
      heading.textContent = `Publish “${source.label}”`;
      detected = await preview(source);
      // A redeploy keeps the item's title unless the user changes it.
      let title = detected.title;
      if (detected.existing_guid) title = (await getContent(detected.existing_guid).catch(() => null))?.title || title;
      showForm(detected, {}, { name: detected.name, title, vanity: "" });
    } catch (err) {
      fail(err, "Porch cannot publish this", () => void start());
    }
  };

  const showForm = (p: BundlePreview, errors: Record<string, string> = {}, values?: DeployChoices, focus: "name" | "appmode" | "entry" = "name") => {
    const v = values ?? { name: p.name, title: p.title, vanity: "" };
    const name = h("input", { value: v.name, "data-testid": "deploy-name", required: true, spellcheck: "false" }) as HTMLInputElement;
    let titleEdited = v.titleEdited ?? false;
    const title = h("input", { value: v.title, "data-testid": "deploy-title-input", oninput: () => (titleEdited = true) }) as HTMLInputElement;
    const vanity = h("input", { value: v.vanity, placeholder: "/sales/", "data-testid": "deploy-vanity", spellcheck: "false" }) as HTMLInputElement;
    const typed = (): DeployChoices => ({ name: name.value.trim(), title: title.value.trim(), vanity: vanity.value.trim(), titleEdited });
    // A new app mode or entry point: preview again with it; keep what was typed.
    const rechoose = async (next: Overrides) => {
      const kept = typed();
      const which = next.entrypoint !== overrides.entrypoint && next.appmode === overrides.appmode ? "entry" : "appmode";
      checking.hidden = false;
      go.disabled = true;
      try {
        if (!source) return;
        const fresh = await preview(source, next);
        overrides = next;
        detected = fresh;
        showForm(fresh, {}, kept, which);
      } catch (err) {
        showForm(p, { run: toApiError(err).message }, kept, which);
      }
    };
    const checking = h("p", { class: "muted small", "data-testid": "deploy-checking", hidden: true }, h("span", { class: "spinner", "aria-hidden": "true" }), "Checking the choice…");
    const go = h("button", { type: "submit", class: "btn btn-primary", "data-testid": "deploy-go" }, p.existing_guid ? "Deploy new version" : "Deploy") as HTMLButtonElement;
    const runChoices = RunChoices(p, overrides, (next) => void rechoose(next), errors.run);
    const facts: [string, string | null][] = [
      ["Type", `${modeLabel(p.app_mode)} (${p.app_mode})`],
      ["Runs as", p.runtime === "static" ? "Static files" : p.runtime === "rendered" ? "Rendered document (re-render or schedule it later)" : "A live app (started on the first visit)"],
      ["Python", p.python_version],
      ["R", p.r_version],
      ["Quarto", p.quarto_version],
      ["Detected from", p.declared ? "manifest.json" : "the files (no manifest.json)"],
      ["Files", `${p.file_count}: ${p.files.slice(0, 8).join(", ")}${p.files.length > 8 ? ", …" : ""}`],
    ];
    const submit = (e: Event) => {
      e.preventDefault();
      const choices: DeployChoices = { ...typed(), overrides };
      const errs: Record<string, string> = {};
      if (!NAME_RULE.test(choices.name)) errs.name = "3 to 64 letters, digits, dots, dashes or underscores.";
      if (choices.vanity && !/^\/?[A-Za-z0-9._~/-]+\/?$/.test(choices.vanity)) errs.vanity = "A path like /sales/ (letters, digits, - _ . /).";
      if (Object.keys(errs).length > 0) return showForm(p, errs, choices);
      void run(choices);
    };
    show(
      h(
        "form",
        { onsubmit: submit, "data-testid": "deploy-preview" },
        h("dl", { class: "facts" }, ...facts.filter(([, val]) => val).flatMap(([k, val]) => [h("dt", {}, k), h("dd", { "data-fact": k }, val as string)])),
        p.requirements.length > 0
          ? h("details", {}, h("summary", {}, `Requirements (${p.requirements.length})`), h("pre", { class: "reqs" }, p.requirements.join("\n")))
          : null,
        p.existing_guid ? h("p", { class: "note" }, `An item named “${p.name}” exists: deploying adds a new version of it (the old one stays available for rollback).`) : null,
        runChoices,
        checking,
        field("deploy-name-f", "Name", name, { hint: "Unique; used in URLs and by rsconnect.", error: errors.name }),
        field("deploy-title-f", "Title", title, { hint: "What viewers see." }),
        field("deploy-vanity-f", "Vanity path (optional)", vanity, { hint: "A short address such as /sales/.", error: errors.vanity }),
        h(
          "div",
          { class: "actions" },
          button("Cancel", close),
          go,
        ),
      ),
    );
    if (focus === "name") name.focus();
    else (runChoices.querySelector(focus === "entry" ? "[data-testid=deploy-entrypoint]" : "[data-testid=deploy-appmode]") as HTMLElement | null)?.focus();
  };

  const run = async (choices: DeployChoices) => {
    if (!source) return;
    busy = true;
    const log = h("pre", { class: "log", "data-testid": "deploy-log", "aria-live": "polite" });
    show(h("p", {}, h("span", { class: "spinner", "aria-hidden": "true" }), `Deploying “${choices.name}”…`), log);
    try {
      const result = await deploy(source, choices, (lines) => {
        log.textContent += lines.join("\n") + "\n";
        log.scrollTop = log.scrollHeight;
      });
      busy = false;
      heading.textContent = "Published";
      show(
        h(
          "div",
          { class: "done", "data-testid": "deploy-done" },
          h("p", {}, h("strong", {}, result.content.title || result.content.name), " is live at"),
          h("p", { class: "big-url" }, h("a", { href: result.url, "data-testid": "deploy-url", onclick: (e: Event) => (e.preventDefault(), shell.open(result.url)) }, result.url)),
          h("details", {}, h("summary", {}, "Deploy log"), log),
          h(
            "div",
            { class: "actions" },
            button("Copy link", () => void copyText(result.url).then((ok) => toast(ok ? "Link copied" : "Could not copy", ok ? "ok" : "error"))),
            button("Open", () => shell.open(result.url)),
            button(
              "Go to item",
              () => {
                close();
                shell.navigate(`#/item/${encodeURIComponent(result.content.guid)}`);
              },
              { kind: "primary", testid: "deploy-to-item" },
            ),
          ),
        ),
      );
    } catch (err) {
      busy = false;
      const e = toApiError(err);
      show(
        ErrorNote(e, "The deploy failed"),
        log,
        h("div", { class: "actions" }, button("Back", () => detected && showForm(detected, {}, choices)), button("Close", close, { testid: "deploy-close" })),
      );
    }
  };

  void start();
}
