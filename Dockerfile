# One image for every Flashline process; docker-compose.yml picks the command.
# Built in two stages: the first compiles the TypeScript (npm run build), the second holds only the
# JavaScript, the production dependencies and Node 24 (LTS), and runs as the unprivileged `node` user.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.base.json tsconfig.build.json ./
COPY scripts scripts
COPY packages packages
COPY apps apps
RUN npm ci --no-audit --no-fund && npm run build

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY packages/core/package.json packages/core/
COPY packages/test-utils/package.json packages/test-utils/
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY apps/dashboard/package.json apps/dashboard/
COPY apps/stack/package.json apps/stack/
COPY apps/bench/package.json apps/bench/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/packages/core/dist packages/core/dist
COPY --from=build /src/apps/api/dist apps/api/dist
COPY --from=build /src/apps/worker/dist apps/worker/dist
COPY --from=build /src/apps/dashboard/dist apps/dashboard/dist
USER node
# flashline-dist: `@flashline/core` resolves to its compiled dist/ (packages/core/package.json, exports).
CMD ["node", "--conditions=flashline-dist", "apps/api/dist/src/main.js"]
