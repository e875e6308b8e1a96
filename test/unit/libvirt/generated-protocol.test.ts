/**
 * src/libvirt/generated/protocol.ts is what scripts/gen-libvirt-protocol.ts makes of the installed
 * libvirt's .x files (fetched from Debian's source package by scripts/install-lab-packages.sh), and
 * the generator reads XDR constants and enums as libvirt writes them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate, GENERATED_FILE, LIBVIRT_SOURCE_CACHE, parseXdr } from '../../../scripts/gen-libvirt-protocol.js';
import { MessageType, Proc, REMOTE_PROGRAM, RemoteAuthType } from '../../../src/libvirt/generated/protocol.js';

const sourceDir = process.env.VB_LIBVIRT_SOURCE_DIR ?? LIBVIRT_SOURCE_CACHE;

describe('generated libvirt protocol table', () => {
  it("regenerating from the installed libvirt's remote_protocol.x gives exactly the committed file", () => {
    const x = join(sourceDir, 'src/remote/remote_protocol.x');
    expect(
      existsSync(x),
      `${x} is missing: run scripts/install-lab-packages.sh as root (it fetches libvirt's source package), or set VB_LIBVIRT_SOURCE_DIR to an unpacked libvirt source`,
    ).toBe(true);
    expect(generate(sourceDir)).toBe(readFileSync(GENERATED_FILE, 'utf8'));
  });

  it("holds libvirt's numbers for the procedures whose names drifted before (remote_protocol.x)", () => {
    expect(Proc.CONNECT_GET_ALL_DOMAIN_STATS).toBe(344);
    expect(Proc.DOMAIN_UNDEFINE_FLAGS).toBe(231);
    expect(Proc.DOMAIN_MIGRATE_PERFORM3_PARAMS).toBe(305);
    expect(REMOTE_PROGRAM).toBe(0x20008086);
    expect(MessageType.REPLY_WITH_FDS).toBe(5);
    expect(RemoteAuthType.POLKIT).toBe(2);
  });

  it('reads constants (decimal, hex, defined from another) and enums, skipping comments and % lines', () => {
    const defs = parseXdr(
      [
        '/* const HIDDEN = 1; */',
        '%#include "x.h"',
        'const A_MAX = 16; // sixteen',
        'const PROG = 0x6b656570;',
        'const B_MAX = A_MAX;',
        'const C = MACRO_FROM_C;',
        'enum e {',
        '  E_ONE = 1, /* one */',
        '  E_TWO = A_MAX',
        '};',
      ].join('\n'),
      'test.x',
    );
    expect([...defs.constants].map(([k, v]) => [k, v.value])).toEqual([
      ['A_MAX', 16],
      ['PROG', 0x6b656570],
      ['B_MAX', 16],
    ]);
    expect(defs.enums.get('e')!.map((m) => [m.name, m.value])).toEqual([
      ['E_ONE', 1],
      ['E_TWO', 16],
    ]);
  });

  it('refuses an enum member without an explicit value, and a source directory without the .x files, naming them', () => {
    expect(() => parseXdr('enum e { A = 1, B };', 'test.x')).toThrow('test.x: enum e: member "B" has no explicit value');
    expect(() => generate('/nonexistent')).toThrow('/nonexistent/src/remote/remote_protocol.x does not exist');
  });
});
