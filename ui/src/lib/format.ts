// Display helpers shared by screens: names for app modes, type icons, dates.

/** Human names for Connect app modes; anything unknown is shown as the engine sent it. */
export const MODE_LABELS: Record<string, string> = {
  static: "Static site",
  "quarto-static": "Quarto",
  "quarto-shiny": "Quarto Shiny",
  "jupyter-static": "Notebook",
  "jupyter-voila": "Voilà",
  "rmd-static": "R Markdown",
  "rmd-shiny": "R Markdown Shiny",
  shiny: "Shiny (R)",
  "python-shiny": "Shiny (Python)",
  "python-dash": "Dash",
  "python-streamlit": "Streamlit",
  "python-bokeh": "Bokeh",
  "python-fastapi": "FastAPI",
  "python-api": "Flask API",
  "python-gradio": "Gradio",
  "python-panel": "Panel",
  api: "Plumber API",
  unknown: "Not deployed",
};

export function modeLabel(mode: string): string {
  return MODE_LABELS[mode] ?? mode;
}

/** How Porch runs an app mode (mirrors `porch_engine::runtime_kind`). */
export function runtimeKind(mode: string): "static" | "rendered" | "interactive" {
  if (mode === "static" || mode === "unknown") return "static";
  if (mode === "jupyter-static" || mode === "quarto-static" || mode === "rmd-static") return "rendered";
  return "interactive";
}

/** A one-character icon for a kind of content (decorative; the label says it in words). */
export function modeIcon(mode: string): string {
  if (mode === "unknown") return "○";
  if (mode === "static") return "◧";
  if (mode.includes("jupyter")) return "▤";
  if (mode.includes("quarto") || mode.includes("rmd")) return "¶";
  if (mode === "api" || mode.endsWith("-api") || mode.endsWith("fastapi")) return "⇄";
  return "▶";
}

export function formatWhen(iso: string | null | undefined): string {
  if (!iso) return "—";
  const when = new Date(iso.replace(/\[.*\]$/, ""));
  if (Number.isNaN(when.getTime())) return iso;
  return when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Matches an item against a search string (title, name, mode, URL). */
export function matches(query: string, ...fields: (string | null | undefined)[]): boolean {
  const q = query.trim().toLowerCase();
  if (q === "") return true;
  return fields.some((f) => (f ?? "").toLowerCase().includes(q));
}
