// One server setting drawn from its registry entry (`settings.entries` of the server view):
// a checkbox for a switch, a number box for a whole number or a number, a select for a
// choice, a text box (a text area for long text) for text, a text box ending in ".local" for a
// name on the network. The engine declares each setting once (its registry); the
// Settings pane draws every entry of a section it has no hand-made card for with this, so
// a new setting needs no UI code.

import type { Kind } from "../api/generated/Kind";
import type { SettingEntry } from "../api/generated/SettingEntry";
import { field, h } from "./dom";

/** The control for `entry` and a reader of the value it holds (`null`: back to the default). */
export function SettingField(entry: SettingEntry): { el: HTMLElement; read: () => unknown } {
  const id = `setting-${entry.name}`;
  const hint = entry.applies === "at_restart" ? `${entry.help} Applies when Porch next starts.` : entry.help;
  const kind: Kind = entry.kind;
  switch (kind.type) {
    case "switch": {
      const box = h("input", { type: "checkbox", id, checked: entry.value === true, "data-testid": id }) as HTMLInputElement;
      return { el: h("div", { class: "subsection" }, h("label", { class: "check" }, box, ` ${entry.label}`), h("p", { class: "muted small" }, hint)), read: () => box.checked };
    }
    case "choice": {
      const select = h("select", { id, "data-testid": id }, ...kind.choices.map((c) => h("option", { value: c.value, selected: entry.value === c.value }, `${c.value} (${c.label})`))) as HTMLSelectElement;
      return { el: field(id, entry.label, select, { hint }), read: () => select.value };
    }
    case "whole":
    case "number": {
      const attrs: Record<string, string | number> = { type: "number", id, value: String(entry.value ?? ""), "data-testid": id };
      if (kind.type === "whole") Object.assign(attrs, { min: kind.min, max: kind.max, step: 1 });
      const input = h("input", attrs) as HTMLInputElement;
      // An empty box means "the default"; anything else goes to the engine, which checks it.
      return { el: field(id, entry.label, input, { hint }), read: () => (input.value.trim() === "" ? null : Number(input.value)) };
    }
    case "host_name": {
      // One DNS label; the engine checks it and says what to use instead.
      const value = typeof entry.value === "string" && !entry.is_default ? entry.value : "";
      const placeholder = typeof entry.default === "string" ? entry.default : "";
      const input = h("input", { id, maxlength: 63, placeholder, value, spellcheck: "false", autocapitalize: "off", "data-testid": id }) as HTMLInputElement;
      input.value = value;
      const el = field(id, entry.label, input, { hint });
      input.after(".local");
      return { el, read: () => (input.value.trim() === "" ? null : input.value) };
    }
    case "text": {
      // Long texts (an introduction) get a text area; an emptied box means "the default".
      const value = typeof entry.value === "string" && !entry.is_default ? entry.value : "";
      const placeholder = typeof entry.default === "string" ? entry.default : "";
      const attrs = { id, maxlength: kind.max_chars, placeholder, "data-testid": id };
      const input = (kind.max_chars > 200 ? h("textarea", { ...attrs, rows: 3 }) : h("input", { ...attrs, value })) as HTMLInputElement | HTMLTextAreaElement;
      input.value = value;
      return { el: field(id, entry.label, input, { hint }), read: () => (input.value.trim() === "" ? null : input.value) };
    }
  }
}
