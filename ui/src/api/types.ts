// Wire types. Every response the UI reads is a Rust type, generated into `./generated/` by
// ts-rs (`ui/scripts/gen-types.sh`; CI fails when they drift) and only re-exported here:
// nothing below is a hand copy of a response. What is written here is the UI's own
// vocabulary (its extra error codes and the event stream's resync marker).

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
export type { BundleState } from "./generated/BundleState";
export type { LinkStatus } from "./generated/LinkStatus";
export type { Outcome } from "./generated/Outcome";
export type { RenderStatus } from "./generated/RenderStatus";
export type { Trigger } from "./generated/Trigger";
export type { ViewerAccess } from "./generated/ViewerAccess";
export type { ScheduleView } from "./generated/ScheduleView";
export type { ScheduleDefinition } from "./generated/ScheduleDefinition";
export type { JobView } from "./generated/JobView";
export type { RenderView } from "./generated/RenderView";
export type { TaskAccepted } from "./generated/TaskAccepted";
export type { SecretLinkView } from "./generated/SecretLinkView";
export type { LinkView as FolderLink } from "./generated/LinkView";
export type { VariantView as Variant } from "./generated/VariantView";
export type { SmtpView } from "./generated/SmtpView";
export type { SmtpShown } from "./generated/SmtpShown";
import type { ErrorCode as EngineErrorCode } from "./generated/ErrorCode";

/** The engine's codes, plus the UI's own: "Network" (no answer) and "Unsupported" (needs the app). */
export type ErrorCode = EngineErrorCode | "Network" | "Unsupported" | (string & {});

/** A UI-side event: the stream reconnected or fell behind, so refetch everything. */
export interface ResyncEvent {
  type: "lagged" | "resync";
}

