import { defineConfig } from "vite";

// Static files for the gateway to embed: hashed names under assets/, no
// inline scripts or styles (the gateway's Content-Security-Policy allows
// only 'self'), nothing fetched from a CDN.
export default defineConfig({
  build: {
    outDir: "dist",
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    // Chunks are named by content hash too; the gateway caches every
    // file under assets/ for good.
    chunkSizeWarningLimit: 300,
  },
  server: {
    proxy: { "/estate.": "http://127.0.0.1:50051" },
  },
});
