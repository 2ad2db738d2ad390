// Wire types shared with the Rust engine (`porch_engine::ContentView`, `Deployment`, `Event`,
// `ErrorCode`) and the shell's `server_info` command.
//
// STYLE 1.7 wants this file generated from the Rust DTOs (ts-rs/specta). Until the engine
// exports them, it is a hand-kept mirror: change it only together with the Rust side, and
// keep the field names exactly as serde writes them.

/** Engine error codes (`porch_engine::ErrorCode`, a small closed set), plus two of the UI's own. */
export type ErrorCode =
  | "NotFound"
  | "InvalidManifest"
  | "InvalidRequest"
  | "Conflict"
  /** No valid API key (the engine's code; the browser fallback also maps HTTP 401 to it). */
  | "Unauthorized"
  | "Forbidden"
  | "Busy"
  | "Internal"
  // UI-local: the engine could not be reached at all.
  | "Network"
  // UI-local: the action needs the desktop app (e.g. publishing by drop in a plain browser).
  | "Unsupported"
  // Codes added on the Rust side later still arrive as strings.
  | (string & {});

/** One published item, as the engine lists it (`porch_engine::ContentView`; the fields the UI reads). */
export interface ContentView {
  /** Hyphenated UUID. */
  guid: string;
  /** Numeric id as a string. */
  id: string;
  /** Unique name, `[A-Za-z0-9._-]`. */
  name: string;
  /** May be empty or null. */
  title: string | null;
  description: string;
  /** `all`, `logged_in` or `acl`. */
  access_type: string;
  /** Who may view it (what Porch enforces): `network`, `local` or `link`. */
  viewer_access?: "network" | "local" | "link";
  /** Whether a secret link exists (the URL is shown only when made). */
  secret_link?: boolean;
  /** Connect's app mode: "static", "quarto-static", "jupyter-static", ...; "unknown" before the first deploy. */
  app_mode: string;
  content_category: string;
  /** Active bundle id as a string. */
  bundle_id: string | null;
  /** RFC 3339. */
  created_time: string;
  /** RFC 3339. */
  last_deployed_time: string | null;
  /** Absolute viewer URL on the LAN origin, with a trailing slash. */
  content_url: string;
  /** Absolute URL of the item in the Porch dashboard. */
  dashboard_url: string;
}

/** The result of deploying one dropped path (`porch_engine::Deployment`). */
export interface Deployment {
  content: ContentView;
  bundle_id: string;
  task_id: string;
  /** Whether the item was created by this deploy (false: redeployed by name). */
  created: boolean;
}

/** What the desktop shell knows about the running server. */
export interface ServerInfo {
  /** LAN URLs of the viewer, e.g. "http://192.168.1.5:3939/". */
  viewer_urls: string[];
}

/** A state change broadcast by the engine (`porch_engine::Event`, `#[serde(tag = "type")]`). */
export type EngineEvent =
  | { type: "content_changed"; guid: string }
  | { type: "content_deleted"; guid: string }
  | { type: "task_finished"; id: string; guid: string; code: number; error: string }
  /** Another process (the CLI) changed the data directory. */
  | { type: "library_changed" }
  /** Sent by the shell when it fell behind the engine's broadcast and dropped events. */
  | { type: "lagged"; skipped: number }
  /** The browser fallback's poll tick. */
  | { type: "poll" };
