/**
 * Generates src/libvirt/generated/protocol.ts and src/libvirt/generated/codecs.ts from libvirt's
 * RPC protocol definitions (the XDR language files src/remote/remote_protocol.x,
 * src/rpc/virnetprotocol.x and src/rpc/virkeepaliveprotocol.x of libvirt's source), so procedure
 * numbers, limits, enum values and the wire layout of every argument and reply are read from
 * libvirt instead of copied by hand.
 *
 *   npx tsx scripts/gen-libvirt-protocol.ts [LIBVIRT_SOURCE_DIR]   # writes both files
 *   npx tsx scripts/gen-libvirt-protocol.ts --check [DIR]            # exit 1 if either differs
 *
 * LIBVIRT_SOURCE_DIR defaults to $VB_LIBVIRT_SOURCE_DIR, then to the unpacked source that
 * scripts/install-lab-packages.sh fetches from Debian's source package (LIBVIRT_SOURCE_CACHE).
 *
 * protocol.ts: the procedure numbers this client calls or receives (named as libvirt names them,
 * REMOTE_PROC_ without the prefix), the limits it checks, and the enums of the framing and
 * authentication. codecs.ts: for each of those procedures, TypeScript types and XDR encoders and
 * decoders of its remote_<name>_args, _ret and _msg structs and of every struct and union they
 * reach (typedefs inlined; optional `*` pointers as `T | null`; fixed and variable arrays, strings
 * and opaque held to the bound the .x declaration gives, errors naming struct.field), plus
 * virNetMessageError, the body of every error reply, and a `Procedures` table joining each number
 * to its codecs. The hand-written layer (src/libvirt/connection.ts, wire.ts) only names things.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where scripts/install-lab-packages.sh unpacks the .x files of the installed libvirt's source. */
export const LIBVIRT_SOURCE_CACHE = '/var/cache/virt-balancer/libvirt-source/current';
export const GENERATED_FILE = fileURLToPath(new URL('../src/libvirt/generated/protocol.ts', import.meta.url));
export const GENERATED_CODECS_FILE = fileURLToPath(new URL('../src/libvirt/generated/codecs.ts', import.meta.url));

/** Remote procedures the client calls (or receives as events), in libvirt's names. */
export const USED_PROCEDURES = [
  'CONNECT_OPEN',
  'CONNECT_CLOSE',
  'CONNECT_GET_VERSION',
  'NODE_GET_INFO',
  'CONNECT_GET_CAPABILITIES',
  'DOMAIN_CREATE',
  'DOMAIN_DEFINE_XML',
  'DOMAIN_DESTROY',
  'DOMAIN_GET_XML_DESC',
  'DOMAIN_GET_INFO',
  'DOMAIN_LOOKUP_BY_NAME',
  'DOMAIN_LOOKUP_BY_UUID',
  'CONNECT_GET_HOSTNAME',
  'CONNECT_SUPPORTS_FEATURE',
  'CONNECT_GET_DOMAIN_CAPABILITIES',
  'AUTH_LIST',
  'AUTH_POLKIT',
  'CONNECT_GET_LIB_VERSION',
  'DOMAIN_GET_JOB_INFO',
  'DOMAIN_ABORT_JOB',
  'DOMAIN_MIGRATE_SET_MAX_DOWNTIME',
  'DOMAIN_MIGRATE_SET_MAX_SPEED',
  'DOMAIN_GET_STATE',
  'NODE_GET_CPU_STATS',
  'NODE_GET_MEMORY_STATS',
  'DOMAIN_UNDEFINE_FLAGS',
  'DOMAIN_MIGRATE_GET_MAX_SPEED',
  'DOMAIN_SET_METADATA',
  'DOMAIN_GET_METADATA',
  'CONNECT_LIST_ALL_DOMAINS',
  'DOMAIN_GET_JOB_STATS',
  'DOMAIN_MIGRATE_PERFORM3_PARAMS',
  'CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY',
  'DOMAIN_EVENT_CALLBACK_LIFECYCLE',
  'NODE_GET_FREE_PAGES',
  'CONNECT_GET_ALL_DOMAIN_STATS',
  'DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION',
  'DOMAIN_EVENT_CALLBACK_JOB_COMPLETED',
  'DOMAIN_MIGRATE_START_POST_COPY',
  'DOMAIN_MIGRATE_GET_MAX_DOWNTIME',
  'DOMAIN_START_DIRTY_RATE_CALC',
  'NODE_SUSPEND_FOR_DURATION',
  'CONNECT_BASELINE_HYPERVISOR_CPU',
] as const;

