/**
 * What `virt_balancer_build_info` says (the Prometheus convention for a build's identity: a gauge
 * of 1 whose labels carry it): the package version from the nearest package.json named
 * virt-balancer above this module (src/metrics in a clone, dist/src/metrics in an install), the
 * commit from the VIRT_BALANCER_COMMIT environment variable (set by the image build; "unknown"
 * otherwise) and the Node.js version running it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  version: string;
  commit: string;
  nodeVersion: string;
}

/** The package version, or "unknown" when no virt-balancer package.json is found above `from`. */
export function packageVersion(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'virt-balancer' && typeof pkg.version === 'string') return pkg.version;
      } catch {
        // Not ours or unreadable: keep looking above it.
      }
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}

export function buildInfo(env: NodeJS.ProcessEnv = process.env): BuildInfo {
  return { version: packageVersion(), commit: env.VIRT_BALANCER_COMMIT?.trim() || 'unknown', nodeVersion: process.version };
}
