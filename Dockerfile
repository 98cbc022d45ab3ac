# Presence API image: `docker build -t presence-service .`
# Runs with NODE_ENV=production, so PRESENCE_JWT_SECRET must be set (the server refuses to
# start without it); see docker-compose.yml for a two-node setup on Redis.

# --- build: dev dependencies, GraphiQL bundle (static/graphiql) and tsc output (dist/) ---
FROM node:20-slim AS build
WORKDIR /app
# The lockfile alone decides the dependency layer, so source edits reuse the cached install.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# --- runtime: production dependencies + build output, run as the unprivileged `node` user ---
FROM node:20-slim AS runtime
ENV NODE_ENV=production \
    PORT=4000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/static ./static
# Files stay owned by root: the service only reads them, and cannot rewrite its own code.
USER node
EXPOSE 4000
# /readyz, not /healthz: a node that cannot reach Redis should leave the load balancer's rotation.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The flags of `npm start` (README, Performance): a 16 MiB young generation, no allocation-site pretenuring, GC on the main thread only.
CMD ["node", "--max-semi-space-size=16", "--min-semi-space-size=16", "--no-allocation-site-pretenuring", "--single-threaded-gc", "--no-concurrent-recompilation", "dist/src/index.js"]