/** Constants the client checks, by their names in the .x files. */
const USED_CONSTANTS = [
  'REMOTE_PROGRAM',
  'REMOTE_PROTOCOL_VERSION',
  'REMOTE_STRING_MAX',
  'REMOTE_DOMAIN_LIST_MAX',
  'REMOTE_MIGRATE_COOKIE_MAX',
  'REMOTE_NODE_MAX_CELLS',
  'REMOTE_AUTH_TYPE_LIST_MAX',
  'REMOTE_NODE_CPU_STATS_MAX',
  'REMOTE_NODE_MEMORY_STATS_MAX',
  'REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX',
  'REMOTE_DOMAIN_JOB_STATS_MAX',
  'REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX',
  'REMOTE_CPU_BASELINE_MAX',
  'VIR_NET_MESSAGE_MAX',
  'VIR_NET_MESSAGE_HEADER_MAX',
  'VIR_NET_MESSAGE_LEN_MAX',
  'KEEPALIVE_PROGRAM',
  'KEEPALIVE_PROTOCOL_VERSION',
] as const;

/** Enums emitted whole: .x enum name -> exported name, prefix its members lose. */
const USED_ENUMS: { name: string; exportAs: string; prefix: string }[] = [
  { name: 'virNetMessageType', exportAs: 'MessageType', prefix: 'VIR_NET_' },
  { name: 'virNetMessageStatus', exportAs: 'MessageStatus', prefix: 'VIR_NET_' },
  { name: 'keepalive_procedure', exportAs: 'KeepaliveProcedure', prefix: 'KEEPALIVE_PROC_' },
  { name: 'remote_auth_type', exportAs: 'RemoteAuthType', prefix: 'REMOTE_AUTH_' },
];

const FILES = ['src/remote/remote_protocol.x', 'src/rpc/virnetprotocol.x', 'src/rpc/virkeepaliveprotocol.x'];

/** What the generator reads from XDR language text (RFC 4506 section 6): constants, enums and types. */
export interface XdrDefinitions {
  constants: Map<string, { text: string; value: number }>;
  enums: Map<string, { name: string; text: string; value: number }[]>;
  /** typedefs, structs and unions by name (filled by parseXdrTypes). */
  types: Map<string, XdrType>;
}

/** A type specifier: a built-in of the XDR language (`unsigned int` is uint) or the name of a typedef, struct, union or enum. */
export type XdrBase = { builtin: 'int' | 'uint' | 'hyper' | 'uhyper' | 'double' | 'float' | 'bool' | 'string' | 'opaque' | 'void' } | { ref: string };

/** One declaration (RFC 4506 section 6.3): `T x`, `T x[n]`, `T x<n>`, `T *x`, `string x<n>`, `opaque x[n]`, `void`. */
export interface XdrDeclaration {
  name: string;
  base: XdrBase;
  shape: 'single' | 'fixed' | 'variable' | 'optional';
  /** The bound as written (a number or a constant's name); absent for `<>`. */
  bound?: string;
}

export type XdrType =
  | { kind: 'typedef'; name: string; decl: XdrDeclaration }
  | { kind: 'struct'; name: string; fields: XdrDeclaration[] }
  | { kind: 'union'; name: string; discriminant: XdrDeclaration; arms: { cases: string[]; decl: XdrDeclaration }[]; defaultArm?: XdrDeclaration };

/** Strips comments and rpcgen pass-through lines (`%...`), which carry no definitions. */
function stripComments(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\/\/[^\n]*/g, ' ')
    .replace(/^%.*$/gm, ' ');
}

