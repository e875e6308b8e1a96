/**
 * Generates src/libvirt/generated/protocol.ts from libvirt's RPC protocol definitions (the XDR
 * language files src/remote/remote_protocol.x, src/rpc/virnetprotocol.x and
 * src/rpc/virkeepaliveprotocol.x of libvirt's source), so procedure numbers, limits and enum
 * values are read from libvirt instead of copied by hand.
 *
 *   npx tsx scripts/gen-libvirt-protocol.ts [LIBVIRT_SOURCE_DIR]   # writes the file
 *   npx tsx scripts/gen-libvirt-protocol.ts --check [DIR]            # exit 1 if it differs
 *
 * LIBVIRT_SOURCE_DIR defaults to $VB_LIBVIRT_SOURCE_DIR, then to the unpacked source that
 * scripts/install-lab-packages.sh fetches from Debian's source package (LIBVIRT_SOURCE_CACHE).
 *
 * What is generated: the procedure numbers this client calls or receives (named as libvirt names
 * them, REMOTE_PROC_ without the prefix), the array and string limits it checks, and the enums of
 * the framing and authentication. Struct codecs stay hand-written in connection.ts: each is a few
 * lines, and the recorded replies of a real daemon (test/unit/libvirt/recorded) test them.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where scripts/install-lab-packages.sh unpacks the .x files of the installed libvirt's source. */
export const LIBVIRT_SOURCE_CACHE = '/var/cache/virt-balancer/libvirt-source/current';
export const GENERATED_FILE = fileURLToPath(new URL('../src/libvirt/generated/protocol.ts', import.meta.url));

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

/** What the generator reads from XDR language text (RFC 4506 section 6): constants and enums. */
export interface XdrDefinitions {
  constants: Map<string, { text: string; value: number }>;
  enums: Map<string, { name: string; text: string; value: number }[]>;
}

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
export function parseXdr(source: string, file: string, into: XdrDefinitions = { constants: new Map(), enums: new Map() }): XdrDefinitions {
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

/** The generated module's text for the .x files under `sourceDir`. */
export function generate(sourceDir: string): string {
  const defs: XdrDefinitions = { constants: new Map(), enums: new Map() };
  for (const file of FILES) {
    const path = join(sourceDir, file);
    if (!existsSync(path))
      throw new Error(
        `${path} does not exist: pass the directory of an unpacked libvirt source (scripts/install-lab-packages.sh unpacks one in ${LIBVIRT_SOURCE_CACHE})`,
      );
    parseXdr(readFileSync(path, 'utf8'), file, defs);
  }
  const procedures = defs.enums.get('remote_procedure');
  if (!procedures) throw new Error(`${FILES[0]}: no enum remote_procedure`);
  const byName = new Map(procedures.map((p) => [p.name.replace(/^REMOTE_PROC_/, ''), p.value]));
  const meson = join(sourceDir, 'meson.build');
  const version = existsSync(meson) ? /project\(\s*'libvirt'[^)]*?version:\s*'([\d.]+)'/.exec(readFileSync(meson, 'utf8'))?.[1] : undefined;
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
  const text = generate(dir);
  if (check) {
    const committed = readFileSync(GENERATED_FILE, 'utf8');
    if (committed !== text) {
      process.stderr.write(`${GENERATED_FILE} differs from what ${dir} generates: run npx tsx scripts/gen-libvirt-protocol.ts ${dir}\n`);
      process.exit(1);
    }
    process.stdout.write(`${GENERATED_FILE} matches ${dir}\n`);
    return;
  }
  writeFileSync(GENERATED_FILE, text);
  process.stdout.write(`wrote ${GENERATED_FILE} from ${dir}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`gen-libvirt-protocol: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
