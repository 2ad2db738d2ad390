import { describe, expect, it } from "vitest";
import { gzip, tar, tarGz } from "./tar";

/** Reads back (name, size, body) of each entry: a minimal ustar reader for the test. */
function entries(archive: Uint8Array): { name: string; body: string }[] {
  const out: { name: string; body: string }[] = [];
  const dec = new TextDecoder();
  let at = 0;
  while (at + 512 <= archive.length) {
    const h = archive.subarray(at, at + 512);
    if (h.every((b) => b === 0)) break;
    const str = (o: number, n: number) => dec.decode(h.subarray(o, o + n)).replace(/\0.*$/s, "");
    const size = parseInt(str(124, 12), 8);
    // The checksum counts its own field as spaces.
    let sum = 0;
    h.forEach((b, i) => (sum += i >= 148 && i < 156 ? 0x20 : b));
    expect(parseInt(str(148, 8), 8)).toBe(sum);
    const prefix = str(345, 155);
    const name = prefix ? `${prefix}/${str(0, 100)}` : str(0, 100);
    out.push({ name, body: dec.decode(archive.subarray(at + 512, at + 512 + size)) });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

const enc = (s: string) => new TextEncoder().encode(s);

describe("tar", () => {
  it("writes entries a reader gets back, with valid checksums", () => {
    const a = tar([
      { path: "index.html", data: enc("<h1>hi</h1>") },
      { path: "css/site.css", data: enc("body{}") },
      { path: "empty.txt", data: new Uint8Array(0) },
    ]);
    expect(a.length % 512).toBe(0);
    expect(entries(a)).toEqual([
      { name: "index.html", body: "<h1>hi</h1>" },
      { name: "css/site.css", body: "body{}" },
      { name: "empty.txt", body: "" },
    ]);
  });

  it("uses the ustar prefix for long paths and keeps Unicode names", () => {
    const long = `${"folder-".repeat(20)}/deep/${"n".repeat(90)}.txt`;
    expect(entries(tar([{ path: long, data: enc("x") }, { path: "Café ☃.md", data: enc("y") }])).map((e) => e.name)).toEqual([long, "Café ☃.md"]);
  });

  it("refuses paths that climb out or are too long, naming the path", () => {
    expect(() => tar([{ path: "../etc/passwd", data: enc("") }])).toThrow(/\.\.\/etc\/passwd/);
    expect(() => tar([{ path: "x".repeat(300), data: enc("") }])).toThrow(/too long/);
  });

  it("gzips with the gzip magic bytes", async () => {
    const gz = await tarGz([{ path: "a.txt", data: enc("hello") }]);
    expect([gz[0], gz[1]]).toEqual([0x1f, 0x8b]);
    const raw = await gzip(enc("abc"));
    const back = new Uint8Array(await new Response(new Blob([raw as BlobPart]).stream().pipeThrough(new DecompressionStream("gzip"))).arrayBuffer());
    expect(new TextDecoder().decode(back)).toBe("abc");
  });
});
