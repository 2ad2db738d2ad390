// Engine state changes, as one typed subscription, plus streaming text (log tails).
//
// Desktop: the shell forwards the engine's broadcast as the `porch://event` Tauri event.
// Browser: the engine's SSE stream `/__api__/porch/events`, read with `fetch` (EventSource
// cannot send the API key) and reconnected with backoff; after a reconnect a `resync`
// event tells screens to refetch, since changes may have been missed meanwhile.

import { isDesktop, onHostEvent } from "../platform";
import { SseParser } from "../lib/sse";
import { openStream } from "./client";
import type { EngineEvent, ResyncEvent } from "./types";

/** The Tauri event name the shell emits engine events under. */
export const ENGINE_EVENT = "porch://event";
const EVENTS_PATH = "/__api__/porch/events";

export type AnyEvent = EngineEvent | ResyncEvent;

/** Calls `handler` on each engine event; returns the unsubscribe function. */
export async function subscribe(handler: (event: AnyEvent) => void): Promise<() => void> {
  if (isDesktop()) return onHostEvent<AnyEvent>(ENGINE_EVENT, handler);
  const abort = new AbortController();
  void (async () => {
    let delay = 500;
    let connected = false;
    while (!abort.signal.aborted) {
      try {
        const reader = await openStream(EVENTS_PATH, abort.signal);
        if (connected) handler({ type: "resync" });
        connected = true;
        delay = 500;
        const parser = new SseParser();
        const decoder = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const data of parser.push(decoder.decode(value, { stream: true }))) {
            try {
              handler(JSON.parse(data) as AnyEvent);
            } catch {
              // Not JSON: ignore it rather than stop listening.
            }
          }
        }
      } catch (e) {
        if (abort.signal.aborted) return;
        console.debug("event stream interrupted", e);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  })();
  return () => abort.abort();
}

/**
 * Streams a growing text resource (a log with `follow=true`), line by line, until aborted.
 * In the desktop window, where responses are not streamed, it polls `pollPath` instead.
 */
export async function followText(
  path: string,
  onText: (text: string) => void,
  signal: AbortSignal,
  poll?: () => Promise<string>,
): Promise<void> {
  if (isDesktop() && poll) {
    let last = "";
    while (!signal.aborted) {
      const text = await poll();
      if (text !== last) {
        onText(text.startsWith(last) ? text.slice(last.length) : text);
        last = text;
      }
      await new Promise((r) => setTimeout(r, 1500));
    }
    return;
  }
  const reader = await openStream(path, signal);
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      onText(decoder.decode(value, { stream: true }));
    }
  } catch (e) {
    if (!signal.aborted) throw e;
  }
}
