// Keep-awake in words: what the Settings pane's Power card and the item page say about the
// logind inhibitor Porch holds (`keep_awake` in the server view). Pure functions over the
// view, so the wording is tested without a DOM.

import type { KeepAwakeView } from "../api/generated/KeepAwakeView";
import type { Reason } from "../api/generated/Reason";

/** One reason as a phrase: "a viewer is using Sales", "rendering Weekly report", … */
export function reasonText(r: Reason): string {
  switch (r.kind) {
    case "session":
      return `a viewer is using “${r.title}”`;
    case "render":
      return `rendering “${r.title}”`;
    case "schedule":
      return `a scheduled render of “${r.title}” is due${r.due ? ` at ${new Date(r.due).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}` : ""}`;
  }
}

/** Why a reason does not keep the computer awake now, or null when it does. */
export function notCountedBecause(v: KeepAwakeView, r: Reason): string | null {
  if (r.counted) return null;
  if (v.setting === "off") return "keep-awake is off";
  if (r.kind === "session" && v.setting === "renders") return "keep-awake is set to renders only";
  if (r.kind === "session" && v.on_battery) return "on battery, app sessions do not keep it awake";
  return "not counted";
}

/** The Power card's headline: holding or not, and why in a few words. */
export function headline(v: KeepAwakeView): string {
  switch (v.state) {
    case "holding":
      return "Keeping this computer awake";
    case "off":
      return "Off: Porch never keeps this computer awake";
    case "unavailable":
      return "Unavailable on this computer";
    case "not_serving":
      return "Porch is not serving";
    case "idle":
      return "Not keeping this computer awake: nothing needs it now";
  }
}

/** The lines under the headline: each reason (and why one does not count), the power source, the problem. */
export function details(v: KeepAwakeView): string[] {
  const lines = v.reasons.map((r) => {
    const why = notCountedBecause(v, r);
    return why ? `${capital(reasonText(r))} (${why})` : capital(reasonText(r));
  });
  if (v.state === "unavailable" && v.unavailable) lines.push(`Why: ${v.unavailable}`);
  if (v.on_battery !== null) lines.push(v.on_battery ? "On battery: only renders and scheduled renders keep it awake." : "On mains power.");
  return lines;
}

/**
 * What the item page says about one item, or null when keep-awake has nothing to do with it
 * now: "Porch is keeping this computer awake: rendering “Report”" or "…would keep it awake,
 * but …".
 */
export function forItem(v: KeepAwakeView | null | undefined, guid: string): string | null {
  if (!v) return null;
  const mine = v.reasons.filter((r) => r.guid === guid);
  if (mine.length === 0) return null;
  const phrases = mine.map(reasonText).join("; ");
  const counted = mine.filter((r) => r.counted);
  if (counted.length > 0 && v.holding) return `Porch is keeping this computer awake: ${phrases}.`;
  if (counted.length > 0 && v.state === "unavailable") return `Porch cannot keep this computer awake (${v.unavailable ?? "unavailable"}): ${phrases}.`;
  if (counted.length > 0) return `Porch is about to keep this computer awake: ${phrases}.`;
  const why = notCountedBecause(v, mine[0]) ?? "not counted";
  return `Not keeping this computer awake for it (${why}): ${phrases}.`;
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
