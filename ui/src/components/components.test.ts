import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import { field, h } from "./dom";
import { DropOverlay } from "./DropOverlay";
import { EmptyState, sampleSite } from "./EmptyState";
import { ErrorNote, replaceError } from "./ErrorNote";
import { RuntimeFields, RUNTIME_FIELDS } from "./RuntimeFields";

describe("components", () => {
  it("replaceError shows one message, the latest, and keeps the rest of the box", () => {
    const box = h("div", {}, h("input", {}));
    replaceError(box, ErrorNote(new ApiError("InvalidRequest", "first")));
    replaceError(box, ErrorNote(new ApiError("InvalidRequest", "second")));
    const notes = box.querySelectorAll('[data-testid="error-note"]');
    expect(notes.length).toBe(1);
    expect(notes[0].textContent).toContain("second");
    expect(box.querySelector("input")).not.toBeNull();
  });

  it("RuntimeFields shows set values, defaults as placeholders, and reads empty as null", () => {
    const { grid, read } = RuntimeFields("t", (k) => (k === "max_processes" ? 5 : null), (k) => `${k} default`);
    const inputs = grid.querySelectorAll("input");
    expect(inputs.length).toBe(RUNTIME_FIELDS.length);
    const max = grid.querySelector('[data-testid="t-max_processes"]') as HTMLInputElement;
    const idle = grid.querySelector('[data-testid="t-idle_timeout"]') as HTMLInputElement;
    expect(max.value).toBe("5");
    expect(idle.value).toBe("");
    expect(idle.placeholder).toBe("idle_timeout default");
    expect(grid.querySelector('label[for="t-idle_timeout-f"]')?.textContent).toBe("Idle timeout (s)");
    idle.value = "30";
    max.value = "";
    const got = read();
    expect(got.idle_timeout).toBe(30);
    expect(got.max_processes).toBeNull();
    expect(got.load_factor).toBeNull();
  });

  it("h() sets text as text, never as markup", () => {
    const el = h("p", {}, "<img src=x onerror=alert(1)>");
    expect(el.querySelector("img")).toBeNull();
    expect(el.textContent).toBe("<img src=x onerror=alert(1)>");
  });

  it("field() links the label, hint and error to the control", () => {
    const input = h("input", {});
    const f = field("x", "Name", input, { error: "Too short" });
    expect(f.querySelector("label")?.getAttribute("for")).toBe("x");
    expect(input.getAttribute("aria-invalid")).toBe("true");
    expect(input.getAttribute("aria-describedby")).toBe("x-error");
    expect(f.querySelector("#x-error")?.textContent).toBe("Too short");
  });

  it("ErrorNote shows the message, the code and a hint, as an alert", () => {
    const el = ErrorNote(new ApiError("InvalidManifest", "no entry point found"), "Cannot publish");
    expect(el.getAttribute("role")).toBe("alert");
    expect(el.dataset.code).toBe("InvalidManifest");
    expect(el.textContent).toContain("Cannot publish: no entry point found");
    expect(el.textContent).toContain("manifest.json");
  });

  it("the empty library teaches drag-and-drop and offers a sample", () => {
    const onSample = vi.fn();
    const el = EmptyState(onSample);
    expect(el.textContent).toMatch(/Drop a folder or file/);
    (el.querySelector("[data-testid=sample]") as HTMLButtonElement).click();
    expect(onSample).toHaveBeenCalledOnce();
    expect(sampleSite().map((f) => f.path)).toContain("index.html");
  });

  it("the drop overlay names what is dropped", () => {
    expect(DropOverlay(["report"]).textContent).toContain("“report”");
    expect(DropOverlay(["a", "b"]).textContent).toContain("2 items");
  });
});
