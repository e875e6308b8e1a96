#!/usr/bin/env node
// In a clone (src/ present) runs the TypeScript sources through tsx, so a stale dist/ never runs
// old code; an install without sources runs the compiled dist/. tsx is registered either way so
// custom policies written in TypeScript load like the built-ins.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src/cli/main.ts');
await import('tsx');
await import(pathToFileURL(existsSync(source) ? source : join(root, 'dist/src/cli/main.js')).href);
