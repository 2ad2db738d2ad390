// The runtime fields (Connect's names) as a grid of number inputs, shared by an item's
// Runtime settings and the app-wide runtime defaults. An empty input means "the default",
// which the placeholder shows; `read()` gives the change with `null` for those.

import type { RuntimeDefaults } from "../api/types";
import { field, h } from "./dom";

/** The runtime fields with their labels and hints. */
export const RUNTIME_FIELDS: [keyof RuntimeDefaults, string, string][] = [
  ["min_processes", "Minimum processes", "Kept running even with no viewers (0 = start on demand)."],
  ["max_processes", "Maximum processes", "The most copies of the app Porch starts."],
  ["max_conns_per_process", "Connections per process", "Viewers one process serves before another starts."],
  ["load_factor", "Load factor", "0 to 1: how early a new process starts as connections grow."],
  ["idle_timeout", "Idle timeout (s)", "A process stops this long after its last viewer leaves."],
  ["init_timeout", "Start-up timeout (s)", "How long the app may take to start."],
  ["connection_timeout", "Connection timeout (s)", "Longest silence on a viewer's connection (0 = never)."],
  ["read_timeout", "Read timeout (s)", "Longest silence from the viewer (0 = never)."],
];

export interface RuntimeFields {
  grid: HTMLElement;
  /** Each field's number, or `null` where the input is empty. */
  read: () => Record<keyof RuntimeDefaults, number | null>;
}

/** `prefix` names the ids and test ids (`${prefix}-${field}`). */
export function RuntimeFields(prefix: string, value: (k: keyof RuntimeDefaults) => number | null, placeholder: (k: keyof RuntimeDefaults) => string): RuntimeFields {
  const inputs = new Map<keyof RuntimeDefaults, HTMLInputElement>();
  const grid = h("div", { class: "grid-form" });
  for (const [k, label, hint] of RUNTIME_FIELDS) {
    const input = h("input", {
      type: "number",
      min: 0,
      step: k === "load_factor" ? "0.05" : "1",
      max: k === "load_factor" ? 1 : undefined,
      value: value(k) ?? "",
      placeholder: placeholder(k),
      "data-testid": `${prefix}-${k}`,
    }) as HTMLInputElement;
    inputs.set(k, input);
    grid.append(field(`${prefix}-${k}-f`, label, input, { hint }));
  }
  const read = () => {
    const out = {} as Record<keyof RuntimeDefaults, number | null>;
    for (const [k, input] of inputs) out[k] = input.value.trim() === "" ? null : Number(input.value);
    return out;
  };
  return { grid, read };
}
