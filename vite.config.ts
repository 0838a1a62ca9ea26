// Vite build of the dashboard (web/dashboard -> web/dashboard/dist), served by onair at /dashboard/.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('./web/dashboard/', import.meta.url));

export default defineConfig({
  root,
  base: '/dashboard/',
  // Nothing is copied verbatim: every file goes through the build.
  publicDir: false,
  clearScreen: false,
  build: {
    outDir: fileURLToPath(new URL('./web/dashboard/dist/', import.meta.url)),
    emptyOutDir: true,
    // Files only, never data: URLs, so the page's Content-Security-Policy stays simple.
    assetsInlineLimit: 0,
    // One entry chunk and no dynamic imports: the preload polyfill would be dead code.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});
