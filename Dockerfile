# One image for every Flashline process; docker-compose.yml picks the command.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY packages/core/package.json packages/core/
COPY packages/test-utils/package.json packages/test-utils/
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY apps/dashboard/package.json apps/dashboard/
COPY apps/stack/package.json apps/stack/
RUN npm ci --omit=dev && npm cache clean --force
COPY packages packages
COPY apps apps
USER node
CMD ["node", "--import", "tsx", "apps/api/src/main.ts"]
