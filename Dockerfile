# syntax=docker/dockerfile:1
# One image for the controller and the embedding workers: `controller` (default) or `worker` as the command.
# Not built in this project's CI (no container engine there); see docs/deploy.md.

# --- build: production dependencies, with the odbc addon compiled against unixODBC --------------------------
FROM node:24-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends unixodbc-dev python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY models ./models
COPY crds ./crds

# --- runtime: Node 24 (runs the TypeScript sources directly), ODBC driver manager, non-root -----------------
FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends unixodbc odbc-postgresql libsqliteodbc ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 datastate \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin datastate
# The InterSystems IRIS ODBC driver is not in Debian: add it in a derived image (docs/databases.md).
WORKDIR /app
COPY --from=build --chown=0:0 /app /app
ENV NODE_ENV=production \
    DATASTATE_HOME=/var/lib/datastate
# The root filesystem can stay read-only: DATASTATE_HOME and /tmp are volumes (the chart mounts emptyDirs).
VOLUME ["/var/lib/datastate", "/tmp"]
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["node", "/app/src/cli/main.ts"]
CMD ["controller"]
