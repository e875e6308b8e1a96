#!/usr/bin/env node
// The installed `virt-balancer` command (deploy/install.sh puts it in /opt/virt-balancer/bin and
// links /usr/local/bin/virt-balancer to it; the Dockerfile likewise). It runs the compiled CLI in
// ../dist with tsx registered, so custom policies in policy.policyDirs may be TypeScript files.
// Importing 'tsx' does what `node --import tsx` does (ESM and CommonJS hooks: a policy directory
// without a package.json is CommonJS scope), but resolves tsx from this file's own node_modules, so
// the command works from any working directory.
import 'tsx';

await import('../dist/src/cli/main.js');
