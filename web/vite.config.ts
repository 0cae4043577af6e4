// Build: a static site in dist/ with relative asset paths (served from the S3 website
// bucket's root, or any sub-path). `npm run dev` serves config.json from the local
// stack's outputs, so the dev server talks to the running stack.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

const outputsFile = resolve(import.meta.dirname, '../localstack/.state/outputs.json');

function localConfig(): Plugin {
  return {
    name: 'pharmaguard-local-config',
    configureServer(server) {
      server.middlewares.use('/config.json', (_req, res) => {
        if (!existsSync(outputsFile)) {
          res.statusCode = 404;
          res.end('{"message": "no local stack outputs (localstack/up)"}');
          return;
        }
        const outputs = JSON.parse(readFileSync(outputsFile, 'utf8')) as Record<string, string>;
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            apiBaseUrl: outputs.ApiBaseUrl,
            wsUrl: outputs.WebSocketUrl ?? '',
            stage: outputs.Stage ?? 'local',
          }),
        );
      });
    },
  };
}

export default defineConfig({
  base: './',
  plugins: [react(), localConfig()],
  build: {
    outDir: 'dist',
    sourcemap: true,
    chunkSizeWarningLimit: 800,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
