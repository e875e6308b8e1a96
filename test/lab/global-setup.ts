/**
 * vitest global setup for the `lab` project: bring the lab up once (3 hosts, no VMs; tests create
 * their own), provide the virt-balancer config path that describes it, and at the end take down
 * only a lab this run started. If the lab cannot start, the run fails with the reason.
 */
import type { TestProject } from 'vitest/node';
import { Lab } from '../../lab/lab.js';

declare module 'vitest' {
  export interface ProvidedContext {
    labConfigPath: string;
    labDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const lab = new Lab();
  let alreadyUp = false;
  try {
    await lab.attach();
    alreadyUp = true;
  } catch {
    alreadyUp = false;
  }
  const started = Date.now();
  try {
    await lab.up({ hosts: 3, log: (m) => console.log(`[lab] ${m}`) });
  } catch (e) {
    throw new Error(`the lab could not start, so the lab tests cannot run: ${(e as Error).message}`);
  }
  console.log(`[lab] ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${alreadyUp ? 'reused' : 'started'}): ${lab.paths.configFile}`);
  project.provide('labConfigPath', lab.paths.configFile);
  project.provide('labDir', lab.paths.root);
  return async () => {
    if (!alreadyUp && !process.env.VB_LAB_KEEP) await lab.down();
  };
}
