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

/** One published item, as the engine lists it. */
export interface ContentView {
  guid: string;
  name: string;
  title: string | null;
  /** Connect's app mode: "static", "quarto-static", "python-shiny", "jupyter-static", ... */
  app_mode: string;
  /** Absolute viewer URL on the LAN origin, with a trailing slash. */
  content_url: string;
  bundle_id: string | null;
  access_type?: string;
  description?: string | null;
  last_deployed_time: string | null;
}

/** The result of deploying one dropped path. */
export interface Deployment {
  content: ContentView;
  bundle_id: string;
  task_id: string;
}

/** What the desktop shell knows about the running server. */
export interface ServerInfo {
  /** LAN URLs of the viewer, e.g. "http://192.168.1.5:3939/". */
  viewer_urls: string[];
}

/** A state change broadcast by the engine (`#[serde(tag = "type")]`). */
export type EngineEvent =
  | { type: "content_changed"; guid: string }
  | { type: "content_deleted"; guid: string }
  // The shell sends this when it fell behind the engine's broadcast and dropped events.
  | { type: "lagged"; skipped: number }
  | { type: string; [key: string]: unknown };
