// The schedule editor's model: a flat form, converted to and from Connect's schedule shape
// (`type`, `schedule` as a JSON string of parameters, `start_time` in UTC, `timezone`).
// Pure functions, so the editor's rules are unit-tested without a browser.

export const SCHEDULE_TYPES = [
  ["minute", "Every N minutes"],
  ["hour", "Every N hours"],
  ["day", "Every N days"],
  ["weekday", "Every weekday (Mon–Fri)"],
  ["week", "Every N weeks"],
  ["dayofweek", "On chosen days of the week"],
  ["semimonth", "Twice a month"],
  ["dayofmonth", "On a day of the month, every N months"],
  ["dayweekofmonth", "On a weekday of a week of the month"],
  ["year", "Every N years"],
  ["cron", "Cron expression"],
] as const;

export type ScheduleType = (typeof SCHEDULE_TYPES)[number][0];

/** Sunday-first, as Connect numbers days (0 = Sunday). */
export const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

export interface ScheduleForm {
  type: ScheduleType;
  /** Interval count (minutes, hours, days, weeks, months or years). */
  n: number;
  /** Days of the week, 0 = Sunday. */
  days: number[];
  /** Semimonth: true = 1st and 15th, false = 14th and last day. */
  first: boolean;
  /** Day of the month (dayofmonth), 1–31. */
  monthDay: number;
  /** Weekday (dayweekofmonth), 0 = Sunday. */
  weekday: number;
  /** Week of the month (dayweekofmonth), 1–4, or 5 for the last. */
  week: number;
  cron: string;
  /** Anchor date and time on the wall clock of `timezone`. */
  startDate: string;
  startTime: string;
  timezone: string;
  enabled: boolean;
  publish: boolean;
  catchUp: boolean;
  email: boolean;
  /** Comma- or newline-separated addresses. */
  recipients: string;
}

/** What the API takes: Connect's definition plus Porch's options. */
export interface ScheduleBody {
  type: ScheduleType;
  schedule: string;
  start_time: string;
  timezone: string;
  enabled: boolean;
  publish: boolean;
  catch_up: boolean;
  email: boolean;
  recipients: string[];
}

/** The zone the system runs in, e.g. "Europe/Berlin" ("UTC" when unknown). */
export function systemZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** Every IANA zone the browser knows, for the picker (the system zone is always in it, and
 * `current`, a schedule's saved zone, which the browser may know under an older name: Chromium
 * lists `Asia/Calcutta` for `Asia/Kolkata`). */
export function zoneList(current?: string): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  const zones = intl.supportedValuesOf ? intl.supportedValuesOf("timeZone") : [];
  const set = new Set(zones);
  set.add(systemZone());
  set.add("UTC");
  if (current) set.add(current);
  return [...set].sort();
}

/** A new schedule: daily at the next full hour, in the system zone. */
export function defaultForm(now = new Date(), zone = systemZone()): ScheduleForm {
  const next = new Date(now.getTime() + 3600_000);
  const wall = wallClock(next, zone);
  return {
    type: "day",
    n: 1,
    days: [1],
    first: true,
    monthDay: 1,
    weekday: 1,
    week: 1,
    cron: "0 9 * * 1-5",
    startDate: wall.date,
    startTime: `${wall.time.slice(0, 2)}:00`,
    timezone: zone,
    enabled: true,
    publish: true,
    catchUp: true,
    email: false,
    recipients: "",
  };
}

/** Checks a form; returns one message per problem, keyed by field. Empty when valid. */
export function validate(f: ScheduleForm): Record<string, string> {
  const errors: Record<string, string> = {};
  const needsN = !["weekday", "dayofweek", "semimonth", "cron"].includes(f.type);
  if (needsN && (!Number.isInteger(f.n) || f.n < 1)) errors.n = "Enter a whole number of 1 or more.";
  if (f.type === "dayofweek" && f.days.length === 0) {
    errors.days = "Pick at least one day.";
  }
  if (f.type === "dayofmonth" && (!Number.isInteger(f.monthDay) || f.monthDay < 1 || f.monthDay > 31)) {
    errors.monthDay = "A day of the month is 1 to 31.";
  }
  if (f.type === "dayweekofmonth" && (!Number.isInteger(f.week) || f.week < 1 || f.week > 5)) {
    errors.week = "Pick a week of the month.";
  }
  if (f.type === "cron" && f.cron.trim().split(/\s+/).length !== 5) {
    errors.cron = "A cron expression has 5 fields: minute hour day-of-month month day-of-week.";
  }
  if (!/^\d{4}-\d{2}-\d{2}$/.test(f.startDate)) errors.startDate = "Pick a start date.";
  if (!/^\d{2}:\d{2}$/.test(f.startTime)) errors.startTime = "Pick a start time.";
  if (!f.timezone) errors.timezone = "Pick a time zone.";
  const bad = parseRecipients(f.recipients).find((a) => !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(a));
  if (bad !== undefined) errors.recipients = `“${bad}” is not an email address.`;
  if (f.email && parseRecipients(f.recipients).length === 0) errors.recipients = "Add at least one address, or turn email off.";
  return errors;
}

