import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * Where the presence service listens. The page always talks to its own origin (`/graphql`)
 * and Vite forwards it, so the app needs no CORS setup and no API URL baked into the bundle.
 */
const presenceUrl = process.env.PRESENCE_URL ?? 'http://localhost:4000';

/**
 * One proxy rule for HTTP and graphql-ws (`ws: true` forwards the upgrade). changeOrigin stays
 * false on purpose: the service (with NODE_ENV=production and no PRESENCE_ALLOWED_ORIGINS)
 * accepts a socket only when its Origin host equals the Host header, and both are the page's.
 */
const proxy = {
  '/graphql': { target: presenceUrl, ws: true, changeOrigin: false },
};

export default defineConfig({
  plugins: [react()],
  // `vite` (dev) and `vite preview` (a built bundle, used by the browser test) proxy alike.
  server: { proxy },
  preview: { proxy },
});
