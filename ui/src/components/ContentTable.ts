// The library as a table: title (or name), type, viewer URL, last deploy.

import type { ContentView } from "../api/types";
import { externalLink, h } from "./dom";

export interface ContentTableProps {
  items: ContentView[];
  onOpen: (url: string) => void;
}

/** Human names for Connect app modes; anything unknown is shown as the engine sent it. */
const MODE_LABELS: Record<string, string> = {
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
  api: "Plumber API",
  unknown: "Not deployed",
};

export function ContentTable({ items, onOpen }: ContentTableProps): HTMLElement {
  const rows = items.map((item) =>
    h(
      "tr",
      { "data-testid": "content-row", "data-guid": item.guid },
      h(
        "td",
        { class: "title" },
        h("div", { class: "title-main" }, item.title && item.title.trim() !== "" ? item.title : item.name),
        item.title && item.title !== item.name ? h("div", { class: "muted small" }, item.name) : null,
      ),
      h("td", {}, h("span", { class: "mode", title: item.app_mode }, MODE_LABELS[item.app_mode] ?? item.app_mode)),
      h("td", { class: "url" }, item.bundle_id ? externalLink(item.content_url, onOpen) : h("span", { class: "muted" }, "not deployed")),
      h("td", { class: "muted small when" }, formatWhen(item.last_deployed_time)),
    ),
  );
  return h(
    "table",
    { class: "content-table", "data-testid": "content-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Title"), h("th", {}, "Type"), h("th", {}, "Viewer URL"), h("th", {}, "Deployed"))),
    h("tbody", {}, ...rows),
  );
}

function formatWhen(iso: string | null): string {
  if (!iso) return "—";
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return iso;
  return when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
