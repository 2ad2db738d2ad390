// The one place that talks to the engine: HTTP (`fetch`) for the browser, shell commands
// (`invoke`) for the desktop window. Both routes fail the same way, with an `ApiError`
// carrying an `ErrorCode`; screens branch on `code`, never on message text.

import { invoke } from "../platform";
import type { ErrorCode } from "./types";

export class ApiError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "ApiError";
    this.code = code;
  }
}

/** Base of the HTTP API: the origin that served this page (the engine itself on the LAN). */
function apiBase(): string {
  return `${window.location.origin}/__api__/v1`;
}

/** GET a JSON resource from the engine's Connect-style API. */
export async function getJson<T>(path: string): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${apiBase()}${path}`, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
  } catch (cause) {
    throw new ApiError("Network", `Cannot reach the Porch server (${String(cause)})`);
  }
  if (!response.ok) throw await httpError(response);
  return (await response.json()) as T;
}

/** Connect's error body is `{code: <int>, error: <msg>, payload}`; map the status to a code. */
async function httpError(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`.trim();
  try {
    const body = (await response.json()) as { error?: unknown };
    if (typeof body.error === "string" && body.error.length > 0) message = body.error;
  } catch {
    // Not JSON (a proxy page, say): the status line is the best message there is.
  }
  return new ApiError(codeForStatus(response.status), message);
}

function codeForStatus(status: number): ErrorCode {
  if (status === 401) return "Unauthorized";
  if (status === 403) return "Forbidden";
  if (status === 404) return "NotFound";
  if (status === 409) return "Conflict";
  if (status === 503) return "Busy";
  if (status === 400 || status === 422) return "InvalidRequest";
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

function toApiError(raw: unknown): ApiError {
  if (raw instanceof ApiError) return raw;
  if (typeof raw === "object" && raw !== null && "code" in raw) {
    const { code, message } = raw as { code: unknown; message?: unknown };
    return new ApiError(String(code), typeof message === "string" ? message : String(code));
  }
  // Tauri itself rejects with a bare string (unknown command, denied permission, bad args).
  return new ApiError("Internal", typeof raw === "string" ? raw : String(raw));
}
