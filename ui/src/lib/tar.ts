// Packs files into a gzip-compressed tar (ustar) in the browser, for publishing a drop.
//
// Only what a bundle needs: regular files with relative paths (folders are implied by the
// paths), mode 0644, the current time. Paths longer than 100 bytes use the ustar prefix
// field; longer than 255 bytes are refused with a message naming the path.

export interface PackFile {
  /** Relative path inside the bundle, `/`-separated, no leading `/`. */
  path: string;
  data: Uint8Array;
}

const BLOCK = 512;
const encoder = new TextEncoder();

/** The tar archive (uncompressed) of `files`. */
export function tar(files: PackFile[], mtime = Math.floor(Date.now() / 1000)): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (const file of files) {
    const header = tarHeader(file.path, file.data.length, mtime);
    const padded = Math.ceil(file.data.length / BLOCK) * BLOCK;
    chunks.push(header, file.data, new Uint8Array(padded - file.data.length));
    total += BLOCK + padded;
  }
  // Two zero blocks end the archive.
  chunks.push(new Uint8Array(BLOCK * 2));
  total += BLOCK * 2;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function tarHeader(path: string, size: number, mtime: number): Uint8Array {
  const clean = path.replace(/^\/+/, "");
  if (clean === "" || clean.split("/").some((s) => s === ".." || s === "")) {
    throw new Error(`cannot pack "${path}": not a plain relative path`);
  }
  const bytes = encoder.encode(clean);
  let name = bytes;
  let prefix = new Uint8Array(0);
  if (bytes.length > 100) {
    // Split at a `/` so that the prefix is at most 155 bytes and the name at most 100.
    const cut = findSplit(clean);
    if (cut < 0) throw new Error(`cannot pack "${path}": the path is too long for a tar archive (max 255 bytes)`);
    prefix = encoder.encode(clean.slice(0, cut));
    name = encoder.encode(clean.slice(cut + 1));
  }
  const h = new Uint8Array(BLOCK);
  h.set(name, 0);
  writeOctal(h, 100, 8, 0o644);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  h[156] = 0x30; // '0': regular file
  h.set(encoder.encode("ustar\u000000"), 257);
  h.set(prefix, 345);
  let sum = 0;
  for (const b of h) sum += b;
  writeOctal(h, 148, 7, sum);
  h[155] = 0x20;
  return h;
}

function findSplit(path: string): number {
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== "/") continue;
    if (encoder.encode(path.slice(0, i)).length <= 155 && encoder.encode(path.slice(i + 1)).length <= 100) return i;
  }
  return -1;
}

function writeOctal(h: Uint8Array, offset: number, width: number, value: number): void {
  const text = value.toString(8).padStart(width - 1, "0");
  h.set(encoder.encode(text), offset);
  h[offset + width - 1] = 0;
}

/** gzip through the platform's CompressionStream (Chromium, WebKit, Firefox, Node 18+). */
export async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** `files` as a `.tar.gz`. */
export async function tarGz(files: PackFile[]): Promise<Uint8Array> {
  return gzip(tar(files));
}
