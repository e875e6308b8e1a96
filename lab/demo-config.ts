/** The demo's controller config and when it calls the cluster settled (lab/demo.ts, test/lab/demo-busy.test.ts). */
import { type Config, parseConfig } from '../src/config/index.js';

/**
 * The demo's config over a lab's: a tick every 5 s, and every balancing setting at its default
 * (thresholds, hysteresis, cooldown, spread aggressiveness): six small guests on one of three
 * 4-CPU / 4 GiB lab hosts spread by memory whatever CPU the machine gives them (a busy machine
 * leaves them next to none) and then stay put. Only what the lab itself needs is set: its measured
 * bandwidth and the techniques TCG guests survive. Shared with the lab test that runs the demo's
 * scenario on a busy machine (test/lab/demo-busy.test.ts).
 */
export function demoConfig(base: Config, metricsListen: string, labRoot: string): Config {
  return parseConfig(
    {
      hosts: base.hosts.map((h) => ({ name: h.name, uri: h.uri, capacity: h.capacity })),
      stateDir: base.stateDir,
      loop: { schedule: '*/5 * * * * *', windowSamples: 3 },
      metrics: { listen: metricsListen },
      policy: {
        // Measured for lab migrations (TCG guests on loopback).
        bandwidthMiBps: 250,
        // Pure post-copy started before the first pass crashes TCG guest kernels (docs/lab.md).
        allowedTechniques: ['precopy', 'hybrid', 'autoconverge', 'xbzrle', 'multifd'],
      },
      migration: { maxConcurrent: 1, deadlineSeconds: 60 },
    },
    `demo config for ${labRoot}`,
  );
}

/** Ticks without a planned or running move after which the demo calls the cluster settled. */
export const DEMO_QUIET_TICKS = 10;
