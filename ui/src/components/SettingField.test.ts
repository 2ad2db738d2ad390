import { describe, expect, it } from "vitest";
import type { SettingEntry } from "../api/generated/SettingEntry";
import { SettingField } from "./SettingField";

const entry = (over: Partial<SettingEntry>): SettingEntry => ({
  name: "x", cli_name: "x", label: "X", section: "sharing", kind: { type: "switch" }, default: false, value: false,
  is_default: true, applies: "at_once", help: "Help.", ...over,
});

describe("SettingField", () => {
  it("draws a switch as a checkbox and reads its state", () => {
    const { el, read } = SettingField(entry({ name: "usage", value: true }));
    const box = el.querySelector('[data-testid="setting-usage"]') as HTMLInputElement;
    expect(box.type).toBe("checkbox");
    expect(read()).toBe(true);
    box.checked = false;
    expect(read()).toBe(false);
  });

  it("reads an empty number box as null (back to the default) and keeps whole-number bounds", () => {
    const { el, read } = SettingField(entry({ name: "days", kind: { type: "whole", min: 1, max: 365 }, value: 90 }));
    const input = el.querySelector("input") as HTMLInputElement;
    expect([input.min, input.max, input.value]).toEqual(["1", "365", "90"]);
    expect(read()).toBe(90);
    input.value = "";
    expect(read()).toBeNull();
  });

  it("offers a choice's values with their meaning and says when a change applies", () => {
    const { el, read } = SettingField(entry({
      name: "bind", kind: { type: "choice", choices: [{ value: "network", label: "everyone" }, { value: "local", label: "only me" }] },
      value: "local", applies: "at_restart",
    }));
    const select = el.querySelector("select") as HTMLSelectElement;
    expect([...select.options].map((o) => o.textContent)).toEqual(["network (everyone)", "local (only me)"]);
    expect(read()).toBe("local");
    expect(el.textContent).toContain("Applies when Porch next starts.");
  });

  it("draws a network name as a box ending in .local, empty while at the computer's name", () => {
    const { el, read } = SettingField(entry({ name: "hostname", kind: { type: "host_name" }, value: "my-laptop", default: "my-laptop" }));
    const input = el.querySelector("input") as HTMLInputElement;
    expect([input.value, input.placeholder, input.maxLength]).toEqual(["", "my-laptop", 63]);
    expect(el.textContent).toContain(".local");
    expect(read()).toBeNull();
    input.value = "team-pc";
    expect(read()).toBe("team-pc");
  });

  it("limits text to its declared length and reads an emptied box as the default", () => {
    const { el, read } = SettingField(entry({ name: "title", kind: { type: "text", max_chars: 80 }, value: "Team reports", is_default: false, default: "Porch" }));
    const input = el.querySelector("input") as HTMLInputElement;
    expect([input.maxLength, input.placeholder]).toEqual([80, "Porch"]);
    expect(read()).toBe("Team reports");
    input.value = "  ";
    expect(read()).toBeNull();
  });

  it("draws long text as a text area that keeps line breaks, empty while at its default", () => {
    const { el, read } = SettingField(entry({ name: "intro", kind: { type: "text", max_chars: 2000 }, value: "Published here.", default: "Published here." }));
    const area = el.querySelector("textarea") as HTMLTextAreaElement;
    expect([area.value, area.placeholder]).toEqual(["", "Published here."]);
    expect(read()).toBeNull();
    area.value = "Line one\nLine two";
    expect(read()).toBe("Line one\nLine two");
  });
});
