// Shown when nothing is published yet: how to publish by drop, and a sample to try it with.

import { button, h } from "./dom";

export function EmptyState(onSample: () => void): HTMLElement {
  return h(
    "section",
    { class: "empty", "data-testid": "empty-state" },
    h("div", { class: "empty-icon", "aria-hidden": "true" }, "⬇"),
    h("h2", {}, "Drop a folder or file anywhere in this window to publish it"),
    h(
      "p",
      { class: "muted" },
      "A Streamlit, Dash or Shiny app, a notebook, a Quarto or R Markdown document, a folder with index.html, or a .tar.gz / .zip bundle. ",
      "Porch shows what it detected before anything is published, then serves it to everyone on your network.",
    ),
    h("div", { class: "empty-actions" }, button("Publish a sample page", onSample, { kind: "primary", testid: "sample" })),
    h("p", { class: "muted small" }, "Prefer the terminal? ", h("code", {}, "porch deploy ./my-folder"), " or ", h("code", {}, "rsconnect deploy …"), " work too."),
  );
}

/** A tiny static site used by the sample button. */
export function sampleSite(): { path: string; text: string }[] {
  const now = new Date().toLocaleString();
  return [
    {
      path: "index.html",
      text: `<!doctype html><meta charset="utf-8"><title>Hello from Porch</title><link rel="stylesheet" href="style.css">
<main><h1>Hello from Porch</h1><p>This page was published by dropping it on Porch at ${now}.</p>
<p>Anyone on your network can open this address. Replace it by dropping your own folder.</p></main>`,
    },
    { path: "style.css", text: "body{font-family:system-ui;margin:3rem auto;max-width:40rem;line-height:1.5}h1{color:#b4572e}" },
  ];
}
