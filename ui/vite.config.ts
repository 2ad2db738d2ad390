import { defineConfig } from "vite";

// The built files are embedded into the Porch binary (tauri.conf.json `frontendDist`)
// and may also be served by the engine to LAN browsers, so asset URLs stay relative.
export default defineConfig({
  base: "./",
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
});
