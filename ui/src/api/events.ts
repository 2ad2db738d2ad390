// Engine state changes, as one typed subscription.
//
// Desktop: the shell forwards the engine's broadcast as the `porch://event` Tauri event.
// Browser: the engine has no event stream endpoint yet (STYLE 1.6 wants SSE/WebSocket), so
// the fallback polls; callers only learn "something may have changed" either way.

import { isDesktop, onHostEvent } from "../platform";
import type { EngineEvent } from "./types";

/** The Tauri event name the shell emits engine events under. */
export const ENGINE_EVENT = "porch://event";

const BROWSER_POLL_MS = 5000;

/** Calls `handler` on each engine event; returns the unsubscribe function. */
export async function subscribe(handler: (event: EngineEvent) => void): Promise<() => void> {
  if (isDesktop()) return onHostEvent<EngineEvent>(ENGINE_EVENT, handler);
  const timer = window.setInterval(() => handler({ type: "poll" }), BROWSER_POLL_MS);
  return () => window.clearInterval(timer);
}
