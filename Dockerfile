# glibc base: Temporal's native worker runtime does not load on Alpine/musl.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY . .
RUN npm ci && npm prune --omit=dev
ENTRYPOINT ["node", "dist/client/cli.js"]
