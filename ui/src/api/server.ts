// Typed calls about the server itself.

import { isDesktop } from "../platform";
import { command } from "./client";
import type { ServerInfo } from "./types";

/** Where the viewer is reachable. In a browser, the page's own origin is that address. */
export function serverInfo(): Promise<ServerInfo> {
  if (!isDesktop()) return Promise.resolve({ viewer_urls: [`${window.location.origin}/`] });
  return command<ServerInfo>("server_info");
}
