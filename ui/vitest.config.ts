import { defineConfig } from "vitest/config";

// Unit and component tests: pure logic in Node, components in happy-dom. The end-to-end
// tests (real Chromium against a real `porch serve`) are e2e/ui.e2e.mjs, not run here.
export default defineConfig({
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.ts"],
  },
});
