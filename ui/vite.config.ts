import { defineConfig } from 'vitest/config';

// The query API the dev server proxies to (`npm run dev`); the built UI is served by Spoor itself.
const queryUrl = process.env.SPOOR_QUERY_URL ?? 'http://127.0.0.1:16686';

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: { '/api': queryUrl },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
