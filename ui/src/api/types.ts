// Wire types. Everything the engine defines as a Rust struct is generated into
// `./generated/` by ts-rs (`ui/scripts/gen-types.sh`; CI fails when they drift) and only
// re-exported here. The few shapes the engine assembles as loose JSON (schedules, worker
// lists, render rows with URLs, and the parallel-work endpoints: access, links, variants)
// are described at the bottom, next to the Rust that builds them.

export type { ApiKeyView } from "./generated/ApiKeyView";
export type { BundlePreview } from "./generated/BundlePreview";
export type { BundleView } from "./generated/BundleView";
export type { ContentView } from "./generated/ContentView";
export type { Deployment } from "./generated/Deployment";
export type { Event as EngineEvent } from "./generated/Event";
export type { HelperInfo } from "./generated/HelperInfo";
export type { NewApiKey } from "./generated/NewApiKey";
export type { NextRun } from "./generated/NextRun";
export type { PromotionReport } from "./generated/PromotionReport";
export type { RenderRow } from "./generated/RenderRow";
export type { RuntimeDefaults } from "./generated/RuntimeDefaults";
export type { RuntimeRow } from "./generated/RuntimeRow";
export type { Security } from "./generated/Security";
export type { SmtpSettings } from "./generated/SmtpSettings";
export type { ServerView } from "./generated/ServerView";
export type { SettingsView } from "./generated/SettingsView";
export type { SettingEntry } from "./generated/SettingEntry";
export type { BindScope } from "./generated/BindScope";
export type { Staged } from "./generated/Staged";
export type { TaskView } from "./generated/TaskView";
export type { TagView } from "./generated/TagView";
export type { TargetView } from "./generated/TargetView";
export type { UsageDayView } from "./generated/UsageDayView";
export type { UsageLatestView } from "./generated/UsageLatestView";
export type { ReachReport } from "./generated/ReachReport";
export type { ReachCheck } from "./generated/ReachCheck";
export type { ReachStatus } from "./generated/ReachStatus";
export type { PhoneState } from "./generated/PhoneState";
export type { PhoneTest } from "./generated/PhoneTest";
export type { UsageReport } from "./generated/UsageReport";
export type { AppMode } from "./generated/AppMode";
export type { LinkStatus } from "./generated/LinkStatus";
export type { Outcome } from "./generated/Outcome";
export type { RenderStatus } from "./generated/RenderStatus";
export type { Trigger } from "./generated/Trigger";
export type { ViewerAccess } from "./generated/ViewerAccess";
import type { ErrorCode as EngineErrorCode } from "./generated/ErrorCode";
import type { NextRun } from "./generated/NextRun";
import type { RenderRow } from "./generated/RenderRow";
import type { SmtpSettings } from "./generated/SmtpSettings";

/** The engine's codes, plus the UI's own: "Network" (no answer) and "Unsupported" (needs the app). */
export type ErrorCode = EngineErrorCode | "Network" | "Unsupported" | (string & {});

/** A UI-side event: the stream reconnected or fell behind, so refetch everything. */
export interface ResyncEvent {
  type: "lagged" | "resync";
}

/** `api/schedules.rs` → `Engine::schedule_view`: Connect's definition plus Porch's options. */
export interface ScheduleView {
  id: string;
  content_guid: string;
  type: string;
  /** Parameters as a JSON string (Connect) or object. */
  schedule: string | Record<string, unknown>;
  start_time: string;
  timezone: string;
  cron?: string;
  enabled: boolean;
  publish: boolean;
  catch_up: boolean;
  email: boolean;
  recipients: string[];
  attach: boolean;
  next_run: string | null;
  next_runs: NextRun[];
  last_planned: string | null;
  variant_id?: string | number | null;
}

/** `api/interactive.rs` → `jobs`: one worker process. */
export interface JobView {
  key: string;
  pid: number;
  bundle_id: string;
  state: string;
  connections: number;
  port: number;
  uptime_secs: number;
}

/** `api/renders.rs` → `history`: a render row with string ids and, on success, its URL. */
export type RenderView = Omit<RenderRow, "id" | "bundle_id"> & { id: string; bundle_id: string; url?: string };

/** Issue 7: `GET /__api__/porch/content/{guid}/link`. */
export interface FolderLink {
  path: string;
  status: "watching" | "broken" | "redeploying";
  error: string | null;
  last_redeploy: string | null;
  last_result: "success" | "failed" | null;
}

/** Issue 4: a variant of a parameterised report. */
/** `api/variants.rs` → `Engine::variant_view`: a named parameter set of a document. */
export interface Variant {
  id: string;
  content_guid: string;
  name: string;
  parameters: Record<string, unknown>;
  /** The render its viewers see, if any. */
  render_id: string | null;
  /** Its own viewer URL, `/content/{guid}/_variant{id}/`. */
  url: string;
  created_time: string;
  updated_time: string;
}

/** `GET /__api__/porch/smtp`: the settings without the password, or `{configured: false}`. */
export type SmtpView = (Omit<SmtpSettings, "password"> & { password_set: boolean; configured?: undefined }) | { configured: false };
