/** `migrate --technique cold` moves a shut-off VM (the executor's cold path); a technique that cannot fit the VM's state is refused first. */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import * as migrate from '../../../src/cli/commands/migrate.js';
import { techniqueStateProblem } from '../../../src/cli/commands/migrate.js';

describe('migrate --technique', () => {
  it('offers cold beside auto and the live techniques', () => {
    const program = new Command();
    migrate.register(program);
    const option = program.commands[0].options.find((o) => o.long === '--technique');
    expect(option?.argChoices).toEqual(['auto', 'precopy', 'postcopy', 'hybrid', 'autoconverge', 'xbzrle', 'multifd', 'cold']);
  });

  it('refuses cold for a running or paused VM and a live technique for a shut-off one, saying what to do', () => {
    expect(techniqueStateProblem({ name: 'db1', state: 'running' }, 'cold')).toBe(
      'VM "db1" is running: --technique cold moves only a shut-off VM; shut it off first, or use a live technique (or auto)',
    );
    expect(techniqueStateProblem({ name: 'db1', state: 'paused' }, 'cold')).toMatch(/is paused: --technique cold moves only a shut-off VM/);
    expect(techniqueStateProblem({ name: 'old1', state: 'shutoff' }, 'precopy')).toBe(
      'VM "old1" is shut off: it has no memory for precopy to copy, so it moves only cold; use --technique cold (or auto)',
    );
    expect(techniqueStateProblem({ name: 'old1', state: 'shutoff' }, 'cold')).toBeUndefined();
    expect(techniqueStateProblem({ name: 'db1', state: 'running' }, 'auto')).toBeUndefined();
  });
});
