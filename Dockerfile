# glibc base: Temporal's native worker runtime does not load on Alpine/musl.
FROM node:20-bookworm-slim
# glibc's malloc returns a big freed block to the system only while blocks that size are mapped on their own, and
# raises that size (up to 32 MB) each time one is freed: soon the worker's 1–8 MB stream buffers are kept in its heaps
# after use. Fixed at 128 KiB they go back (a million-request job: worker peak RSS 302 → 281 MB; the idle worker
# 159–163 → 145–149 MB).
# scripts/bench-stack.ts runs its workers with this line's settings.
ENV MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
COPY package.json package-lock.json ./
COPY . .
RUN npm ci && npm prune --omit=dev
ENTRYPOINT ["node", "dist/client/cli.js"]
