import { describe, expect, it } from "vitest";
import type { KeepAwakeView } from "../api/generated/KeepAwakeView";
import type { Reason } from "../api/generated/Reason";
import { details, forItem, headline, notCountedBecause, reasonText } from "./awake";

const reason = (kind: Reason["kind"], guid: string, title: string, counted = true): Reason => ({ kind, guid, title, due: null, counted });

const view = (over: Partial<KeepAwakeView>): KeepAwakeView => ({
  setting: "always",
  state: "idle",
  holding: false,
  since: null,
  why: null,
  on_battery: false,
  unavailable: null,
  reasons: [],
  note: "",
  ...over,
});

describe("keep-awake wording", () => {
  it("names each reason with its item", () => {
    expect(reasonText(reason("session", "a", "Sales"))).toBe("a viewer is using “Sales”");
    expect(reasonText(reason("render", "b", "Weekly"))).toBe("rendering “Weekly”");
    expect(reasonText(reason("schedule", "b", "Weekly"))).toBe("a scheduled render of “Weekly” is due");
    expect(reasonText({ ...reason("schedule", "b", "Weekly"), due: "2026-01-01T09:00:00Z" })).toMatch(/^a scheduled render of “Weekly” is due at /);
  });

  it("says why a reason does not count", () => {
    const s = reason("session", "a", "Sales", false);
    expect(notCountedBecause(view({ on_battery: true }), s)).toBe("on battery, app sessions do not keep it awake");
    expect(notCountedBecause(view({ setting: "renders" }), s)).toBe("keep-awake is set to renders only");
    expect(notCountedBecause(view({ setting: "off" }), reason("render", "r", "R", false))).toBe("keep-awake is off");
    expect(notCountedBecause(view({}), reason("render", "r", "R"))).toBeNull();
  });

  it("heads the Power card with the state and lists the details", () => {
    const v = view({ state: "holding", holding: true, reasons: [reason("render", "r", "Report"), reason("session", "a", "Sales", false)], on_battery: true });
    expect(headline(v)).toBe("Keeping this computer awake");
    expect(details(v)).toEqual([
      "Rendering “Report”",
      "A viewer is using “Sales” (on battery, app sessions do not keep it awake)",
      "On battery: only renders and scheduled renders keep it awake.",
    ]);
    const u = view({ state: "unavailable", unavailable: "no system bus (file not found)", on_battery: null });
    expect(headline(u)).toBe("Unavailable on this computer");
    expect(details(u)).toEqual(["Why: no system bus (file not found)"]);
  });

  it("tells the item page only about its own item", () => {
    const v = view({ state: "holding", holding: true, reasons: [reason("render", "r", "Report"), reason("session", "a", "Sales")] });
    expect(forItem(v, "r")).toBe("Porch is keeping this computer awake: rendering “Report”.");
    expect(forItem(v, "zzz")).toBeNull();
    expect(forItem(null, "r")).toBeNull();
    const battery = view({ on_battery: true, reasons: [reason("session", "a", "Sales", false)] });
    expect(forItem(battery, "a")).toBe("Not keeping this computer awake for it (on battery, app sessions do not keep it awake): a viewer is using “Sales”.");
    const refused = view({ state: "unavailable", unavailable: "systemd-logind refused the inhibitor: Access denied", reasons: [reason("session", "a", "Sales")] });
    expect(forItem(refused, "a")).toBe("Porch cannot keep this computer awake (systemd-logind refused the inhibitor: Access denied): a viewer is using “Sales”.");
  });
});
