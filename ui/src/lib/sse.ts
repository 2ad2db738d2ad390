// A Server-Sent Events parser for streams read with `fetch` (EventSource cannot send the
// `Authorization` header the API needs). Feed it text chunks; it yields each event's data.

export class SseParser {
  private buffer = "";
  private data: string[] = [];

  /** Adds a chunk of the stream; returns the data of every event it completed. */
  push(chunk: string): string[] {
    this.buffer += chunk;
    const out: string[] = [];
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      const width = this.buffer.startsWith("\r\n", nl) ? 2 : 1;
      this.buffer = this.buffer.slice(nl + width);
      if (line === "") {
        if (this.data.length > 0) out.push(this.data.join("\n"));
        this.data = [];
      } else if (line.startsWith(":")) {
        // A comment (keep-alive).
      } else {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") this.data.push(value);
      }
    }
    return out;
  }
}
