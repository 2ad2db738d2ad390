import { describe, expect, it } from "vitest";
import { defaultForm, describe as say, fromView, SCHEDULE_TYPES, toBody, validate, zonedToUtc, wallClock, zoneList, type ScheduleForm } from "./schedule";

const base = (over: Partial<ScheduleForm> = {}): ScheduleForm => ({
  ...defaultForm(new Date("2026-03-01T08:30:00Z"), "Europe/Berlin"),
  ...over,
});

describe("schedule form", () => {
  it("lists a saved zone the browser knows under another name, so the picker shows it", () => {
    expect(zoneList("Asia/Kolkata")).toContain("Asia/Kolkata");
    expect(zoneList()).toContain("UTC");
    const list = zoneList("Etc/GMT-14");
    expect([...list].sort()).toEqual(list);
  });

  it("defaults to daily at the next full hour in the given zone", () => {
    const f = base();
    expect(f.type).toBe("day");
    expect(f.timezone).toBe("Europe/Berlin");
    expect(f.startDate).toBe("2026-03-01");
    expect(f.startTime).toBe("10:00"); // 08:30Z + 1 h = 10:30 Berlin → 10:00
    expect(validate(f)).toEqual({});
  });

  it("converts wall time to UTC across DST", () => {
    expect(zonedToUtc("2026-01-15", "09:00", "Europe/Berlin").toISOString()).toBe("2026-01-15T08:00:00.000Z");
    expect(zonedToUtc("2026-07-15", "09:00", "Europe/Berlin").toISOString()).toBe("2026-07-15T07:00:00.000Z");
    expect(zonedToUtc("2026-07-15", "09:00", "America/New_York").toISOString()).toBe("2026-07-15T13:00:00.000Z");
    expect(wallClock(new Date("2026-07-15T07:00:00Z"), "Europe/Berlin")).toEqual({ date: "2026-07-15", time: "09:00" });
  });

  it("writes Connect's shape for every type and reads it back unchanged", () => {
    const cases: Partial<ScheduleForm>[] = [
      { type: "minute", n: 15 },
      { type: "hour", n: 2 },
      { type: "day", n: 3 },
      { type: "weekday" },
      { type: "week", n: 2, days: [1, 3] },
      { type: "dayofweek", days: [0, 6] },
      { type: "semimonth", first: false },
      { type: "dayofmonth", n: 1, monthDay: 31 },
      { type: "dayweekofmonth", n: 1, weekday: 5, week: 5 },
      { type: "year", n: 1 },
      { type: "cron", cron: "30 6 * * 1-5" },
    ];
    expect(cases.map((c) => c.type).sort()).toEqual(SCHEDULE_TYPES.map(([t]) => t).sort());
    for (const c of cases) {
      const f = base({ ...c, email: true, recipients: "a@example.com, b@example.com" });
      expect(validate(f)).toEqual({});
      const body = toBody(f);
      expect(body.type).toBe(c.type);
      expect(body.timezone).toBe("Europe/Berlin");
      expect(body.start_time).toBe("2026-03-01T09:00:00Z");
      expect(body.recipients).toEqual(["a@example.com", "b@example.com"]);
      const back = fromView({ ...body, schedule: body.schedule });
      const pick = (x: ScheduleForm) => ({ type: x.type, n: x.n, days: x.days, first: x.first, monthDay: x.monthDay, weekday: x.weekday, week: x.week, cron: x.cron, startDate: x.startDate, startTime: x.startTime });
      const relevant = pick({ ...base(), ...f });
      const got = pick(back);
      for (const k of Object.keys(c) as (keyof ScheduleForm)[]) expect(got[k as keyof typeof got]).toEqual(relevant[k as keyof typeof relevant]);
      expect(got.startDate).toBe("2026-03-01");
      expect(got.startTime).toBe("10:00");
    }
    expect(JSON.parse(toBody(base({ type: "dayweekofmonth", n: 1, weekday: 5, week: 5 })).schedule)).toEqual({ N: 1, Day: 5, Week: 5 });
    expect(JSON.parse(toBody(base({ type: "week", n: 2, days: [3, 1] })).schedule)).toEqual({ N: 2, Days: [1, 3] });
  });

  it("names each bad field", () => {
    expect(validate(base({ n: 0 }))).toHaveProperty("n");
    expect(validate(base({ type: "dayofweek", days: [] }))).toHaveProperty("days");
    expect(validate(base({ type: "dayofmonth", monthDay: 32 }))).toHaveProperty("monthDay");
    expect(validate(base({ type: "cron", cron: "* * *" })).cron).toMatch(/5 fields/);
    expect(validate(base({ startTime: "" }))).toHaveProperty("startTime");
    expect(validate(base({ recipients: "nobody" })).recipients).toMatch(/nobody/);
    expect(validate(base({ email: true, recipients: "" })).recipients).toMatch(/at least one/);
  });

  it("describes a schedule in words", () => {
    expect(say(base({ type: "day", n: 2 }))).toBe("Every 2 days at 10:00 (Europe/Berlin)");
    expect(say(base({ type: "dayweekofmonth", weekday: 1, week: 5, n: 1 }))).toBe("On the last Mon of every month at 10:00 (Europe/Berlin)");
  });
});
