import { describe, expect, it } from "vitest";
import { ApiError, errorFrom, hintFor } from "./client";
import { rsconnectAdd } from "./server";

describe("errorFrom", () => {
  it("prefers Porch's code and message from the error body", () => {
    const e = errorFrom({ status: 400, text: JSON.stringify({ code: 3, error: "bad manifest", payload: null, porch_code: "InvalidManifest" }) });
    expect(e).toBeInstanceOf(ApiError);
    expect([e.code, e.message, e.status]).toEqual(["InvalidManifest", "bad manifest", 400]);
  });

  it("falls back to the status when the body is not Porch's JSON", () => {
    expect(errorFrom({ status: 401, text: "" }).code).toBe("Unauthorized");
    expect(errorFrom({ status: 413, text: "too big" }).code).toBe("InvalidRequest");
    expect(errorFrom({ status: 502, text: "<html>" }).code).toBe("Internal");
    expect(errorFrom({ status: 404, text: "{}" }).message).toBe("HTTP 404");
  });

  it("tells the user what to do for each code", () => {
    expect(hintFor(new ApiError("InvalidManifest", "x"))).toMatch(/manifest\.json/);
    expect(hintFor(new ApiError("Unauthorized", "x"))).toMatch(/key/);
  });
});

describe("rsconnectAdd", () => {
  it("builds a ready command without a trailing slash", () => {
    expect(rsconnectAdd("http://192.168.1.5:3939/", "K")).toBe("rsconnect add --server http://192.168.1.5:3939 --name porch --api-key K");
  });
});

import { mainFile } from "./deploy";

describe("mainFile", () => {
  it("names a drop of loose files after its main file", () => {
    expect(mainFile(["style.css", "index.html"])).toBe("index.html");
    expect(mainFile(["requirements.txt", "helpers.py", "app.py"])).toBe("app.py");
    expect(mainFile(["requirements.txt", "Sales Report.ipynb"])).toBe("Sales Report.ipynb");
    expect(mainFile(["notes.txt"])).toBe("notes.txt");
    expect(mainFile([])).toBeNull();
  });
});