function numberOf(text: string, known: Map<string, { value: number }>, where: string): number {
  if (/^-?0x[0-9a-f]+$/i.test(text)) return Number.parseInt(text, 16);
  if (/^-?\d+$/.test(text)) return Number(text);
  const ref = known.get(text);
  if (ref) return ref.value;
  throw new Error(`${where}: value ${text} is neither a number nor a constant defined earlier`);
}

/**
 * Reads `const NAME = VALUE;` and `enum NAME { A = 1, B = 2 };` definitions (explicit values,
 * as libvirt's files always give; an enum member without one is an error, not a guess).
 */
export function parseXdr(source: string, file: string, into: XdrDefinitions = { constants: new Map(), enums: new Map(), types: new Map() }): XdrDefinitions {
  const text = stripComments(source);
  for (const m of text.matchAll(/\bconst\s+([A-Za-z_]\w*)\s*=\s*([^;]+);/g)) {
    const valueText = m[2].trim();
    // Constants defined from C macros (VIR_SECURITY_LABEL_BUFLEN...) have no value in the .x file.
    if (!/^-?(0x[0-9a-f]+|\d+)$/i.test(valueText) && !into.constants.has(valueText)) continue;
    into.constants.set(m[1], { text: valueText, value: numberOf(valueText, into.constants, `${file}: const ${m[1]}`) });
  }
  for (const m of text.matchAll(/\benum\s+([A-Za-z_]\w*)\s*\{([^}]*)\}/g)) {
    const members = m[2]
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((member) => {
        const parts = /^([A-Za-z_]\w*)\s*=\s*(\S+)$/.exec(member);
        if (!parts) throw new Error(`${file}: enum ${m[1]}: member "${member}" has no explicit value`);
        return { name: parts[1], text: parts[2], value: numberOf(parts[2], into.constants, `${file}: enum ${m[1]}.${parts[1]}`) };
      });
    into.enums.set(m[1], members);
  }
  return into;
}

/** Every definition of the three .x files under `sourceDir`, in file order. */
function readDefinitions(sourceDir: string): XdrDefinitions {
  const defs: XdrDefinitions = { constants: new Map(), enums: new Map(), types: new Map() };
  for (const file of FILES) {
    const path = join(sourceDir, file);
    if (!existsSync(path))
      throw new Error(
        `${path} does not exist: pass the directory of an unpacked libvirt source (scripts/install-lab-packages.sh unpacks one in ${LIBVIRT_SOURCE_CACHE})`,
      );
    const source = readFileSync(path, 'utf8');
    parseXdr(source, file, defs);
    parseXdrTypes(source, file, defs);
  }
  return defs;
}

function libvirtVersion(sourceDir: string): string | undefined {
  const meson = join(sourceDir, 'meson.build');
  return existsSync(meson) ? /project\(\s*'libvirt'[^)]*?version:\s*'([\d.]+)'/.exec(readFileSync(meson, 'utf8'))?.[1] : undefined;
}

const BUILTINS: Record<string, Extract<XdrBase, { builtin: string }>['builtin']> = {
  int: 'int',
  char: 'int',
  short: 'int',
  long: 'int',
  hyper: 'hyper',
  double: 'double',
  float: 'float',
  bool: 'bool',
  string: 'string',
  opaque: 'opaque',
  void: 'void',
};

/**
 * Reads the typedefs, structs and unions of XDR language text (RFC 4506 section 6.3) into
 * `into.types`; constants and enums are skipped here (parseXdr reads them). rpcgen's C types
 * `char` and `short` are 4-byte ints on the wire, as rpcgen encodes them.
 * @throws Error naming the file and the token when the text is not XDR this parser knows.
 */
