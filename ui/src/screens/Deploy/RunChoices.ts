// The preview's "how it runs" choices: the app mode and the entry point, as labelled selects
// offering what the engine says Porch can run and what in the bundle fits. A change is
// handed to the caller, which re-previews (the engine checks it) before anything deploys.

import type { Overrides } from "../../api/deploy";
import type { BundlePreview } from "../../api/types";
import { field, h } from "../../components/dom";
import { modeLabel } from "../../lib/format";

/** The entry point the preview runs: static content names its page in primary_html. */
export function currentEntry(p: BundlePreview): string {
  return p.entrypoint ?? p.primary_html ?? "";
}

/** The entry-point options: the fitting candidates, plus the current one if it is not among them. */
export function entryOptions(p: BundlePreview): { value: string; label: string }[] {
  const cur = currentEntry(p);
  const values = p.entrypoints.includes(cur) || cur === "" ? [...p.entrypoints] : [cur, ...p.entrypoints];
  const options = values.map((v) => ({ value: v, label: v }));
  // A Quarto project renders as a whole, with no entry point.
  if (cur === "") options.unshift({ value: "", label: "The whole project" });
  return options;
}

/**
 * Two selects. Choosing an app mode drops a chosen entry point (the engine then picks the
 * one that fits); choosing an entry point keeps a chosen app mode.
 */
export function RunChoices(p: BundlePreview, chosen: Overrides, onChange: (next: Overrides) => void, error?: string): HTMLElement {
  const modes = p.app_modes.includes(p.app_mode) ? p.app_modes : [p.app_mode, ...p.app_modes];
  const mode = h(
    "select",
    {
      "data-testid": "deploy-appmode",
      onchange: (e: Event) => onChange({ appmode: (e.target as HTMLSelectElement).value }),
    },
    ...modes.map((m) => h("option", { value: m, selected: m === p.app_mode }, `${modeLabel(m)} (${m})`)),
  ) as HTMLSelectElement;
  const cur = currentEntry(p);
  const entry = h(
    "select",
    {
      "data-testid": "deploy-entrypoint",
      onchange: (e: Event) => onChange({ ...chosen, entrypoint: (e.target as HTMLSelectElement).value || undefined }),
    },
    ...entryOptions(p).map((o) => h("option", { value: o.value, selected: o.value === cur }, o.label)),
  ) as HTMLSelectElement;
  entry.disabled = entry.options.length === 0;
  const group = h(
    "div",
    { class: "row run-choices", "data-testid": "deploy-run-choices" },
    field("deploy-appmode-f", "App mode", mode, { hint: "How Porch runs it, detected from the files: change it if the guess is wrong." }),
    field("deploy-entry-f", "Entry point", entry, { hint: "The page, notebook, document, script or module it starts from." }),
  );
  if (error) {
    // Both selects point at the message; the previous (valid) choice stays selected.
    for (const control of [mode, entry]) {
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-describedby", "deploy-run-error");
    }
    group.append(h("p", { class: "field-error small", id: "deploy-run-error", role: "alert", "data-testid": "deploy-run-error" }, error));
  }
  return group;
}
