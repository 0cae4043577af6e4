// Build: a static site in dist/ with relative asset paths (served from the S3 website
// bucket's root, or any sub-path). `npm run dev` serves config.json from the local
// stack's outputs, so the dev server talks to the running stack.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

const outputsFile = resolve(import.meta.dirname, '../localstack/.state/outputs.json');

// The Content-Security-Policy of the built page, as a meta tag at the top of <head>: scripts and
// styles from the site only (the build has no inline script or style element; React and
// Leaflet set styles through the DOM, which a policy does not restrict), images from the site,
// data: URIs and the map tiles, connections to the site itself (config.json) and, once
// web/deploy has written them in from the stack's outputs, to the REST and WebSocket APIs only.
// On AWS CloudFront sends the same policy as a header (infra/template.yaml,
// DashboardResponseHeadersPolicy), with frame-ancestors and upgrade-insecure-requests, which a
// meta tag cannot carry or which would break plain-HTTP local APIs. Build only: Vite's dev
// server injects inline scripts (`npm run dev` has no policy).
export const CSP_DIRECTIVES = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: https://tile.openstreetmap.org",
  "font-src 'self'",
  "connect-src 'self'", // web/deploy: + the API and WebSocket origins
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
];

function contentSecurityPolicy(): Plugin {
  return {
    name: 'pharmaguard-csp',
    apply: 'build',
    transformIndexHtml(html) {
      const meta = `<meta http-equiv="Content-Security-Policy" content="${CSP_DIRECTIVES.join('; ')}" />`;
      if (!html.includes('<meta charset="UTF-8" />')) throw new Error('index.html: no <meta charset> to put the policy after');
      return html.replace('<meta charset="UTF-8" />', `<meta charset="UTF-8" />\n    ${meta}`);
    },
  };
}

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
  plugins: [react(), localConfig(), contentSecurityPolicy()],
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
