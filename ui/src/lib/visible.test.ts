import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { everyWhileVisible, pauseVisible, untilVisible } from "./visible";

/** A document whose visibility the test sets (happy-dom's is always "visible"). */
function fakeDoc(initial: "visible" | "hidden" = "visible") {
  const target = new EventTarget();
  const doc = target as unknown as Document & { set(v: "visible" | "hidden"): void };
  let state = initial;
  Object.defineProperty(doc, "visibilityState", { get: () => state });
  doc.set = (v) => {
    state = v;
    target.dispatchEvent(new Event("visibilitychange"));
  };
  return doc;
}

describe("everyWhileVisible", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("runs every period while visible, nothing while hidden, and at once on showing", () => {
    const doc = fakeDoc();
    const fn = vi.fn();
    const stop = everyWhileVisible(fn, 1000, doc);
    vi.advanceTimersByTime(3000);
    expect(fn).toHaveBeenCalledTimes(3);
    doc.set("hidden");
    vi.advanceTimersByTime(60_000);
    expect(fn).toHaveBeenCalledTimes(3);
    expect(vi.getTimerCount()).toBe(0);
    doc.set("visible");
    expect(fn).toHaveBeenCalledTimes(4);
    vi.advanceTimersByTime(1000);
    expect(fn).toHaveBeenCalledTimes(5);
    stop();
    vi.advanceTimersByTime(10_000);
    doc.set("hidden");
    doc.set("visible");
    expect(fn).toHaveBeenCalledTimes(5);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("starts paused when the page is hidden", () => {
    const doc = fakeDoc("hidden");
    const fn = vi.fn();
    everyWhileVisible(fn, 1000, doc);
    vi.advanceTimersByTime(5000);
    expect(fn).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
    doc.set("visible");
    expect(fn).toHaveBeenCalledTimes(1);
  });
});

describe("untilVisible and pauseVisible", () => {
  it("resolves at once when visible, on showing when hidden, and on abort", async () => {
    await untilVisible(undefined, fakeDoc());
    const doc = fakeDoc("hidden");
    let shown = false;
    const p = untilVisible(undefined, doc).then(() => (shown = true));
    await Promise.resolve();
    expect(shown).toBe(false);
    doc.set("visible");
    await p;
    expect(shown).toBe(true);

    const abort = new AbortController();
    const q = untilVisible(abort.signal, fakeDoc("hidden"));
    abort.abort();
    await q;
  });

  it("pauseVisible waits the delay, then for the page to be shown", async () => {
    vi.useFakeTimers();
    try {
      const doc = fakeDoc("hidden");
      let done = false;
      const p = pauseVisible(1500, undefined, doc).then(() => (done = true));
      await vi.advanceTimersByTimeAsync(10_000);
      expect(done).toBe(false);
      doc.set("visible");
      await p;
      expect(done).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
