# virt-balancer container image: no compilers and no native libvirt in the runtime stage (the
# libvirt client is pure TypeScript). Run with the libvirt socket mounted or a TLS URI (docs/deploy.md).

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json vitest.config.ts ./
COPY src ./src
COPY policies ./policies
COPY bench ./bench
COPY test ./test
RUN npx tsc -p tsconfig.json

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /opt/virt-balancer
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY deploy/config/virt-balancer.example.yaml /etc/virt-balancer/config.yaml
RUN groupadd --system virt-balancer && useradd --system --gid virt-balancer --home-dir /var/lib/virt-balancer virt-balancer \
 && mkdir -p /var/lib/virt-balancer && chown virt-balancer:virt-balancer /var/lib/virt-balancer
USER virt-balancer
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/opt/virt-balancer/dist/src/cli/main.js"]
CMD ["run", "--config", "/etc/virt-balancer/config.yaml"]
