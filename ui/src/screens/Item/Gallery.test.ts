import { describe, expect, it } from "vitest";
import { tagPaths } from "./Gallery";

const tag = (id: string, name: string, parent_id: string | null) => ({ id, name, parent_id, created_time: "", updated_time: "" });

describe("tagPaths", () => {
  it("names each tag by its path from the top", () => {
    const paths = tagPaths([tag("1", "finance", null), tag("2", "quarterly", "1"), tag("3", "q3", "2"), tag("4", "ops", null)]);
    expect(paths.get("3")).toBe("finance/quarterly/q3");
    expect(paths.get("4")).toBe("ops");
  });

  it("stays finite on a damaged tree", () => {
    const paths = tagPaths([tag("1", "a", "2"), tag("2", "b", "1")]);
    expect(paths.get("1")?.split("/").length).toBeLessThanOrEqual(3);
  });
});
