# Node container for Zenzefi Backend (see docker-compose.yml and README "Deployment"): the server
# built to plain JavaScript (npm run build), run by node with no TypeScript loader, as the
# unprivileged `node` user. The code belongs to root, so the server can't change it.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY scripts/build-node.mjs ./scripts/
COPY src ./src
COPY drizzle ./drizzle
# /app/data is DATA_DIR, writable for running the image on its embedded defaults (no DATABASE_URL); compose doesn't use it.
RUN node scripts/build-node.mjs && mkdir -p /app/data && chown node:node /app/data
USER node
ENV PORT=8000
EXPOSE 8000
# SIGTERM starts the graceful shutdown: /health/ready turns 503 at once, SHUTDOWN_DRAIN_SECONDS (2)
# later new connections are refused, in-flight downloads get SHUTDOWN_TIMEOUT_SECONDS (25), exit 0.
# Give `docker stop` more than that: docker stop -t 35 (compose sets stop_grace_period).
STOPSIGNAL SIGTERM
# No curl in this image: node's own fetch asks /health/ready (503 from the start of a shutdown).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health/ready').then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))"]
CMD ["node", "--enable-source-maps", "dist/node/main.mjs"]
