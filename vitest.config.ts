import { defineConfig } from 'vitest/config';

// Two projects: `unit` is pure logic (fast, no libvirt); `lab` runs against real libvirtd + QEMU
// hosts that test/lab/global-setup.ts brings up once per run (with the lab library in lab/).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // Built-in policies register themselves when imported (src/policy/registry.ts).
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
