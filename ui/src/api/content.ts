// Typed calls for content: what the Library lists and what a drop publishes.

import { isDesktop } from "../platform";
import { ApiError, command, getJson } from "./client";
import type { ContentView, Deployment } from "./types";

/** Every content item, newest first as the engine orders them. */
export function listContent(): Promise<ContentView[]> {
  return isDesktop() ? command<ContentView[]>("list_content") : getJson<ContentView[]>("/content");
}

/** Publishes a folder, file, `.tar.gz` or `.zip` from the local disk and activates it. */
export function deployPath(path: string): Promise<Deployment> {
  if (!isDesktop()) {
    return Promise.reject(
      new ApiError("Unsupported", "Publishing by drop works in the Porch app; here, run `porch deploy <folder>`."),
    );
  }
  return command<Deployment>("deploy_path", { path });
}
