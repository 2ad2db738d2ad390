import { describe, expect, it, vi } from "vitest";
import { overrideQuery } from "../../api/deploy";
import type { BundlePreview } from "../../api/types";
import { RunChoices, currentEntry, entryOptions } from "./RunChoices";

function preview(over: Partial<BundlePreview> = {}): BundlePreview {
  return {
    name: "site",
    title: "site",
    app_mode: "jupyter-static",
    runtime: "rendered",
    entrypoint: "report.ipynb",
    primary_html: null,
    declared: false,
    python_version: null,
    r_version: null,
    quarto_version: null,
    requirements: [],
    files: ["index.html", "other.html", "report.ipynb"],
    file_count: 3,
    existing_guid: null,
    app_modes: ["static", "jupyter-static", "python-dash"],
    entrypoints: ["report.ipynb"],
    ...over,
  };
}

const select = (el: HTMLElement, id: string) => el.querySelector(`[data-testid=${id}]`) as HTMLSelectElement;

describe("overrideQuery", () => {
  it("sends only what was chosen, encoded", () => {
    expect(overrideQuery(undefined)).toBe("");
    expect(overrideQuery({})).toBe("");
    expect(overrideQuery({ appmode: "static" })).toBe("appmode=static");
    expect(overrideQuery({ appmode: "python-dash", entrypoint: "pkg.main:app" })).toBe("appmode=python-dash&entrypoint=pkg.main%3Aapp");
  });
});

describe("RunChoices", () => {
  it("shows the app mode and entry point as labelled selects with the engine's choices", () => {
    const el = RunChoices(preview(), {}, () => {});
    const mode = select(el, "deploy-appmode");
    const entry = select(el, "deploy-entrypoint");
    expect(el.querySelector(`label[for=${mode.id}]`)?.textContent).toBe("App mode");
    expect(el.querySelector(`label[for=${entry.id}]`)?.textContent).toBe("Entry point");
    expect([...mode.options].map((o) => o.value)).toEqual(["static", "jupyter-static", "python-dash"]);
    expect(mode.value).toBe("jupyter-static");
    expect(entry.value).toBe("report.ipynb");
  });

  it("a static site's page is its entry point; an entry point not listed is still shown", () => {
    const p = preview({ app_mode: "static", entrypoint: null, primary_html: "index.html", entrypoints: ["index.html", "other.html"] });
    expect(currentEntry(p)).toBe("index.html");
    expect(select(RunChoices(p, {}, () => {}), "deploy-entrypoint").value).toBe("index.html");
    const declared = preview({ app_mode: "python-dash", entrypoint: "app:server", entrypoints: ["app", "other"] });
    expect(entryOptions(declared).map((o) => o.value)).toEqual(["app:server", "app", "other"]);
    const project = preview({ app_mode: "quarto-static", entrypoint: null, entrypoints: ["index.qmd"] });
    expect(entryOptions(project)[0]).toEqual({ value: "", label: "The whole project" });
  });

  it("a new app mode drops a chosen entry point; a new entry point keeps a chosen app mode", () => {
    const onChange = vi.fn();
    const el = RunChoices(preview({ entrypoints: ["report.ipynb", "other.ipynb"] }), { appmode: "jupyter-static", entrypoint: "report.ipynb" }, onChange);
    const mode = select(el, "deploy-appmode");
    mode.value = "static";
    mode.dispatchEvent(new Event("change"));
    expect(onChange).toHaveBeenLastCalledWith({ appmode: "static" });
    const entry = select(el, "deploy-entrypoint");
    entry.value = "other.ipynb";
    entry.dispatchEvent(new Event("change"));
    expect(onChange).toHaveBeenLastCalledWith({ appmode: "jupyter-static", entrypoint: "other.ipynb" });
  });

  it("shows a refused choice as an alert both selects point to", () => {
    const el = RunChoices(preview(), {}, () => {}, "entry point \"x.ipynb\" is not in the bundle; choose one of report.ipynb");
    const alert = el.querySelector("[role=alert]");
    expect(alert?.textContent).toContain("x.ipynb");
    for (const id of ["deploy-appmode", "deploy-entrypoint"]) {
      expect(select(el, id).getAttribute("aria-invalid")).toBe("true");
      expect(select(el, id).getAttribute("aria-describedby")).toBe(alert?.id);
    }
  });
});
