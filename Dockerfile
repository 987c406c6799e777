# Node container for Zenzefi Backend (see docker-compose.yml).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json drizzle.config.ts ./
COPY src ./src
COPY drizzle ./drizzle
USER node
EXPOSE 8000
CMD ["npx", "tsx", "src/runtime/node/main.ts"]
