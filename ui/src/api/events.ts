// Engine state changes, as one typed subscription, plus streaming text (log tails).
//
// Desktop: the shell forwards the engine's broadcast as the `porch://event` Tauri event.
// Browser: the engine's SSE stream `/__api__/porch/events`, read with `fetch` (EventSource
// cannot send the API key) and reconnected with backoff; after a reconnect a `resync`
// event tells screens to refetch, since changes may have been missed meanwhile. Nothing is
// polled or handled while the page is hidden (`lib/visible.ts`).

import { isDesktop, onHostEvent } from "../platform";
import { SseParser } from "../lib/sse";
import { pageHidden, pauseVisible, untilVisible } from "../lib/visible";
import { openStream } from "./client";
import type { EngineEvent, ResyncEvent } from "./types";

/** The Tauri event name the shell emits engine events under. */
export const ENGINE_EVENT = "porch://event";
const EVENTS_PATH = "/__api__/porch/events";

export type AnyEvent = EngineEvent | ResyncEvent;

/**
 * Calls `handler` on each engine event; returns the unsubscribe function.
 *
 * While the page is hidden, events are not handed on (screens would refetch for nobody):
 * one `resync` follows when it is shown again, if anything happened meanwhile. In a browser
 * the event stream itself is closed while hidden and reopened (with a `resync`) when shown.
 */
export async function subscribe(handler: (event: AnyEvent) => void): Promise<() => void> {
  let missed = false;
  const deliver = (event: AnyEvent) => {
    if (pageHidden()) missed = true;
    else handler(event);
  };
  const onVisibility = () => {
    if (!pageHidden() && missed) {
      missed = false;
      handler({ type: "resync" });
    }
  };
  document.addEventListener("visibilitychange", onVisibility);
  const stopListening = isDesktop() ? await onHostEvent<AnyEvent>(ENGINE_EVENT, deliver) : streamEvents(deliver);
  return () => {
    document.removeEventListener("visibilitychange", onVisibility);
    stopListening();
  };
}

/** The browser's event stream: reconnected with backoff, closed while the page is hidden. */
function streamEvents(handler: (event: AnyEvent) => void): () => void {
  const abort = new AbortController();
  let connection: AbortController | null = null;
  const onVisibility = () => {
    if (pageHidden()) connection?.abort();
  };
  document.addEventListener("visibilitychange", onVisibility);
  abort.signal.addEventListener("abort", () => document.removeEventListener("visibilitychange", onVisibility));
  void (async () => {
    let delay = 500;
    let connected = false;
    while (!abort.signal.aborted) {
      await untilVisible(abort.signal);
      if (abort.signal.aborted) return;
      const conn = new AbortController();
      connection = conn;
      const stop = () => conn.abort();
      abort.signal.addEventListener("abort", stop);
      try {
        const reader = await openStream(EVENTS_PATH, conn.signal);
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
        // Closed because the page was hidden: reconnect as soon as it is shown.
        if (conn.signal.aborted) continue;
        console.debug("event stream interrupted", e);
      } finally {
        abort.signal.removeEventListener("abort", stop);
      }
      await pauseVisible(delay, abort.signal);
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
      await pauseVisible(1500, signal);
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