export function parseRecipients(text: string): string[] {
  return text
    .split(/[,\n;]/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** The API body for a valid form. */
export function toBody(f: ScheduleForm): ScheduleBody {
  let params: Record<string, unknown>;
  switch (f.type) {
    case "minute":
    case "hour":
    case "day":
    case "year":
      params = { N: f.n };
      break;
    case "weekday":
      params = {};
      break;
    case "week":
      params = f.days.length > 0 ? { N: f.n, Days: [...f.days].sort() } : { N: f.n };
      break;
    case "dayofweek":
      params = { Days: [...f.days].sort() };
      break;
    case "semimonth":
      params = { First: f.first };
      break;
    case "dayofmonth":
      params = { N: f.n, Day: f.monthDay };
      break;
    case "dayweekofmonth":
      params = { N: f.n, Day: f.weekday, Week: f.week };
      break;
    case "cron":
      params = { Cron: f.cron.trim() };
      break;
  }
  return {
    type: f.type,
    schedule: JSON.stringify(params),
    start_time: zonedToUtc(f.startDate, f.startTime, f.timezone).toISOString().replace(".000Z", "Z"),
    timezone: f.timezone,
    enabled: f.enabled,
    publish: f.publish,
    catch_up: f.catchUp,
    email: f.email,
    recipients: parseRecipients(f.recipients),
  };
}

/** A stored schedule (as the API lists it) back into the form. */
export function fromView(v: {
  type?: string;
  schedule?: unknown;
  start_time?: string;
  timezone?: string;
  enabled?: boolean;
  publish?: boolean;
  catch_up?: boolean;
  email?: boolean;
  recipients?: string[];
  cron?: string;
}): ScheduleForm {
  const f = defaultForm();
  f.type = (SCHEDULE_TYPES.some(([t]) => t === v.type) ? v.type : "cron") as ScheduleType;
  let p: Record<string, unknown> = {};
  if (typeof v.schedule === "string") {
    try {
      p = JSON.parse(v.schedule) as Record<string, unknown>;
    } catch {
      p = { Cron: v.schedule };
    }
  } else if (v.schedule && typeof v.schedule === "object") {
    p = v.schedule as Record<string, unknown>;
  }
  if (typeof p.N === "number") f.n = p.N;
  if (Array.isArray(p.Days)) f.days = p.Days.filter((d): d is number => typeof d === "number");
  if (typeof p.First === "boolean") f.first = p.First;
  if (f.type === "dayofmonth" && typeof p.Day === "number") f.monthDay = p.Day;
  if (f.type === "dayweekofmonth" && typeof p.Day === "number") f.weekday = p.Day;
  if (typeof p.Week === "number") f.week = p.Week;
  if (typeof p.Cron === "string") f.cron = p.Cron;
  if (typeof v.cron === "string") f.cron = v.cron;
  if (v.timezone) f.timezone = v.timezone;
  if (v.start_time) {
    const wall = wallClock(new Date(v.start_time), f.timezone);
    f.startDate = wall.date;
    f.startTime = wall.time;
  }
  f.enabled = v.enabled ?? true;
  f.publish = v.publish ?? true;
  f.catchUp = v.catch_up ?? true;
  f.email = v.email ?? false;
  f.recipients = (v.recipients ?? []).join(", ");
  return f;
}

/** One line describing a schedule, e.g. "Every 2 days at 09:00 (Europe/Berlin)". */
export function describe(f: ScheduleForm): string {
  const at = `at ${f.startTime}`;
  const every = (unit: string) => (f.n === 1 ? `Every ${unit}` : `Every ${f.n} ${unit}s`);
  const days = f.days.map((d) => WEEKDAYS[d]).join(", ");
  const weekName = f.week === 5 ? "last" : ["first", "second", "third", "fourth"][f.week - 1];
  let what: string;
  switch (f.type) {
    case "minute":
      what = every("minute");
      break;
    case "hour":
      what = every("hour");
      break;
    case "day":
      what = `${every("day")} ${at}`;
      break;
    case "weekday":
      what = `Every weekday ${at}`;
      break;
    case "week":
      what = `${every("week")}${days ? ` on ${days}` : ""} ${at}`;
      break;
    case "dayofweek":
      what = `Every ${days || "—"} ${at}`;
      break;
    case "semimonth":
      what = `${f.first ? "On the 1st and 15th" : "On the 14th and last day"} ${at}`;
      break;
    case "dayofmonth":
      what = `On day ${f.monthDay} ${f.n === 1 ? "of every month" : `every ${f.n} months`} ${at}`;
      break;
    case "dayweekofmonth":
      what = `On the ${weekName} ${WEEKDAYS[f.weekday]} ${f.n === 1 ? "of every month" : `every ${f.n} months`} ${at}`;
      break;
    case "year":
      what = `${every("year")} on ${f.startDate.slice(5)} ${at}`;
      break;
    case "cron":
      what = `Cron “${f.cron.trim()}”`;
      break;
  }
  return `${what} (${f.timezone})`;
}

/** The wall-clock date and time of `instant` in `zone`. */
export function wallClock(instant: Date, zone: string): { date: string; time: string } {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(instant);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? "00";
  return { date: `${get("year")}-${get("month")}-${get("day")}`, time: `${get("hour")}:${get("minute")}` };
}

/** The instant when the wall clock in `zone` shows `date` `time` (the earlier one in a DST overlap). */
export function zonedToUtc(date: string, time: string, zone: string): Date {
  const [y, mo, d] = date.split("-").map(Number);
  const [h, mi] = time.split(":").map(Number);
  const asUtc = Date.UTC(y, mo - 1, d, h, mi);
  // The zone's offset at a guess, then at the corrected instant (one step settles DST edges).
  let guess = asUtc - offsetMs(new Date(asUtc), zone);
  guess = asUtc - offsetMs(new Date(guess), zone);
  return new Date(guess);
}

function offsetMs(instant: Date, zone: string): number {
  const wall = wallClock(instant, zone);
  const [y, mo, d] = wall.date.split("-").map(Number);
  const [h, mi] = wall.time.split(":").map(Number);
  const seconds = Math.floor(instant.getTime() / 60000) * 60000;
  return Date.UTC(y, mo - 1, d, h, mi) - seconds;
}
