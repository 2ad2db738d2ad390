// The Reachability panel: the checks of `porch doctor` (each result with its fix) and
// "Test from your phone" (a QR code of a one-time URL, and the live result when another
// device opens it). The checks run on the engine (GET /__api__/porch/reach); this file only
// draws them. The pure parts (labels, the phone line) are exported for the unit tests.

import { reachReport, phoneState, startPhoneTest } from "../../api/reach";
import type { PhoneState, PhoneTest, ReachCheck, ReachReport, ReachStatus } from "../../api/types";
import { button, h } from "../../components/dom";
import { ErrorNote } from "../../components/ErrorNote";
import { Qr } from "../../components/Qr";

/** The word shown beside a check. */
export function statusLabel(s: ReachStatus): string {
  return { ok: "OK", info: "Note", warning: "Warning", unknown: "Not checked", problem: "Problem" }[s];
}

/** One sentence over all checks. */
export function summary(r: ReachReport): string {
  const problems = r.checks.filter((c) => c.status === "problem").length;
  if (problems > 0) return `${problems === 1 ? "One problem" : `${problems} problems`} found: see the fix under ${problems === 1 ? "it" : "each"}.`;
  return "No problem found. If a viewer still cannot connect, test from your phone; on guest Wi-Fi, devices often cannot reach each other (client isolation).";
}

/** What the panel says about a phone test, and whether it is over. */
export function phoneLine(s: PhoneState): { text: string; done: boolean; ok: boolean } {
  switch (s.state) {
    case "waiting":
      return s.opened_here
        ? { text: "Opened on this computer, which proves nothing about the network: open it on another device (scan the code with your phone).", done: false, ok: false }
        : { text: "Waiting for another device to open it…", done: false, ok: false };
    case "reached":
      return { text: `It works: ${s.message}.`, done: true, ok: true };
    case "expired":
      return { text: "No other device opened it within ten minutes. If the phone showed an error, look at the checks above; on guest Wi-Fi, devices often cannot reach each other (client isolation).", done: true, ok: false };
  }
}

function checkRow(c: ReachCheck, r: ReachReport): HTMLElement {
  const li = h("li", { class: `reach-check reach-${c.status}`, "data-testid": `reach-${c.id}`, "data-status": c.status },
    h("strong", { class: "reach-status" }, statusLabel(c.status)), " ", h("span", {}, c.title));
  if (c.detail) li.append(h("p", { class: "muted small" }, c.detail));
  if (c.fix) li.append(h("p", { class: "small" }, "Fix: ", h("code", { "data-testid": "reach-fix" }, c.fix)));
  if (c.id === "addresses" && r.skipped.length > 0) {
    li.append(h("ul", { class: "plain muted small", "data-testid": "reach-skipped" }, ...r.skipped.map((s) => h("li", {}, `skipped ${s.ip} (${s.interface}): ${s.reason}`))));
  }
  return li;
}

/** The panel. Polls a phone test only while the panel is on screen. */
export function Reachability(): HTMLElement {
  const results = h("div", { "data-testid": "reach-results" }, h("p", { class: "muted small" }, "Checks whether other devices on your network can reach Porch, and says why not."));
  const phone = h("div", { class: "subsection", "data-testid": "reach-phone" });
  const box = h("div", {}, results, phone);

  const run = async () => {
    results.replaceChildren(h("p", { class: "muted loading" }, "Checking…"));
    try {
      const r = await reachReport();
      results.replaceChildren(
        h("p", { "data-testid": "reach-summary", class: r.ok ? "" : "error-text" }, summary(r)),
        h("ul", { class: "plain reach-checks" }, ...r.checks.map((c) => checkRow(c, r))),
      );
      drawPhone(r.phone_blocked);
    } catch (e) {
      results.replaceChildren(ErrorNote(e, "The checks could not run"));
    }
  };

  const drawPhone = (blocked: string | null) => {
    if (blocked) {
      phone.replaceChildren(h("h3", {}, "Test from your phone"), h("p", { class: "muted", "data-testid": "reach-phone-blocked" }, blocked));
      return;
    }
    phone.replaceChildren(
      h("h3", {}, "Test from your phone"),
      h("p", { class: "muted small" }, "Shows a QR code of a one-time address (valid ten minutes). Scan it with a phone on the same Wi-Fi: the result appears here."),
      button("Test from your phone", () => void startPhone(), { testid: "reach-phone-start" }),
    );
  };

  const startPhone = async () => {
    let test: PhoneTest;
    try {
      test = await startPhoneTest();
    } catch (e) {
      phone.replaceChildren(h("h3", {}, "Test from your phone"), ErrorNote(e, "The phone test could not start"));
      return;
    }
    const line = h("p", { role: "status", "data-testid": "reach-phone-state" }, phoneLine({ state: "waiting", opened_here: false }).text);
    phone.replaceChildren(
      h("h3", {}, "Test from your phone"),
      Qr(test.url, "QR code of the one-time test address"),
      h("p", { class: "small" }, h("code", { "data-testid": "reach-phone-url" }, test.url)),
      ...test.urls.slice(1).map((u) => h("p", { class: "muted small" }, "or ", h("code", {}, u))),
      line,
    );
    let here = false;
    while (box.isConnected) {
      let s: PhoneState;
      try {
        s = await phoneState(test.token, here);
      } catch (e) {
        line.replaceChildren(ErrorNote(e, "Lost the test"));
        return;
      }
      here = s.state === "waiting" && s.opened_here;
      const l = phoneLine(s);
      line.textContent = l.text;
      line.className = l.ok ? "ok-text" : l.done ? "error-text" : "";
      if (l.done) {
        phone.append(button("Test again", () => void startPhone(), { testid: "reach-phone-again" }));
        return;
      }
    }
  };

  box.prepend(h("div", { class: "actions" }, button("Run the checks", () => void run(), { kind: "primary", testid: "reach-run" })));
  return box;
}
