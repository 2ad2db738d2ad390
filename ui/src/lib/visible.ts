// Timers that stop while the page cannot be seen.
//
// A hidden page (the desktop window minimised or on another workspace, a browser tab in the
// background) has nobody to refresh for: every periodic refresh and poll in the UI goes
// through these helpers, so a hidden page wakes neither itself nor the server. When the page
// is shown again, a paused refresh runs at once and then resumes its period. (Closing the
// desktop window to the tray destroys the page altogether; this covers what is left.)

/** Whether the page is hidden now (`document.visibilityState`). */
export function pageHidden(doc: Document = document): boolean {
  return doc.visibilityState === "hidden";
}

/**
 * Calls `fn` every `ms` milliseconds while the page is visible. While hidden, nothing runs;
 * on becoming visible, `fn` runs at once, then every `ms` again. Returns the stop function,
 * which also removes the visibility listener.
 */
export function everyWhileVisible(fn: () => void, ms: number, doc: Document = document): () => void {
  let timer: ReturnType<typeof setInterval> | undefined;
  const start = () => {
    if (timer === undefined) timer = setInterval(fn, ms);
  };
  const pause = () => {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
  };
  const onChange = () => {
    if (pageHidden(doc)) {
      pause();
    } else if (timer === undefined) {
      fn();
      start();
    }
  };
  doc.addEventListener("visibilitychange", onChange);
  if (!pageHidden(doc)) start();
  return () => {
    pause();
    doc.removeEventListener("visibilitychange", onChange);
  };
}

/** Resolves once the page is visible (at once if it is), or when `signal` aborts. */
export function untilVisible(signal?: AbortSignal, doc: Document = document): Promise<void> {
  if (!pageHidden(doc) || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (!pageHidden(doc) || signal?.aborted) {
        doc.removeEventListener("visibilitychange", done);
        signal?.removeEventListener("abort", done);
        resolve();
      }
    };
    doc.addEventListener("visibilitychange", done);
    signal?.addEventListener("abort", done);
  });
}

/**
 * Waits `ms` milliseconds, then until the page is visible: the pause between two polls.
 * Resolves early when `signal` aborts.
 */
export async function pauseVisible(ms: number, signal?: AbortSignal, doc: Document = document): Promise<void> {
  await new Promise<void>((resolve) => {
    const t = setTimeout(finish, ms);
    function finish() {
      clearTimeout(t);
      signal?.removeEventListener("abort", finish);
      resolve();
    }
    signal?.addEventListener("abort", finish);
  });
  await untilVisible(signal, doc);
}
