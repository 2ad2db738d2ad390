import { describe, expect, it } from "vitest";
import type { ReachReport } from "../../api/types";
import { phoneLine, statusLabel, summary } from "./Reachability";

const report = (over: Partial<ReachReport>): ReachReport => ({
  ok: true, serving: true, port: 3939, bind: "0.0.0.0", addresses: [{ interface: "wlan0", ip: "192.168.1.23" }], skipped: [],
  checks: [{ id: "bind", status: "ok", title: "Porch listens on the network (0.0.0.0:3939)", detail: null, fix: null, rule: null }],
  phone_blocked: null, ...over,
});

describe("Reachability", () => {
  it("labels every status in words", () => {
    expect(["ok", "info", "warning", "unknown", "problem"].map((s) => statusLabel(s as never))).toEqual(["OK", "Note", "Warning", "Not checked", "Problem"]);
  });

  it("sums up problems, and points to the phone test and guest Wi-Fi when there are none", () => {
    expect(summary(report({}))).toMatch(/No problem found.*phone.*client isolation/);
    const fw = { id: "firewall", status: "problem" as const, title: "The firewall drops port 3939", detail: null, fix: "sudo ufw allow 3939/tcp", rule: null };
    expect(summary(report({ ok: false, checks: [fw] }))).toBe("One problem found: see the fix under it.");
    expect(summary(report({ ok: false, checks: [fw, { ...fw, id: "route" }] }))).toBe("2 problems found: see the fix under each.");
  });

  it("says where a phone test stands and when it is over", () => {
    expect(phoneLine({ state: "waiting", opened_here: false })).toMatchObject({ done: false, ok: false });
    expect(phoneLine({ state: "waiting", opened_here: true }).text).toMatch(/another device/);
    const reached = phoneLine({ state: "reached", peer: "192.168.1.40", browser: "Android, Chrome", message: "reached from 192.168.1.40 (Android, Chrome)" });
    expect(reached).toEqual({ text: "It works: reached from 192.168.1.40 (Android, Chrome).", done: true, ok: true });
    expect(phoneLine({ state: "expired" })).toMatchObject({ done: true, ok: false });
    expect(phoneLine({ state: "expired" }).text).toMatch(/client isolation/);
  });
});
