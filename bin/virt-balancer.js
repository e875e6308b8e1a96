#!/usr/bin/env node
// Runs the TypeScript sources through tsx so custom policies written in TypeScript load the same
// way as the built-ins; `npm run build` output is used instead when present (see Dockerfile).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist/src/cli/main.js');
if (existsSync(built) && !process.env.VIRT_BALANCER_FROM_SOURCE) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(root, 'src/cli/main.ts')).href);
}