export function parseXdrTypes(source: string, file: string, into: XdrDefinitions): XdrDefinitions {
  const tokens = stripComments(source).match(/[A-Za-z_]\w*|-?0x[0-9a-fA-F]+|-?\d+|\S/g) ?? [];
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`${file}: ${what} (near "${tokens.slice(Math.max(0, i - 4), i + 2).join(' ')}")`);
  };
  const next = (): string => (i < tokens.length ? tokens[i++] : fail('unexpected end of file'));
  const expect = (token: string): void => {
    if (next() !== token) fail(`expected "${token}"`);
  };
  const skipPast = (token: string): void => {
    while (next() !== token);
  };
  const declaration = (): XdrDeclaration => {
    let t = next();
    let base: XdrBase;
    if (t === 'unsigned') {
      const width = tokens[i];
      if (['int', 'hyper', 'char', 'short', 'long'].includes(width)) i++;
      base = { builtin: width === 'hyper' ? 'uhyper' : 'uint' };
    } else if (t === 'struct' || t === 'union' || t === 'enum') {
      base = { ref: next() };
    } else if (BUILTINS[t]) {
      base = { builtin: BUILTINS[t] };
      if (t === 'void') return { name: '', base, shape: 'single' };
    } else if (/^[A-Za-z_]\w*$/.test(t)) {
      base = { ref: t };
    } else return fail(`expected a type, found "${t}"`);
    if (tokens[i] === '*') {
      i++;
      return { name: next(), base, shape: 'optional' };
    }
    const name = next();
    t = tokens[i];
    if (t === '[' || t === '<') {
      i++;
      const close = t === '[' ? ']' : '>';
      const bound = tokens[i] === close ? undefined : next();
      expect(close);
      return { name, base, shape: t === '[' ? 'fixed' : 'variable', bound };
    }
    if ('builtin' in base && (base.builtin === 'string' || base.builtin === 'opaque')) fail(`${base.builtin} ${name} has no length`);
    return { name, base, shape: 'single' };
  };
  while (i < tokens.length) {
    const keyword = next();
    if (keyword === 'const') skipPast(';');
    else if (keyword === 'enum') {
      skipPast('}');
      expect(';');
    } else if (keyword === 'typedef') {
      const decl = declaration();
      expect(';');
      into.types.set(decl.name, { kind: 'typedef', name: decl.name, decl });
    } else if (keyword === 'struct') {
      const name = next();
      expect('{');
      const fields: XdrDeclaration[] = [];
      while (tokens[i] !== '}') {
        fields.push(declaration());
        expect(';');
      }
      i++;
      expect(';');
      into.types.set(name, { kind: 'struct', name, fields });
    } else if (keyword === 'union') {
      const name = next();
      expect('switch');
      expect('(');
      const discriminant = declaration();
      expect(')');
      expect('{');
      const arms: { cases: string[]; decl: XdrDeclaration }[] = [];
      let defaultArm: XdrDeclaration | undefined;
      while (tokens[i] !== '}') {
        if (tokens[i] === 'default') {
          i++;
          expect(':');
          defaultArm = declaration();
        } else {
          const cases: string[] = [];
          while (tokens[i] === 'case') {
            i++;
            cases.push(next());
            expect(':');
          }
          if (cases.length === 0) fail(`union ${name}: expected "case" or "default"`);
          arms.push({ cases, decl: declaration() });
        }
        expect(';');
      }
      i++;
      expect(';');
      into.types.set(name, { kind: 'union', name, discriminant, arms, defaultArm });
    } else fail(`unexpected "${keyword}" at the top level`);
  }
  return into;
}

/**
 * Constants the .x files use but take from libvirt's C headers (rpcgen passes them through to C),
 * with their values from libvirt's public headers: VIR_UUID_BUFLEN (include/libvirt/libvirt-host.h)
 * and enum virTypedParameterType (include/libvirt/libvirt-common.h.in). A constant missing from both
 * the .x files and this table is an error that names it.
 */
const C_HEADER_CONSTANTS = new Map<string, number>([
  ['VIR_UUID_BUFLEN', 16],
  ['VIR_TYPED_PARAM_INT', 1],
  ['VIR_TYPED_PARAM_UINT', 2],
  ['VIR_TYPED_PARAM_LLONG', 3],
  ['VIR_TYPED_PARAM_ULLONG', 4],
  ['VIR_TYPED_PARAM_DOUBLE', 5],
  ['VIR_TYPED_PARAM_BOOLEAN', 6],
  ['VIR_TYPED_PARAM_STRING', 7],
]);

/** Types decoded and encoded besides the procedures' own structs: the error body of every failed call. */
const EXTRA_ROOT_TYPES = ['virNetMessageError'];

