/**
 * src/libvirt/generated/protocol.ts is what scripts/gen-libvirt-protocol.ts makes of the installed
 * libvirt's .x files (fetched from Debian's source package by scripts/install-lab-packages.sh), and
 * the generator reads XDR constants and enums as libvirt writes them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  generate,
  generateCodecs,
  GENERATED_CODECS_FILE,
  GENERATED_FILE,
  LIBVIRT_SOURCE_CACHE,
  parseXdr,
  parseXdrTypes,
} from '../../../scripts/gen-libvirt-protocol.js';
import {
  decodeRemoteDomainGetJobStatsRet,
  decodeRemoteTypedParam,
  encodeRemoteConnectBaselineHypervisorCpuArgs,
  encodeRemoteDomainLookupByUuidArgs,
  encodeRemoteNodeGetInfoRet,
  encodeRemoteTypedParam,
  Procedures,
  type RemoteTypedParam,
} from '../../../src/libvirt/generated/codecs.js';
import { MessageType, Proc, REMOTE_PROGRAM, RemoteAuthType } from '../../../src/libvirt/generated/protocol.js';
import { XdrError, XdrReader, XdrWriter } from '../../../src/libvirt/xdr.js';

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

  it("regenerating the codecs from the installed libvirt's .x files gives exactly the committed generated/codecs.ts", () => {
    expect(generateCodecs(sourceDir)).toBe(readFileSync(GENERATED_CODECS_FILE, 'utf8'));
  });

  it('has argument and reply codecs for every procedure the client calls, numbered as Proc', () => {
    for (const [name, codec] of Object.entries(Procedures)) expect(codec.procedure, name).toBe(Proc[name as keyof typeof Proc]);
    expect(Procedures.DOMAIN_GET_JOB_STATS.encodeArgs).toBeTypeOf('function');
    expect(Procedures.DOMAIN_GET_JOB_STATS.decodeRet).toBeTypeOf('function');
    expect(Procedures.CONNECT_GET_HOSTNAME.encodeArgs).toBeUndefined();
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

  it('reads typedefs, structs and unions: optional pointers, fixed and bounded arrays, strings, opaque, unsigned hyper, char', () => {
    const text = [
      'const N_MAX = 4;',
      'typedef string name_t<N_MAX>; /* bounded string */',
      'typedef name_t *opt_name_t;',
      'enum kind { K_A = 1, K_B = 2 };',
      'union u switch (int kind) { case K_A: int a; case K_B: case 3: unsigned hyper b; };',
      'struct s { opt_name_t n; opaque id[16]; opaque blob<>; char model[32]; u items<N_MAX>; struct s *next; unsigned x; };',
    ].join('\n');
    const defs = parseXdr(text, 'test.x');
    parseXdrTypes(text, 'test.x', defs);
    expect(defs.types.get('opt_name_t')).toEqual({
      kind: 'typedef',
      name: 'opt_name_t',
      decl: { name: 'opt_name_t', base: { ref: 'name_t' }, shape: 'optional' },
    });
    const s = defs.types.get('s');
    expect(s?.kind === 'struct' && s.fields.map((f) => [f.name, 'builtin' in f.base ? f.base.builtin : f.base.ref, f.shape, f.bound])).toEqual([
      ['n', 'opt_name_t', 'single', undefined],
      ['id', 'opaque', 'fixed', '16'],
      ['blob', 'opaque', 'variable', undefined],
      ['model', 'int', 'fixed', '32'],
      ['items', 'u', 'variable', 'N_MAX'],
      ['next', 's', 'optional', undefined],
      ['x', 'uint', 'single', undefined],
    ]);
    const u = defs.types.get('u');
    expect(u?.kind === 'union' && u.arms.map((a) => [a.cases, a.decl.name, 'builtin' in a.decl.base && a.decl.base.builtin])).toEqual([
      [['K_A'], 'a', 'int'],
      [['K_B', '3'], 'b', 'uhyper'],
    ]);
    expect(() => parseXdrTypes('struct s { int a; ', 'bad.x', defs)).toThrow(/^bad\.x: unexpected end of file/);
    expect(() => parseXdrTypes('typedef string s;', 'bad.x', defs)).toThrow('bad.x: string s has no length');
    expect(() => parseXdrTypes('program P { };', 'bad.x', defs)).toThrow('bad.x: unexpected "program" at the top level');
  });

  it('the generated union codec round-trips every arm of remote_typed_param_value and refuses an unknown discriminant, naming the union', () => {
    const params: RemoteTypedParam[] = [
      { field: 'i', value: { type: 1, i: -3 } },
      { field: 'ui', value: { type: 2, ui: 4_000_000_000 } },
      { field: 'l', value: { type: 3, l: -(2n ** 62n) } },
      { field: 'ul', value: { type: 4, ul: 2n ** 64n - 1n } },
      { field: 'd', value: { type: 5, d: 0.25 } },
      { field: 'b', value: { type: 6, b: 1 } },
      { field: 's', value: { type: 7, s: 'zstd' } },
    ];
    for (const p of params) {
      const w = new XdrWriter();
      encodeRemoteTypedParam(w, p);
      expect(decodeRemoteTypedParam(new XdrReader(w.toBuffer()))).toEqual(p);
    }
    const bad = new XdrWriter().string('x').int(99).int(0).toBuffer();
    expect(() => decodeRemoteTypedParam(new XdrReader(bad))).toThrow(
      new XdrError('remote_typed_param_value: type 99 is none of its cases (1, 2, 3, 4, 5, 6, 7)'),
    );
  });

  it("the generated codecs hold every array, string and opaque to its .x bound, and say which struct's field broke it", () => {
    // remote_domain_get_job_stats_ret.params<REMOTE_DOMAIN_JOB_STATS_MAX = 64>: a 65th parameter is refused before it is read.
    const w = new XdrWriter().int(3).uint(65);
    for (let i = 0; i < 65; i++) w.string(`p${i}`).int(1).int(i);
    expect(() => decodeRemoteDomainGetJobStatsRet(new XdrReader(w.toBuffer()))).toThrow(
      new XdrError('remote_domain_get_job_stats_ret.params: array of 65 items exceeds its limit of 64'),
    );
    // xmlCPUs<REMOTE_CPU_BASELINE_MAX = 256>
    const cpus = { emulator: null, arch: null, machine: null, virttype: null, xmlCPUs: Array.from({ length: 257 }, () => '<cpu/>'), flags: 0 };
    expect(() => encodeRemoteConnectBaselineHypervisorCpuArgs(new XdrWriter(), cpus)).toThrow(
      new RangeError('remote_connect_baseline_hypervisor_cpu_args.xmlCPUs: array of 257 items exceeds its limit of 256'),
    );
    // remote_uuid is opaque[VIR_UUID_BUFLEN = 16]; char model[32] is 32 ints.
    expect(() => encodeRemoteDomainLookupByUuidArgs(new XdrWriter(), { uuid: Buffer.alloc(15) })).toThrow(
      new RangeError('remote_domain_lookup_by_uuid_args.uuid: opaque[16] given 15 bytes'),
    );
    const info = { model: [1], memory: 0n, cpus: 0, mhz: 0, nodes: 0, sockets: 0, cores: 0, threads: 0 };
    expect(() => encodeRemoteNodeGetInfoRet(new XdrWriter(), info)).toThrow(new RangeError('remote_node_get_info_ret.model: 32 items required, 1 given'));
  });
});
