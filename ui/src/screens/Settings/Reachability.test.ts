import { afterEach, describe, expect, it, vi } from "vitest";
import type { ReachReport } from "../../api/types";
import { phoneLine, Reachability, statusLabel, summary } from "./Reachability";

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

describe("Reachability panel", () => {
  afterEach(() => vi.unstubAllGlobals());

  /** Answers the engine's reach calls in order of path; records what was asked. */
  function engine(answers: Record<string, unknown[]>): string[] {
    const asked: string[] = [];
    vi.stubGlobal("fetch", async (path: string, init: RequestInit) => {
      asked.push(`${init.method} ${path}`);
      const key = Object.keys(answers).find((k) => path.startsWith(k)) ?? "";
      const next = answers[key]?.shift();
      return new Response(JSON.stringify(next ?? {}), { status: next === undefined ? 404 : 200 });
    });
    return asked;
  }

  const until = async (what: () => boolean) => {
    for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 5));
    expect(what()).toBe(true);
  };

  it("shows each check with its fix, and why the phone test cannot work when bound to this computer", async () => {
    const bind = { id: "bind", status: "problem", title: "Porch listens on this computer only (127.0.0.1:3939)", detail: null, fix: "porch settings set bind=network, then restart Porch", rule: null };
    engine({ "/__api__/porch/reach": [report({ ok: false, checks: [bind as never], phone_blocked: "Porch listens on this computer only" })] });
    const panel = Reachability();
    document.body.append(panel);
    (panel.querySelector('[data-testid="reach-run"]') as HTMLButtonElement).click();
    await until(() => panel.querySelector('[data-testid="reach-bind"]') !== null);
    expect(panel.querySelector('[data-testid="reach-bind"]')?.getAttribute("data-status")).toBe("problem");
    expect(panel.querySelector('[data-testid="reach-fix"]')?.textContent).toContain("bind=network");
    expect(panel.querySelector('[data-testid="reach-phone-blocked"]')?.textContent).toContain("this computer only");
    expect(panel.querySelector('[data-testid="reach-phone-start"]')).toBeNull();
    panel.remove();
  });

  it("draws the QR code of a phone test and shows who reached it", async () => {
    const test = { token: "ab12", url: "http://192.168.1.23:3939/__porch__/reach/ab12", urls: ["http://192.168.1.23:3939/__porch__/reach/ab12", "http://pc.local:3939/__porch__/reach/ab12"], expires_in: 600 };
    const asked = engine({
      "/__api__/porch/reach/phone/ab12": [
        { state: "waiting", opened_here: true },
        { state: "reached", peer: "192.168.1.40", browser: "Android, Chrome", message: "reached from 192.168.1.40 (Android, Chrome)" },
      ],
      "/__api__/porch/reach/phone": [test],
      "/__api__/porch/reach": [report({})],
    });
    const panel = Reachability();
    document.body.append(panel);
    (panel.querySelector('[data-testid="reach-run"]') as HTMLButtonElement).click();
    await until(() => panel.querySelector('[data-testid="reach-phone-start"]') !== null);
    (panel.querySelector('[data-testid="reach-phone-start"]') as HTMLButtonElement).click();
    await until(() => panel.querySelector('[data-testid="reach-phone-again"]') !== null);
    expect(panel.querySelector('[data-testid="qr"]')).not.toBeNull();
    expect(panel.querySelector('[data-testid="reach-phone-url"]')?.textContent).toBe(test.url);
    expect(panel.querySelector('[data-testid="reach-phone-state"]')?.textContent).toBe("It works: reached from 192.168.1.40 (Android, Chrome).");
    expect(asked).toEqual(["GET /__api__/porch/reach", "POST /__api__/porch/reach/phone", "GET /__api__/porch/reach/phone/ab12?wait=25", "GET /__api__/porch/reach/phone/ab12?wait=25&here=true"]);
    panel.remove();
  });
});