const TS_TYPES: Record<Extract<XdrBase, { builtin: string }>['builtin'], string> = {
  int: 'number',
  uint: 'number',
  double: 'number',
  float: 'number',
  hyper: 'bigint',
  uhyper: 'bigint',
  bool: 'boolean',
  void: 'undefined',
  string: 'string',
  opaque: 'Buffer',
};

/** remote_nonnull_domain -> RemoteNonnullDomain; virNetMessageError -> VirNetMessageError. */
function typeName(xdrName: string): string {
  return xdrName
    .split('_')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/** The .x structs of a procedure (remote_protocol.x's naming rule: remote_<name>_args, _ret, _msg). */
function procedureStructs(name: string, defs: XdrDefinitions): { args?: string; ret?: string; msg?: string } {
  const stem = `remote_${name.toLowerCase()}`;
  const has = (suffix: string) => (defs.types.get(`${stem}_${suffix}`)?.kind === 'struct' ? `${stem}_${suffix}` : undefined);
  return { args: has('args'), ret: has('ret'), msg: has('msg') };
}

/** Emits TypeScript types, encoders and decoders for XDR types reached from the roots. */
class CodecEmitter {
  private readonly emitted = new Set<string>();
  readonly out: string[] = [];

  constructor(private readonly defs: XdrDefinitions) {}

  bound(text: string | undefined, where: string): number {
    if (text === undefined) return 0xffffffff;
    if (/^-?(0x[0-9a-f]+|\d+)$/i.test(text)) return Number(text);
    const value =
      this.defs.constants.get(text)?.value ??
      C_HEADER_CONSTANTS.get(text) ??
      [...this.defs.enums.values()].flat().find((member) => member.name === text)?.value;
    if (value === undefined) throw new Error(`${where}: ${text} is defined in no .x file and not among the C header constants the generator knows`);
    return value;
  }

  private lookup(ref: string, where: string): XdrType | 'enum' {
    if (this.defs.enums.has(ref)) return 'enum';
    const type = this.defs.types.get(ref);
    if (!type) throw new Error(`${where}: type ${ref} is not defined in ${FILES.join(', ')}`);
    return type;
  }

  /** A declaration with typedefs of single values replaced by what they name (keeping the field's name). */
  private resolve(decl: XdrDeclaration, where: string): XdrDeclaration {
    if (decl.shape !== 'single' || !('ref' in decl.base)) return decl;
    const type = this.lookup(decl.base.ref, where);
    if (type !== 'enum' && type.kind === 'typedef') return this.resolve({ ...type.decl, name: decl.name }, where);
    return decl;
  }

  tsType(declIn: XdrDeclaration, where: string): string {
    const decl = this.resolve(declIn, where);
    const { base } = decl;
    if ('builtin' in base) {
      if (base.builtin === 'string') return 'string';
      if (base.builtin === 'opaque') return 'Buffer';
    }
    if (decl.shape !== 'single') {
      const item = this.tsType({ ...decl, shape: 'single' }, where);
      return decl.shape === 'optional' ? `${item} | null` : `${item.includes('|') ? `(${item})` : item}[]`;
    }
    if ('builtin' in base) return TS_TYPES[base.builtin];
    const type = this.lookup(base.ref, where);
    if (type === 'enum') return 'number';
    this.need(type);
    return typeName(type.name);
  }

  /** Statements (lines, unindented) that write `value` as `declIn` says. */
  encode(declIn: XdrDeclaration, value: string, where: string, depth = 0): string[] {
    const decl = this.resolve(declIn, where);
    const { base } = decl;
    const field = `'${where}'`;
    if ('builtin' in base && base.builtin === 'string') return [`w.string(${value}, ${this.bound(decl.bound, where)}, ${field});`];
    if ('builtin' in base && base.builtin === 'opaque')
      return [
        decl.shape === 'fixed'
          ? `w.fixedOpaque(${value}, ${this.bound(decl.bound, where)}, ${field});`
          : `w.opaque(${value}, ${this.bound(decl.bound, where)}, ${field});`,
      ];
    const item = `x${depth}`;
    const single = { ...decl, shape: 'single' as const };
    const indented = (lines: string[]) => lines.map((l) => `  ${l}`);
    if (decl.shape === 'optional')
      return [
        `if (${value} === null || ${value} === undefined) w.bool(false);`,
        'else {',
        '  w.bool(true);',
        ...indented(this.encode(single, value, where, depth + 1)),
        '}',
      ];
    if (decl.shape === 'variable')
      return [
        `w.array(`,
        `  ${value},`,
        `  ${this.bound(decl.bound, where)},`,
        `  (_, ${item}) => {`,
        ...indented(indented(this.encode(single, item, `${where}[]`, depth + 1))),
        '  },',
        `  ${field},`,
        ');',
      ];
    if (decl.shape === 'fixed') {
      const n = this.bound(decl.bound, where);
      return [
        `if (${value}.length !== ${n}) throw new RangeError(\`${where}: ${n} items required, \${${value}.length} given\`);`,
        `for (const ${item} of ${value}) {`,
        ...indented(this.encode(single, item, `${where}[]`, depth + 1)),
        '}',
      ];
    }
    if ('builtin' in base) {
      if (base.builtin === 'float' || base.builtin === 'void') throw new Error(`${where}: ${base.builtin} is not supported by the generator`);
      return [`w.${base.builtin}(${value});`];
    }
    const type = this.lookup(base.ref, where);
    if (type === 'enum') return [`w.int(${value});`];
    this.need(type);
    return [`encode${typeName(type.name)}(w, ${value});`];
  }

  decode(declIn: XdrDeclaration, where: string): string {
    const decl = this.resolve(declIn, where);
    const { base } = decl;
    const field = `'${where}'`;
    if ('builtin' in base && base.builtin === 'string') return `r.string(${this.bound(decl.bound, where)}, ${field})`;
    if ('builtin' in base && base.builtin === 'opaque')
      return decl.shape === 'fixed' ? `r.fixedOpaque(${this.bound(decl.bound, where)})` : `r.opaque(${this.bound(decl.bound, where)}, ${field})`;
    const single = { ...decl, shape: 'single' as const };
    if (decl.shape === 'optional') return `r.bool() ? ${this.decode(single, where)} : null`;
    if (decl.shape === 'variable') return `r.array(${this.bound(decl.bound, where)}, () => ${this.decode(single, `${where}[]`)}, ${field})`;
    if (decl.shape === 'fixed') return `Array.from({ length: ${this.bound(decl.bound, where)} }, () => ${this.decode(single, `${where}[]`)})`;
    if ('builtin' in base) {
      if (base.builtin === 'float' || base.builtin === 'void') throw new Error(`${where}: ${base.builtin} is not supported by the generator`);
      return `r.${base.builtin}()`;
    }
    const type = this.lookup(base.ref, where);
    if (type === 'enum') return 'r.int()';
    this.need(type);
    return `decode${typeName(type.name)}(r)`;
  }

  /** Emits a struct's or union's type and codecs once (typedefs are inlined where used). */
  need(type: XdrType): void {
    if (type.kind === 'typedef' || this.emitted.has(type.name)) return;
    this.emitted.add(type.name);
    const name = typeName(type.name);
    const lines: string[] = [];
    if (type.kind === 'struct') {
      lines.push(`/** struct ${type.name}. */`, `export interface ${name} {`);
      for (const f of type.fields) lines.push(`  ${f.name}: ${this.tsType(f, `${type.name}.${f.name}`)};`);
      lines.push('}', '', `export function encode${name}(w: XdrWriter, v: ${name}): void {`);
      for (const f of type.fields) lines.push(...this.encode(f, `v.${f.name}`, `${type.name}.${f.name}`).map((l) => `  ${l}`));
      lines.push('}', '', `export function decode${name}(r: XdrReader): ${name} {`, '  return {');
      for (const f of type.fields) lines.push(`    ${f.name}: ${this.decode(f, `${type.name}.${f.name}`)},`);
      lines.push('  };', '}', '');
    } else {
      const d = type.discriminant;
      if (type.defaultArm) throw new Error(`union ${type.name}: default arms are not supported by the generator`);
      const arms = type.arms.map((arm) => ({
        values: arm.cases.map((c) => this.bound(c, `union ${type.name} case ${c}`)),
        decl: arm.decl,
        where: `${type.name}.${arm.decl.name || d.name}`,
      }));
      lines.push(`/** union ${type.name}, by its discriminant ${d.name}. */`, `export type ${name} =`);
      for (const arm of arms) {
        const body = 'builtin' in arm.decl.base && arm.decl.base.builtin === 'void' ? '' : `; ${arm.decl.name}: ${this.tsType(arm.decl, arm.where)}`;
        lines.push(`  | { ${d.name}: ${arm.values.join(' | ')}${body} }`);
      }
      lines[lines.length - 1] += ';';
      lines.push('', `export function encode${name}(w: XdrWriter, v: ${name}): void {`);
      lines.push(...this.encode(d, `v.${d.name}`, `${type.name}.${d.name}`).map((l) => `  ${l}`), `  switch (v.${d.name}) {`);
      for (const arm of arms) {
        lines.push(...arm.values.map((v) => `    case ${v}:`));
        if (!('builtin' in arm.decl.base && arm.decl.base.builtin === 'void'))
          lines.push(...this.encode(arm.decl, `v.${arm.decl.name}`, arm.where).map((l) => `      ${l}`));
        lines.push('      return;');
      }
      lines.push(
        '    default:',
        `      throw new RangeError(\`${type.name}: ${d.name} \${(v as { ${d.name}: number }).${d.name}} is none of its cases (${arms.flatMap((a) => a.values).join(', ')})\`);`,
        '  }',
        '}',
        '',
        `export function decode${name}(r: XdrReader): ${name} {`,
        `  const ${d.name} = ${this.decode(d, `${type.name}.${d.name}`)};`,
        `  switch (${d.name}) {`,
      );
      for (const arm of arms) {
        lines.push(...arm.values.map((v) => `    case ${v}:`));
        const body = 'builtin' in arm.decl.base && arm.decl.base.builtin === 'void' ? '' : `, ${arm.decl.name}: ${this.decode(arm.decl, arm.where)}`;
        lines.push(`      return { ${d.name}${body} };`);
      }
      lines.push(
        '    default:',
        `      throw new XdrError(\`${type.name}: ${d.name} \${${d.name}} is none of its cases (${arms.flatMap((a) => a.values).join(', ')})\`);`,
        '  }',
        '}',
        '',
      );
    }
    this.out.push(...lines);
  }

  root(xdrName: string): string {
    const type = this.lookup(xdrName, xdrName);
    if (type === 'enum' || type.kind === 'typedef') throw new Error(`${xdrName} is not a struct or union`);
    this.need(type);
    return typeName(xdrName);
  }
}

/** The generated codecs module's text (src/libvirt/generated/codecs.ts) for the .x files under `sourceDir`. */
export function generateCodecs(sourceDir: string): string {
  const defs = readDefinitions(sourceDir);
  const procedures = defs.enums.get('remote_procedure');
  if (!procedures) throw new Error(`${FILES[0]}: no enum remote_procedure`);
  const numbers = new Map(procedures.map((p) => [p.name.replace(/^REMOTE_PROC_/, ''), p.value]));
  const emitter = new CodecEmitter(defs);
  const table: string[] = [];
  for (const name of USED_PROCEDURES) {
    const { args, ret, msg } = procedureStructs(name, defs);
    const argsType = args ? emitter.root(args) : 'void';
    const retType = ret ? emitter.root(ret) : 'void';
    if (msg) emitter.root(msg);
    if (msg && !args && !ret) continue;
    const codecs = [args ? `encode${argsType}` : 'undefined', ret ? `decode${retType}` : 'undefined'];
    while (codecs.at(-1) === 'undefined') codecs.pop();
    table.push(`  ${name}: codec<${argsType}, ${retType}>('${name}', ${numbers.get(name)}${codecs.map((c) => `, ${c}`).join('')}),`);
  }
  for (const name of EXTRA_ROOT_TYPES) emitter.root(name);
  const version = libvirtVersion(sourceDir);
  return [
    `// Generated by scripts/gen-libvirt-protocol.ts from libvirt${version ? ` ${version}` : ''}'s ${FILES.join(', ')}.`,
    '// Do not edit: regenerate (test/unit/libvirt/generated-protocol.test.ts checks that this file is what it gives).',
    '// XDR codecs (RFC 4506) of the structs and unions the procedures this client uses take and return, named',
    '// as the .x files name them; every array, string and opaque is held to the bound its .x declaration gives.',
    '',
    "import { XdrError, type XdrReader, type XdrWriter } from '../xdr.js';",
    '',
    '/** One remote procedure: its name (REMOTE_PROC_ without the prefix), number and argument and reply codecs. */',
    'export interface ProcedureCodec<Args, Ret> {',
    '  name: string;',
    '  procedure: number;',
    '  encodeArgs?: (w: XdrWriter, args: Args) => void;',
    '  decodeRet?: (r: XdrReader) => Ret;',
    '}',
    '',
    'function codec<Args, Ret>(name: string, procedure: number, encodeArgs?: (w: XdrWriter, args: Args) => void, decodeRet?: (r: XdrReader) => Ret): ProcedureCodec<Args, Ret> {',
    '  return { name, procedure, encodeArgs, decodeRet };',
    '}',
    '',
    ...emitter.out,
    '/** The procedures this client calls, with the codecs of their remote_*_args and remote_*_ret structs. */',
    'export const Procedures = {',
    ...table,
    '} as const;',
    '',
  ].join('\n');
}

/** The generated module's text for the .x files under `sourceDir`. */
export function generate(sourceDir: string): string {
  const defs = readDefinitions(sourceDir);
  const procedures = defs.enums.get('remote_procedure');
  if (!procedures) throw new Error(`${FILES[0]}: no enum remote_procedure`);
  const byName = new Map(procedures.map((p) => [p.name.replace(/^REMOTE_PROC_/, ''), p.value]));
  const version = libvirtVersion(sourceDir);
  const lines = [
    `// Generated by scripts/gen-libvirt-protocol.ts from libvirt${version ? ` ${version}` : ''}'s ${FILES.join(', ')}.`,
    '// Do not edit: regenerate (test/unit/libvirt/generated-protocol.test.ts checks that this file is what it gives).',
    '',
  ];
  for (const name of USED_CONSTANTS) {
    const c = defs.constants.get(name);
    if (!c) throw new Error(`constant ${name} is not defined in ${FILES.join(', ')}`);
    lines.push(`export const ${name} = ${c.text};`);
  }
  for (const e of USED_ENUMS) {
    const members = defs.enums.get(e.name);
    if (!members) throw new Error(`enum ${e.name} is not defined in ${FILES.join(', ')}`);
    lines.push('', `/** enum ${e.name}. */`, `export enum ${e.exportAs} {`);
    for (const m of members) lines.push(`  ${m.name.replace(e.prefix, '')} = ${m.value},`);
    lines.push('}');
  }
  lines.push('', '/** Numbers of the remote procedures (enum remote_procedure) this client calls or receives. */', 'export const Proc = {');
  for (const name of USED_PROCEDURES) {
    const value = byName.get(name);
    if (value === undefined) throw new Error(`REMOTE_PROC_${name} is not in ${FILES[0]}'s enum remote_procedure`);
    lines.push(`  ${name}: ${value},`);
  }
  lines.push('} as const;', '');
  return lines.join('\n');
}

function main(argv: string[]): void {
  const check = argv.includes('--check');
  const dir = argv.find((a) => !a.startsWith('--')) ?? process.env.VB_LIBVIRT_SOURCE_DIR ?? LIBVIRT_SOURCE_CACHE;
  const outputs: [string, string][] = [
    [GENERATED_FILE, generate(dir)],
    [GENERATED_CODECS_FILE, generateCodecs(dir)],
  ];
  for (const [file, text] of outputs) {
    if (check) {
      const committed = existsSync(file) ? readFileSync(file, 'utf8') : '';
      if (committed !== text) {
        process.stderr.write(`${file} differs from what ${dir} generates: run npx tsx scripts/gen-libvirt-protocol.ts ${dir}\n`);
        process.exit(1);
      }
      process.stdout.write(`${file} matches ${dir}\n`);
    } else {
      writeFileSync(file, text);
      process.stdout.write(`wrote ${file} from ${dir}\n`);
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`gen-libvirt-protocol: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
