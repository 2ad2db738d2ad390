// The schedule editor: every Connect schedule type, the anchor date and time, a time zone
// (the system's by default), publish / catch-up / email options, and a live preview of the
// next 5 runs in local time from the engine's dry run, with validation as you type.

import { toApiError } from "../../api/client";
import * as api from "../../api/content";
import { previewSchedule } from "../../api/server";
import type { ScheduleView } from "../../api/types";
import { button, field, h } from "../../components/dom";
import { ErrorNote, replaceError } from "../../components/ErrorNote";
import { toast } from "../../components/Toast";
import { defaultForm, describe, fromView, SCHEDULE_TYPES, toBody, validate, WEEKDAYS, zoneList, type ScheduleForm } from "../../lib/schedule";

export function ScheduleEditor(guid: string, existing: ScheduleView | null, onSaved: () => void): HTMLElement {
  const f: ScheduleForm = existing ? fromView(existing) : defaultForm();
  const box = h("div", { class: "schedule-editor", "data-testid": "schedule-editor" });
  const preview = h("ol", { class: "next-runs", "data-testid": "next-runs", "aria-live": "polite" });
  const previewNote = h("p", { class: "small muted", "data-testid": "next-runs-note" });
  let seq = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const refreshPreview = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const errors = validate(f);
      if (Object.keys(errors).length > 0) {
        preview.replaceChildren();
        // Say what to fix (a field may be out of view, or not marked until Save).
        previewNote.textContent = `To see the next runs: ${Object.values(errors)[0]}`;
        return;
      }
      const mine = ++seq;
      try {
        const runs = await previewSchedule(toBody(f));
        if (mine !== seq) return;
        previewNote.textContent = runs.length === 0 ? "This schedule never runs again." : `${describe(f)}. Next runs, in your local time:`;
        preview.replaceChildren(...runs.map((r) => h("li", { "data-testid": "next-run" }, new Date(r.utc).toLocaleString(undefined, { weekday: "short", year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }))));
      } catch (err) {
        if (mine !== seq) return;
        preview.replaceChildren();
        previewNote.textContent = toApiError(err).message;
      }
    }, 150);
  };

  const paint = (errors: Record<string, string> = {}) => {
    const set = <K extends keyof ScheduleForm>(k: K, v: ScheduleForm[K], repaint = false) => {
      f[k] = v;
      if (repaint) paint(errors);
      refreshPreview();
    };
    const num = (k: "n" | "monthDay" | "week", min: number, max?: number) =>
      h("input", { type: "number", min, max, value: f[k], "data-testid": `sched-${k}`, oninput: (e: Event) => set(k, Number((e.target as HTMLInputElement).value)) });
    const type = h(
      "select",
      { "data-testid": "sched-type", onchange: (e: Event) => set("type", (e.target as HTMLSelectElement).value as ScheduleForm["type"], true) },
      ...SCHEDULE_TYPES.map(([v, label]) => h("option", { value: v, selected: v === f.type }, label)),
    );
    const days = h(
      "fieldset",
      { class: "days" },
      h("legend", {}, f.type === "week" ? "On these days (optional)" : "On these days"),
      ...WEEKDAYS.map((d, i) =>
        h("label", { class: "check" }, h("input", { type: "checkbox", checked: f.days.includes(i), onchange: (e: Event) => set("days", (e.target as HTMLInputElement).checked ? [...f.days, i] : f.days.filter((x) => x !== i)) }), ` ${d}`),
      ),
      errors.days ? h("p", { class: "field-error small", role: "alert" }, errors.days) : null,
    );
    const zones = h("select", { "data-testid": "sched-timezone", onchange: (e: Event) => set("timezone", (e.target as HTMLSelectElement).value) }, ...zoneList(f.timezone).map((z) => h("option", { value: z, selected: z === f.timezone }, z)));
    const fields: (HTMLElement | null)[] = [
      field("sched-type-f", "Repeat", type),
      ["minute", "hour", "day", "week", "dayofmonth", "dayweekofmonth", "year"].includes(f.type)
        ? field("sched-n-f", { minute: "Every how many minutes", hour: "Every how many hours", day: "Every how many days", week: "Every how many weeks", year: "Every how many years" }[f.type as string] ?? "Every how many months", num("n", 1), { error: errors.n })
        : null,
      f.type === "week" || f.type === "dayofweek" ? days : null,
      f.type === "semimonth"
        ? field("sched-first-f", "Days", h("select", { onchange: (e: Event) => set("first", (e.target as HTMLSelectElement).value === "1") }, h("option", { value: "1", selected: f.first }, "1st and 15th"), h("option", { value: "0", selected: !f.first }, "14th and the last day")))
        : null,
      f.type === "dayofmonth" ? field("sched-monthday-f", "Day of the month", num("monthDay", 1, 31), { error: errors.monthDay, hint: "In short months, the last day." }) : null,
      f.type === "dayweekofmonth"
        ? field("sched-weekday-f", "Weekday", h("select", { onchange: (e: Event) => set("weekday", Number((e.target as HTMLSelectElement).value)) }, ...WEEKDAYS.map((d, i) => h("option", { value: i, selected: i === f.weekday }, d))))
        : null,
      f.type === "dayweekofmonth"
        ? field("sched-week-f", "Week of the month", h("select", { onchange: (e: Event) => set("week", Number((e.target as HTMLSelectElement).value)) }, ...["First", "Second", "Third", "Fourth", "Last"].map((w, i) => h("option", { value: i + 1, selected: i + 1 === f.week }, w))), { error: errors.week })
        : null,
      f.type === "cron"
        ? field("sched-cron-f", "Cron expression", h("input", { value: f.cron, spellcheck: "false", "data-testid": "sched-cron", oninput: (e: Event) => set("cron", (e.target as HTMLInputElement).value) }), { hint: "minute hour day-of-month month day-of-week, e.g. 0 9 * * 1-5", error: errors.cron })
        : null,
      h(
        "div",
        { class: "row" },
        field("sched-date-f", "Starting on", h("input", { type: "date", value: f.startDate, "data-testid": "sched-date", oninput: (e: Event) => set("startDate", (e.target as HTMLInputElement).value) }), { error: errors.startDate }),
        field("sched-time-f", "At", h("input", { type: "time", value: f.startTime, "data-testid": "sched-time", oninput: (e: Event) => set("startTime", (e.target as HTMLInputElement).value) }), { error: errors.startTime }),
        field("sched-tz-f", "Time zone", zones, { error: errors.timezone }),
      ),
      h(
        "div",
        { class: "checks" },
        h("label", { class: "check" }, h("input", { type: "checkbox", checked: f.enabled, "data-testid": "sched-enabled", onchange: (e: Event) => set("enabled", (e.target as HTMLInputElement).checked) }), " Enabled"),
        h("label", { class: "check" }, h("input", { type: "checkbox", checked: f.publish, onchange: (e: Event) => set("publish", (e.target as HTMLInputElement).checked) }), " Publish the output (viewers see the new render)"),
        h("label", { class: "check" }, h("input", { type: "checkbox", checked: f.catchUp, onchange: (e: Event) => set("catchUp", (e.target as HTMLInputElement).checked) }), " Catch up: run once if a run was missed while Porch was off"),
        h("label", { class: "check" }, h("input", { type: "checkbox", checked: f.email, onchange: (e: Event) => set("email", (e.target as HTMLInputElement).checked, true) }), " Email the result"),
      ),
      f.email || f.recipients
        ? field("sched-recipients-f", "Email recipients", h("textarea", { rows: 2, value: f.recipients, "data-testid": "sched-recipients", oninput: (e: Event) => set("recipients", (e.target as HTMLTextAreaElement).value) }), { hint: "Separate with commas. Needs SMTP in Settings.", error: errors.recipients })
        : null,
    ];
    box.replaceChildren(
      ...fields.filter((x): x is HTMLElement => x !== null),
      h("div", { class: "card preview-card" }, h("h3", {}, "Next runs"), previewNote, preview),
      h(
        "div",
        { class: "actions" },
        existing ? button("Delete schedule", () => void remove(), { kind: "danger", testid: "sched-delete" }) : null,
        button(existing ? "Save schedule" : "Add schedule", () => void save(), { kind: "primary", testid: "sched-save" }),
      ),
    );
  };

  const save = async () => {
    const errors = validate(f);
    if (Object.keys(errors).length > 0) {
      paint(errors);
      return;
    }
    try {
      if (existing) await api.updateSchedule(existing.id, toBody(f));
      else await api.createSchedule(guid, toBody(f));
      toast("Schedule saved");
      onSaved();
    } catch (err) {
      replaceError(box, ErrorNote(err, "The schedule was not saved"));
    }
  };
  const remove = async () => {
    if (!existing || !confirm("Delete this schedule?")) return;
    try {
      await api.deleteSchedule(existing.id);
      toast("Schedule deleted");
      onSaved();
    } catch (err) {
      replaceError(box, ErrorNote(err));
    }
  };

  paint();
  refreshPreview();
  return box;
}
