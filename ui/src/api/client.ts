// The one place that talks to the engine. In a browser: `fetch` on the page's own origin
// with the publisher's API key. In the desktop window: the shell's `api_request` command,
// which hands the same request to the engine's router in-process (no CORS, no key typed
// by the user). Both fail the same way, with an `ApiError` carrying an `ErrorCode`;
// screens branch on `code`, never on message text.

import { invoke, invokeRaw, isDesktop } from "../platform";
import type { ErrorCode } from "./types";

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string, status = 0) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
  }
}

let apiKey: string | null = null;

/** The key sent as `Authorization: Key …` (browser only; the desktop shell adds its own). */
export function setApiKey(key: string | null): void {
  apiKey = key;
}

export function hasApiKey(): boolean {
  return apiKey !== null;
}

export interface RequestOptions {
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as is (an archive upload). */
  body?: Blob | Uint8Array;
  signal?: AbortSignal;
}

/** The parts of an answer callers look at. */
interface Answer {
  status: number;
  text: string;
}

/** A request to an engine path such as `/__api__/v1/content`; JSON answers are parsed. */
export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const answer = await send(method, path, opts);
  if (answer.status < 200 || answer.status >= 300) throw errorFrom(answer);
  if (answer.status === 204 || answer.text.trim() === "") return undefined as T;
  try {
    return JSON.parse(answer.text) as T;
  } catch {
    return answer.text as T;
  }
}

/** Like `request`, but the answer is returned as text (logs). */
export async function requestText(path: string): Promise<string> {
  const answer = await send("GET", path, {});
  if (answer.status < 200 || answer.status >= 300) throw errorFrom(answer);
  return answer.text;
}

export const getJson = <T>(path: string) => request<T>("GET", path);

/** A binary GET in the browser (pictures); `null` on 204. Not available in the desktop
 * window, whose calls carry text only: callers show the viewers' URL there instead. */
export async function requestBlob(path: string): Promise<Blob | null> {
  if (isDesktop()) throw new ApiError("Unsupported", "binary answers are not available in the desktop window");
  const headers: Record<string, string> = {};
  if (apiKey) headers.Authorization = `Key ${apiKey}`;
  const response = await fetch(path, { headers, credentials: "omit" });
  if (response.status === 204) return null;
  if (!response.ok) throw errorFrom({ status: response.status, text: await response.text() });
  return response.blob();
}

async function send(method: string, path: string, opts: RequestOptions): Promise<Answer> {
  if (isDesktop()) {
    try {
      if (opts.body !== undefined) {
        // Bytes (a picture, a logo) go as the raw body of the shell's `api_upload`.
        const bytes = opts.body instanceof Uint8Array ? opts.body : new Uint8Array(await opts.body.arrayBuffer());
        return await invokeRaw<Answer>("api_upload", bytes, { "porch-method": method, "porch-path": path });
      }
      return await invoke<Answer>("api_request", {
        method,
        path,
        body: opts.json === undefined ? null : JSON.stringify(opts.json),
      });
    } catch (raw) {
      throw toApiError(raw);
    }
  }
  const headers: Record<string, string> = { Accept: "application/json" };
  if (apiKey) headers.Authorization = `Key ${apiKey}`;
  let body: BodyInit | undefined;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  } else if (opts.body !== undefined) {
    headers["Content-Type"] = "application/octet-stream";
    body = opts.body as BodyInit;
  }
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body, credentials: "omit", signal: opts.signal });
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
    throw new ApiError("Network", `Cannot reach the Porch server (${String(cause)})`);
  }
  return { status: response.status, text: await response.text() };
}

/** A streaming GET (log follow, events); resolves to the response body reader. */
export async function openStream(path: string, signal: AbortSignal): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const headers: Record<string, string> = {};
  if (apiKey) headers.Authorization = `Key ${apiKey}`;
  let response: Response;
  try {
    response = await fetch(path, { headers, signal, credentials: "omit" });
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
    throw new ApiError("Network", `Cannot reach the Porch server (${String(cause)})`);
  }
  if (!response.ok || !response.body) throw errorFrom({ status: response.status, text: await response.text() });
  return response.body.getReader();
}

/**
 * Connect's error body is `{code: <int>, error: <msg>, payload, porch_code}`; Porch's own
 * code wins, else the HTTP status decides.
 */
export function errorFrom(answer: Answer): ApiError {
  let message = `HTTP ${answer.status}`;
  let code: ErrorCode | null = null;
  try {
    const body = JSON.parse(answer.text) as { error?: unknown; porch_code?: unknown };
    if (typeof body.error === "string" && body.error.length > 0) message = body.error;
    if (typeof body.porch_code === "string") code = body.porch_code;
  } catch {
    if (answer.text.trim() !== "" && answer.text.length < 300) message = answer.text.trim();
  }
  return new ApiError(code ?? codeForStatus(answer.status), message, answer.status);
}

function codeForStatus(status: number): ErrorCode {
  if (status === 401) return "Unauthorized";
  if (status === 403) return "Forbidden";
  if (status === 404) return "NotFound";
  if (status === 409) return "Conflict";
  if (status === 503) return "Busy";
  if (status === 400 || status === 413 || status === 422) return "InvalidRequest";
  return "Internal";
}

/** Calls a desktop-shell command; its error `{code, message}` becomes an `ApiError`. */
export async function command<T>(name: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(name, args);
  } catch (raw) {
    throw toApiError(raw);
  }
}

export function toApiError(raw: unknown): ApiError {
  if (raw instanceof ApiError) return raw;
  if (typeof raw === "object" && raw !== null && "code" in raw) {
    const { code, message } = raw as { code: unknown; message?: unknown };
    return new ApiError(String(code), typeof message === "string" ? message : String(code));
  }
  if (raw instanceof Error) return new ApiError("Internal", raw.message);
  // Tauri itself rejects with a bare string (unknown command, denied permission, bad args).
  return new ApiError("Internal", typeof raw === "string" ? raw : String(raw));
}

/** What to tell the user to do about an error, by code. */
export function hintFor(e: ApiError): string {
  switch (e.code) {
    case "InvalidManifest":
      return "Porch could not tell what this is. Add a manifest.json (rsconnect write-manifest …), or drop the folder that holds index.html, app.py, a notebook or a .qmd.";
    case "InvalidRequest":
      return "Correct the value the message names and try again.";
    case "Conflict":
      return "Something with this name or path already exists; choose another.";
    case "Unauthorized":
      return "The API key is missing or was revoked. Sign in again with a valid key.";
    case "Forbidden":
      return "Porch does not take this from another computer: do it on the computer Porch runs on (publishing from other computers is a setting there).";
    case "NotFound":
      return "It no longer exists; it may have been deleted.";
    case "Busy":
      return "Porch is busy or stopping; try again in a moment.";
    case "Network":
      return "The Porch server is not answering. Is it still running?";
    case "StartFailed":
      return "Open the item's Logs tab to see why it did not start.";
    default:
      return "See Porch's log for the details.";
  }
}
