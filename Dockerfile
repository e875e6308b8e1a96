# virt-balancer container image. The runtime stage has Node.js, the compiled code, the built-in
# policies and the production dependencies only: no compiler and no native libvirt (the libvirt
# client is pure TypeScript). Run it with the libvirt socket mounted or with qemu+tls:// URIs and
# the client certificates mounted (docs/deploy.md).

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY policies ./policies
RUN npx tsc -p tsconfig.json

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /opt/virt-balancer
COPY package.json package-lock.json ./
# tsx is a production dependency: it loads custom policies written in TypeScript.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/policies ./dist/policies
COPY deploy/bin/virt-balancer.mjs ./bin/virt-balancer.mjs
COPY deploy/config/virt-balancer.example.yaml /etc/virt-balancer/config.yaml
# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can check it and mounted files can be
# chowned to it. `virt-balancer` on PATH is bin/virt-balancer.mjs (the compiled CLI with tsx
# registered for TypeScript policies); the other link lets a custom policy in
# /etc/virt-balancer/policies import 'virt-balancer/policy'.
RUN groupadd --system --gid 10001 virt-balancer \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/virt-balancer --shell /usr/sbin/nologin virt-balancer \
 && mkdir -p /var/lib/virt-balancer /etc/virt-balancer/policies /etc/virt-balancer/node_modules \
 && ln -s /opt/virt-balancer/bin/virt-balancer.mjs /usr/local/bin/virt-balancer \
 && ln -s /opt/virt-balancer /etc/virt-balancer/node_modules/virt-balancer \
 && chown virt-balancer:virt-balancer /var/lib/virt-balancer \
 && chmod 0750 /var/lib/virt-balancer
USER 10001:10001
VOLUME /var/lib/virt-balancer
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# `docker run IMAGE` runs the controller; `docker run IMAGE status --config ...` any other command.
ENTRYPOINT ["virt-balancer"]
CMD ["run", "--config", "/etc/virt-balancer/config.yaml"]
