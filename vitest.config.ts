import { defineConfig } from 'vitest/config';

/**
 * Unit test files that run the program rather than a function: they start the CLI, a daemon or a
 * tool (promtool) as a process, run custom policies in worker threads, or replay the Dockerfile's
 * build or deploy/install.sh; or they run for seconds on purpose (the soak). Each takes 2-80 s
 * where a logic test takes milliseconds, so they are the `integration` project: out of the quick
 * `unit` run a developer repeats, and run by `npm test` (every project), which is what CI and the
 * README run.
 * They keep their place under test/unit/ (next to the logic they prove).
 */
export const INTEGRATION_FILES = [
  'test/unit/cli/approve.test.ts',
  'test/unit/cli/check-config-notes.test.ts',
  'test/unit/cli/closed-pipe.test.ts',
  'test/unit/cli/history.test.ts',
  'test/unit/cli/log-level.test.ts',
  'test/unit/cli/metrics-listen.test.ts',
  'test/unit/cli/place-exit.test.ts',
  'test/unit/cli/plan.test.ts',
  'test/unit/cli/policy-docs-examples.test.ts',
  'test/unit/cli/run-once.test.ts',
  'test/unit/cli/standby-quiet.test.ts',
  'test/unit/deploy/dockerfile.test.ts',
  'test/unit/deploy/prometheus.test.ts',
  'test/unit/deploy/systemd.test.ts',
  'test/unit/hardening/daemon-signals.test.ts',
  'test/unit/hardening/policy-memory.test.ts',
  'test/unit/hardening/policy-nan.test.ts',
  'test/unit/hardening/policy-recheck.test.ts',
  'test/unit/hardening/schedule-timezone.test.ts',
  'test/unit/hardening/state-dir.test.ts',
  'test/unit/hardening/terminal-output.test.ts',
  'test/unit/policy/isolation.test.ts',
  'test/unit/policy/load-error.test.ts',
  'test/unit/sim/unmeetable-rules.test.ts',
  'test/unit/soak/soak.test.ts',
];

// Three projects: `unit` is pure logic (fast, no libvirt, no processes); `integration` the unit
// files above that start processes or worker threads; `lab` runs against real libvirtd + QEMU
// hosts that test/lab/global-setup.ts brings up once per run (with the lab library in lab/).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          exclude: INTEGRATION_FILES,
          environment: 'node',
          // Built-in policies register themselves when imported (src/policy/registry.ts).
          setupFiles: ['policies/index.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: INTEGRATION_FILES,
          environment: 'node',
          setupFiles: ['policies/index.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'lab',
          include: ['test/lab/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/lab/global-setup.ts'],
          setupFiles: ['policies/index.ts'],
          // Lab tests share one set of libvirt hosts and two CPU cores: run files one at a time.
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
