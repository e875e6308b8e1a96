/**
 * docs/policy-api.md from the types a policy sees (src/policy/api.ts and the cluster model it
 * re-exports, src/cluster/model.ts): every field and method with its type, its unit and its
 * docstring. The source text is parsed with ts-morph (no type checking, so it is quick); a member
 * without a docstring is an error, like a config field without `.describe()`. Used by scripts/gen-docs.ts.
 */
import { join } from 'node:path';
import { type InterfaceDeclaration, type JSDocableNode, Node, Project, type SourceFile } from 'ts-morph';

const root = join(import.meta.dirname, '..');

/** What a policy reaches, in the order a reader meets it: the policy, its context, then what the context holds. */
const SECTIONS: { file: string; name: string; intro: string }[] = [
  { file: 'src/policy/api.ts', name: 'Policy', intro: 'What `definePolicy({...})` takes: a name and any of the four extension points.' },
  { file: 'src/policy/api.ts', name: 'Candidate', intro: 'What `select` returns, one per VM that should move.' },
  {
    file: 'src/policy/api.ts',
    name: 'PolicyContext',
    intro: 'The second or third argument of every extension point: the observed cluster, the config, and the plan so far.',
  },
  { file: 'src/policy/api.ts', name: 'ProjectedHost', intro: '`ctx.projected(host)`: a host as planned so far this tick.' },
  {
    file: 'src/cluster/model.ts',
    name: 'VmObservation',
    intro: 'A VM as observed this tick (`vm` in filter/score/technique, `ctx.state.vms`, `ctx.vmsOn(host)`).',
  },
  {
    file: 'src/cluster/model.ts',
    name: 'HostObservation',
    intro: 'A host as observed this tick (`host` in filter/score, `ctx.state.hosts`, `ctx.host(name)`).',
  },
  { file: 'src/cluster/model.ts', name: 'WindowedValue', intro: 'A measured figure over the sampling window (`loop.windowSamples` samples, one per tick).' },
  { file: 'src/cluster/model.ts', name: 'HugepagePool', intro: 'One of `HostObservation.hugepages`.' },
  { file: 'src/cluster/model.ts', name: 'ClusterState', intro: '`ctx.state`: everything observed this tick.' },
  { file: 'src/cluster/model.ts', name: 'InFlightMigration', intro: 'One of `ClusterState.inFlight`.' },
];

/** The unit a field's name carries (the project's naming rule: units in names), or undefined. */
export function unitOfName(name: string): string | undefined {
  const rules: [RegExp, string][] = [
    [/AtMs$/, 'ms since the epoch'],
    [/Ms$/, 'milliseconds'],
    [/Seconds$/, 'seconds'],
    [/MiBps$/, 'MiB/s'],
    [/KiB$/, 'KiB'],
    [/MiB$/, 'MiB'],
    [/Bytes$/, 'bytes'],
    [/Percent$/, 'percent (0..100)'],
    [/Ratio(P90)?$/, 'ratio (1 = 100 %)'],
  ];
  return rules.find(([re]) => re.test(name))?.[1];
}

function docOf(node: JSDocableNode): string {
  return node
    .getJsDocs()
    .map((d) => d.getDescription().trim())
    .join(' ')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
}

const cell = (text: string) => text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');

/** Rows of one interface; a member without a docstring is reported in `missing`. */
function rows(decl: InterfaceDeclaration, missing: string[]): string[] {
  const out: string[] = [];
  for (const member of decl.getMembers()) {
    if (!Node.isPropertySignature(member) && !Node.isMethodSignature(member)) continue;
    const name = member.getName();
    const doc = docOf(member);
    const unit = unitOfName(name);
    if (!doc) missing.push(`${decl.getName()}.${name}`);
    const type = Node.isMethodSignature(member)
      ? `(${member
          .getParameters()
          .map((p) => p.getText())
          .join(', ')}) => ${member.getReturnTypeNode()?.getText() ?? 'void'}`
      : (member.getTypeNode()?.getText() ?? 'unknown');
    const optional = member.hasQuestionToken() ? ' (optional)' : '';
    out.push(`| \`${name}\`${optional} | \`${cell(type)}\` | ${unit ?? ''} | ${cell(doc)} |`);
  }
  return out;
}

function exportedFunctions(file: SourceFile): string[] {
  const out: string[] = [];
  for (const [name, decls] of file.getExportedDeclarations()) {
    const fn = decls.find((d) => Node.isFunctionDeclaration(d));
    if (!fn || !Node.isFunctionDeclaration(fn)) continue;
    const signature = `${name}(${fn
      .getParameters()
      .map((p) => p.getText())
      .join(', ')})`;
    out.push(`| \`${cell(signature)}\` | ${cell(docOf(fn))} |`);
  }
  return out.sort();
}

/**
 * The page. Throws naming every member that has no docstring (add a
 * `/** ... *\/` to it in src/policy/api.ts or src/cluster/model.ts).
 */
export function policyApiReference(): string {
  const project = new Project({ skipAddingFilesFromTsConfig: true, skipFileDependencyResolution: true, useInMemoryFileSystem: false });
  const files = new Map<string, SourceFile>();
  const source = (path: string) => {
    let f = files.get(path);
    if (!f) {
      f = project.addSourceFileAtPath(join(root, path));
      files.set(path, f);
    }
    return f;
  };
  const missing: string[] = [];
  const parts = [
    '# Policy API reference',
    '',
    '<!-- Generated by `npm run docs` from src/policy/api.ts and src/cluster/model.ts. Do not edit by hand. -->',
    '',
    "What a custom policy sees: the module `virt-balancer/policy` (in a clone, `src/policy/api.ts`; how to import it and a walk-through: [policies.md](policies.md)). Units are in the names (`memoryTotalBytes` is bytes, `dirtyRateMiBps` MiB/s, `...AtMs` milliseconds since the epoch); the unit column spells them out. Ratios are 0..1 (1 = 100 %) of the host's or VM's own capacity. The config a policy reads (`ctx.config`) is `policy:` in [config-reference.md](config-reference.md).",
    '',
    'Two kinds of free-form marks reach a policy: a VM has **tags** (`VmObservation.tags`, a list of strings such as `pinned` or `group:web`, from its libvirt metadata (`<tags>` in the virt-balancer namespace) and from `policy.pinnedVms` (`pinned`) and `policy.vmPriorities` (`priority:N`)), a host has **labels** (`HostObservation.labels`, a mapping such as `{ rack: "a" }`, from `hosts[].labels` in config).',
    '',
    '## Functions',
    '',
    '| function | what it does |',
    '|---|---|',
    ...exportedFunctions(source('src/policy/api.ts')),
    '',
  ];
  for (const section of SECTIONS) {
    const decl = source(section.file).getInterface(section.name);
    if (!decl) throw new Error(`policy API reference: no interface ${section.name} in ${section.file}`);
    const own = docOf(decl);
    parts.push(
      `## ${section.name}`,
      '',
      section.intro + (own ? ` ${own}` : ''),
      '',
      '| member | type | unit | meaning |',
      '|---|---|---|---|',
      ...rows(decl, missing),
      '',
    );
  }
  if (missing.length > 0) {
    throw new Error(`policy API members without a docstring: ${missing.join(', ')}; add /** ... */ to them in src/policy/api.ts or src/cluster/model.ts`);
  }
  return parts.join('\n');
}
