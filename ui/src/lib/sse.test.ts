import { describe, expect, it } from "vitest";
import { SseParser } from "./sse";

describe("SseParser", () => {
  it("yields each event's data, across chunk boundaries", () => {
    const p = new SseParser();
    expect(p.push('data: {"type":"content_')).toEqual([]);
    expect(p.push('changed","guid":"g"}\n')).toEqual([]);
    expect(p.push("\ndata: {\"type\":\"library_changed\"}\n\n")).toEqual(['{"type":"content_changed","guid":"g"}', '{"type":"library_changed"}']);
  });

  it("skips comments (keep-alives) and joins multi-line data", () => {
    const p = new SseParser();
    expect(p.push(":\n\n: ping\r\n\r\ndata: a\ndata: b\nevent: x\n\n")).toEqual(["a\nb"]);
  });

  it("handles CRLF and a data line without a space", () => {
    const p = new SseParser();
    expect(p.push("data:x\r\n\r\n")).toEqual(["x"]);
  });
});
