/**
 * The `policy:` section of the config: thresholds, the objective's trade-offs, which policies run
 * and with what weight, and the inputs of the technique chooser.
 */
import { z } from 'zod';
import { milliseconds, seconds } from './durations.js';

export const TECHNIQUE_NAMES = ['precopy', 'postcopy', 'hybrid', 'autoconverge', 'xbzrle', 'multifd', 'cold'] as const;

const percent = z.number().min(0).max(100);

export const policyEntrySchema = z.strictObject({
  /** Policy name: a built-in from policies/ or a module found in one of policyDirs. */
  name: z.string().min(1).describe('Policy name: a built-in from policies/ or a module found in one of policyDirs.'),
  enabled: z.boolean().default(true).describe('false keeps the entry (and its options) but does not run the policy.'),
  /** Weight of this policy's score among all scoring policies. */
  weight: z.number().min(0).default(1).describe("Weight of this policy's score among all scoring policies."),
  /** Free-form options handed to the policy. */
  options: z.record(z.string(), z.unknown()).default({}).describe('Free-form options handed to the policy.'),
});

export const affinityGroupSchema = z
  .strictObject({
    name: z.string().min(1).describe('Group name, shown in plan reasons.'),
    /** `affinity`: keep together on one host; `anti-affinity`: never two on one host; `spread`: evenly over hosts or a label's domains. */
    type: z
      .enum(['affinity', 'anti-affinity', 'spread'])
      .describe(
        '`affinity`: keep together on one host; `anti-affinity`: never two on one host; `spread`: as evenly as the domains allow (hosts, or `scope` domains): no domain holds more than one member above the emptiest (max skew 1, as Kubernetes topology spread), so a group larger than the domains still loses at most its share when one fails.',
      ),
    vms: z.array(z.string().min(1)).min(2).describe('VM names in the group (at least two).'),
    scope: z
      .string()
      .min(1)
      .optional()
      .describe(
        'anti-affinity and spread: a host label (hosts[].labels, e.g. `rack`, `psu`, `zone`) whose value is a failure domain (hosts that share the value); anti-affinity: no two members in one domain instead of no two on one host; spread: even over those domains instead of over hosts. A host without the label is a domain of its own.',
      ),
  })
  .refine((g) => g.scope === undefined || g.type !== 'affinity', {
    path: ['scope'],
    message:
      'applies to anti-affinity and spread groups only (an affinity group keeps its members on one host); remove it or set type: anti-affinity or spread',
  })
  .superRefine((g, ctx) => {
    // A VM listed twice is one member: an anti-affinity pair of one VM with itself reads as a rule that is not there.
    const seen = new Set<string>();
    g.vms.forEach((vm, i) => {
      if (seen.has(vm)) ctx.addIssue({ code: 'custom', path: ['vms', i], message: `VM ${vm} is listed twice in group ${g.name}; list each VM once` });
      seen.add(vm);
    });
  });

export const policySchema = z
  .strictObject({
    /** A host above this CPU utilisation (smoothed) is overloaded. */
    cpuHighPercent: percent.default(80).describe('A host above this CPU utilisation (smoothed) is overloaded.'),
    /** Consolidation empties hosts below this CPU utilisation. */
    cpuLowPercent: percent.default(20).describe('Consolidation empties hosts below this CPU utilisation.'),
    memoryHighPercent: percent.default(85).describe('A host above this memory use (of its memory offered to guests) is overloaded.'),
    /** A host must fall this far below a threshold before it counts as normal again. */
    hysteresisPercent: percent.default(5).describe('A host must fall this far below a threshold before it counts as normal again.'),
    /** Policies to run, in order, with weights. */
    policies: z
      .array(policyEntrySchema)
      .default([
        { name: 'balance', enabled: true, weight: 1, options: {} },
        { name: 'maintenance', enabled: true, weight: 1, options: {} },
        { name: 'pin', enabled: true, weight: 1, options: {} },
        { name: 'affinity', enabled: true, weight: 1, options: {} },
      ])
      .describe('Policies to run, in order, with weights.'),
    /** Extra directories to load policy modules from (besides the built-in policies/). */
    policyDirs: z.array(z.string()).default([]).describe('Extra directories to load policy modules from (besides the built-in policies/).'),
    /** A policy call that takes longer than this is reported and its verdict ignored. */
    policyTimeoutMs: milliseconds().int().positive().default(1000).describe('A policy call that takes longer than this is reported and its verdict ignored.'),
    /** A custom policy's worker thread may use this much memory in all (JS heap, Buffers, ArrayBuffers), MiB. */
    policyMemoryMiB: z
      .number()
      .int()
      .min(64)
      .default(512)
      .describe(
        "A custom policy's worker thread is stopped, and its calls fail naming it, when the process's resident memory grew by more than this since the worker started (MiB: its JS heap, capped at half of this, plus Buffers and ArrayBuffers, which V8's heap limit does not cover).",
      ),
    /** A VM that moved is left alone this long. */
    cooldownSeconds: seconds().min(0).default(600).describe('A VM that moved is left alone this long.'),
    /** Storm control: a VM's cooldown grows with its moves in a recent window (docs/scheduling.md). */
    cooldownGrowth: z
      .strictObject({
        factor: z
          .number()
          .min(1)
          .default(2)
          .describe(
            'Each earlier move of the VM within windowSeconds multiplies its cooldown by this (1: no growth). After n moves in the window: cooldownSeconds x factor^(n-1).',
          ),
        windowSeconds: seconds()
          .positive()
          .default(3600)
          .describe('Moves older than this no longer count: a VM left alone this long is back to cooldownSeconds.'),
        maxSeconds: seconds().positive().default(14_400).describe('The longest a grown cooldown gets.'),
      })
      .default({ factor: 2, windowSeconds: 3600, maxSeconds: 14_400 })
      .describe('Storm control: a VM that keeps moving waits longer each time; the count resets when it has not moved for windowSeconds.'),
    retryAfterFailureSeconds: seconds()
      .min(0)
      .default(900)
      .describe('After a move of a VM to a host aborted or failed, that VM is not sent to that host again for this long (other hosts may be tried).'),
    maxMovesPerTick: z.number().int().min(0).default(2).describe('Moves planned per tick at most; 0 plans none.'),
    /**
     * A move must reduce the objective by more than this times the square of its size in host
     * copies (the bytes it sends as a share of its source host's memory): gain and cost in one
     * unit, so the decision does not depend on host size (docs/policies.md "Objective and units").
     */
    moveCostWeight: z
      .number()
      .min(0)
      .default(3)
      .describe(
        "A move that is not a must-move must reduce the objective (policy.objective, squared ratios) by more than this times the square of its size in host copies: the bytes it sends as a share of its source host's memory (an idle VM: its share of the host's memory). Scale-free: the same cluster with every memory size x16 or /16 makes the same moves. For a memory spread move of a VM holding a share s of two hosts, it moves when they are more than (1 + moveCostWeight/2) x s apart (plus the spread margin); 0 charges nothing.",
      ),
    /** Replaced by moveCostWeight (issue 24); refused with the fix. */
    minGainPerCostSecond: z.unknown().optional().describe('Replaced by moveCostWeight; refused (remove it).'),
    /** Longest pause of the guest the chooser may plan for. */
    downtimeBudgetMs: milliseconds().positive().default(300).describe('Longest pause of the guest the chooser may plan for.'),
    /** Migration bandwidth the cost model assumes when nothing better is known. */
    bandwidthMiBps: z.number().positive().default(1000).describe('Migration bandwidth the cost model assumes when nothing better is known.'),
    allowedTechniques: z
      .array(z.enum(TECHNIQUE_NAMES))
      .min(1)
      .default([...TECHNIQUE_NAMES])
      .describe('Migration techniques the chooser may pick from; `cold` moves a shut-off VM.'),
    /** Seconds of libvirt's dirty-rate calculation for a candidate VM. */
    dirtyRateMeasureSeconds: z.number().int().min(1).max(60).default(1).describe("Seconds of libvirt's dirty-rate calculation for a candidate VM."),
    affinityGroups: z
      .array(affinityGroupSchema)
      .default([])
      // Plan reasons and notices name a group: two of one name would be told apart by nobody.
      .superRefine((groups, ctx) => {
        const seen = new Set<string>();
        groups.forEach((g, i) => {
          if (seen.has(g.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `a second group named ${g.name}; give each group its own name` });
          seen.add(g.name);
        });
      })
      .describe('Groups of VMs kept together or apart (the affinity policy).'),
    headroom: z
      .strictObject({
        hostFailures: z
          .number()
          .int()
          .min(0)
          .default(0)
          .describe(
            'Host failures the cluster must be able to absorb: with 1, the VMs of any one host must fit on the remaining hosts within their memory and vCPU limits; with N, those of the N hosts holding the most guest memory. Balancing and consolidation moves, power-off and `place` that would break it are refused; a cluster already below it is said in `plan` and by virt_balancer_headroom_shortfall. 0 (default): no headroom kept.',
          ),
      })
      .default({ hostFailures: 0 })
      .describe('Failover headroom (N+1): room kept to restart the VMs of failed hosts on the others (docs/policies.md "Failover headroom").'),
    versionMonotonic: z
      .enum(['maintenance', 'always'])
      .default('maintenance')
      .describe(
        'When a VM may not move to a host with an older libvirt or QEMU than the host it runs on (versions the daemons report at connect). `maintenance` (default): when it leaves a host in maintenance or being drained, so a rolling upgrade never sends a VM back to a host not yet upgraded. `always`: on every move (balancing, consolidation, relief, `migrate`). It cannot be switched off during maintenance. A held move shows in `plan` as a refusal naming the VM, both hosts and both versions.',
      ),
    /** VMs (by name) that never move. */
    pinnedVms: z.array(z.string()).default([]).describe('VMs (by name) that never move.'),
    /** Scheduling priority by VM name (higher first within must-moves and within balancing moves); as the `priority:N` metadata tag. */
    vmPriorities: z
      .record(z.string(), z.number().int())
      .default({})
      .describe(
        'Scheduling priority by VM name: among moves waiting for a slot, higher goes first (must-moves always before balancing). Same as the metadata tag priority:N; the config wins. Default 0.',
      ),
    vmOverrides: z
      .record(
        z.string(),
        z.strictObject({
          automation: z
            .enum(['manual', 'partial', 'full'])
            .optional()
            .describe(
              "policy.automation for this VM's moves only: `manual` never moves it without approval, `partial` runs its must-moves (maintenance drains, rule repairs) and waits for approval of the others, `full` runs them all.",
            ),
          evacuation: z
            .enum(['live', 'cold', 'shutdown', 'never'])
            .optional()
            .describe(
              'How it leaves a host in maintenance: `live` (default; shut off: cold), `cold` (never moved live; it moves once shut off), `shutdown` (shut down and left on its host, never moved), `never` (stays: the host cannot be emptied while it runs there).',
            ),
          techniques: z
            .array(z.enum(TECHNIQUE_NAMES))
            .min(1)
            .optional()
            .describe('Techniques the chooser may pick for this VM, replacing policy.allowedTechniques (`migrate --technique` still wins).'),
        }),
      )
      .default({})
      .describe(
        'Per-VM overrides by VM name, as the metadata tags automation:LEVEL, evacuation:MODE and techniques:A+B (the config wins over a tag of the same key); docs/policies.md "Per-VM overrides". Priority is policy.vmPriorities.',
      ),
    objective: z
      .strictObject({
        cpuWeight: z.number().min(0).default(1).describe('Weight of CPU in the objective (spread and hot spots of host CPU utilisation); 0 leaves CPU out.'),
        memoryWeight: z
          .number()
          .min(0)
          .default(1)
          .describe('Weight of memory in the objective (spread and hot spots of host memory use); 0 leaves memory out.'),
        hotSpotWeight: z
          .number()
          .min(0)
          .default(10)
          .describe(
            'How much more a point above cpuHighPercent / memoryHighPercent counts than a point of spread (the squared excess is multiplied by this); docs/policies.md.',
          ),
      })
      .default({ cpuWeight: 1, memoryWeight: 1, hotSpotWeight: 10 })
      .describe(
        'The one objective every move is judged on: weighted spread plus hot-spot excess of CPU and memory (docs/policies.md says exactly what is minimised).',
      ),
    spread: z
      .strictObject({
        enabled: z.boolean().default(true).describe('Balance the spread of host load, not only hot spots above the thresholds.'),
        aggressiveness: z
          .number()
          .int()
          .min(1)
          .max(5)
          .default(3)
          .describe(
            '1 (only hot spots and must-moves, no spread moves) to 5 (chase small differences); sets the defaults of the knobs below that are not set (docs/policies.md lists them).',
          ),
        tolerancePercent: percent
          .optional()
          .describe(
            'A host whose CPU use is more than this many points above the cluster mean is a spread source; also the memory tolerance unless memoryTolerancePercent is set (default from aggressiveness: 30/20/12/6 points for 2/3/4/5).',
          ),
        memoryTolerancePercent: percent
          .optional()
          .describe(
            'A host whose memory use is more than this many points above the cluster mean is a spread source (default: tolerancePercent when set, else from aggressiveness: 15/10/6/3 points for 2/3/4/5; memory in use does not jitter as CPU does, so its default is tighter).',
          ),
        minCpuPercent: percent
          .optional()
          .describe(
            "A host is a CPU spread source only when its CPU use is also above this (default from aggressiveness: 60/50/30/0 for 2/3/4/5): below it the host's VMs get the CPU they ask for, and evening it out buys them nothing.",
          ),
        holdTicks: z
          .number()
          .int()
          .min(1)
          .optional()
          .describe('Consecutive ticks a host must stay above the tolerance before spread moves start (default from aggressiveness: 6/3/2/1).'),
        minGain: z
          .number()
          .min(0)
          .optional()
          .describe(
            'Objective reduction a spread move off a CPU spread source must buy on top of paying for its migration (moveCostWeight x its share of the host squared, docs/policies.md "Objective and units"); also the memory margin unless memoryMinGain is set; default from aggressiveness: 0.15/0.08/0.02/0.002 for 2/3/4/5; 0.08 is what evening out two hosts 40 points apart by 20 points each gains.',
          ),
        memoryMinGain: z
          .number()
          .min(0)
          .optional()
          .describe(
            'The same margin for a move off a host that is a memory spread source only (default: minGain when set, else from aggressiveness: 0.01/0/0/0 for 2/3/4/5: from 3 up the cost, which scales with the VM, carries it).',
          ),
      })
      .default({ enabled: true, aggressiveness: 3 })
      .describe('Spread balancing beside hot-spot relief: hosts well above the cluster mean give VMs to hosts below it.'),
    forecast: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe('Also relieve a host whose CPU is forecast to cross cpuHighPercent within aheadTicks (linear trend of its window).'),
        aheadTicks: z.number().int().min(1).max(20).default(3).describe('How many ticks ahead the CPU forecast looks.'),
      })
      .default({ enabled: false, aheadTicks: 3 })
      .describe(
        'Predictive trigger: relieve hosts before they cross the CPU threshold (off by default: the PlanetLab replay did not show a gain; docs/benchmarks.md).',
      ),
    goal: z
      .enum(['balance', 'consolidate'])
      .default('balance')
      .describe(
        'What the planner aims for. `balance`: relieve hot spots and even out host load (spread). `consolidate`: relieve hot spots, and pack VMs onto fewer hosts up to consolidation.targetUtilizationPercent so that emptied hosts can be powered down (spread balancing is off; the consolidation policy runs even when policy.policies does not list it). docs/policies.md gives what each costs on the PlanetLab replay.',
      ),
    consolidation: z
      .strictObject({
        targetUtilizationPercent: percent
          .default(70)
          .describe(
            "goal consolidate: hosts are packed up to this CPU utilisation (the VMs' p90 over the window plus the host's rising trend); a host below cpuLowPercent is emptied when all its VMs fit on other running hosts under it. Must lie between cpuLowPercent and cpuHighPercent less hysteresisPercent.",
          ),
        forecastAheadTicks: z
          .number()
          .int()
          .min(0)
          .max(20)
          .default(1)
          .describe(
            "goal consolidate: a host is judged on its CPU forecast this many ticks ahead (least-squares line over its window, as CloudSim's LR policy does); a host whose load is rising is not emptied and a target whose load is rising takes less.",
          ),
        packing: z
          .enum(['vm-peaks', 'summed-window'])
          .default('vm-peaks')
          .describe(
            "goal consolidate: how a target's load with the VMs packed onto it is judged against targetUtilizationPercent. `vm-peaks` (default, the most cautious): the host's forecast plus each VM's peak over the window, as if every VM peaked at once. `summed-window`: the per-instant sum of the host's and the VMs' windows, judged by its p90 and its least-squares forecast consolidation.forecastAheadTicks ahead (what the window shows the host would have carried; VMs that never peaked together pack tighter). On the PlanetLab replay it uses less energy for more overloaded host-time (docs/benchmarks.md).",
          ),
      })
      .default({ targetUtilizationPercent: 70, forecastAheadTicks: 1, packing: 'vm-peaks' })
      .describe('Settings of goal: consolidate (power saving).'),
    /** VMs (by name) the balancer neither moves nor counts as movable. */
    ignoredVms: z.array(z.string()).default([]).describe('VMs (by name) the balancer neither moves nor counts as movable.'),
    automation: z
      .enum(['manual', 'partial', 'full'])
      .default('full')
      .describe(
        'Who carries out planned moves. `full` (default, the behaviour before automation levels existed): the controller migrates every move it plans. `manual`: each planned move is recorded as a recommendation with an id (`virt-balancer recommendations`) and runs only when approved (`virt-balancer approve ID`). `partial`: must-moves (maintenance drains, affinity and other rule repairs) run at once, balancing moves wait for approval.',
      ),
    recommendationExpirySeconds: seconds()
      .positive()
      .default(3600)
      .describe(
        'A recommendation not approved within this long expires and can no longer be approved (the next plan recommends again if the move is still wanted).',
      ),
    percentBelowOneIntended: z
      .boolean()
      .default(false)
      .describe(
        'Accept threshold percentages between 0 and 1 (e.g. cpuHighPercent: 0.5 meaning half a percent); without it such values are refused as ratios written by mistake.',
      ),
  })
  .superRefine((p, ctx) => {
    if (p.minGainPerCostSecond !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['minGainPerCostSecond'],
        message:
          'was replaced by policy.moveCostWeight: a cost per migration second weighed seconds against a ratio, so the decision changed with host size (docs/policies.md "Objective and units"); remove it, and set moveCostWeight instead (default 3; 0 charges nothing, as minGainPerCostSecond: 0 did)',
      });
    // Several other balancers take ratios (0.8 = 80 %); here 0.8 means 0.8 %, which makes every
    // host overloaded and every target full. Refused unless the operator says it is meant.
    let ratioSeen = false;
    if (!p.percentBelowOneIntended) {
      const percents: [path: string[], value: number | undefined][] = [
        ...PERCENT_THRESHOLDS.map((field): [string[], number] => [[field], p[field]]),
        ...(['tolerancePercent', 'memoryTolerancePercent', 'minCpuPercent'] as const).map((field): [string[], number | undefined] => [
          ['spread', field],
          p.spread[field],
        ]),
        [['consolidation', 'targetUtilizationPercent'], p.consolidation?.targetUtilizationPercent],
      ];
      for (const [path, value] of percents) {
        if (value === undefined) continue;
        const field = path[path.length - 1];
        // 1 is a ratio of 100 % for a high threshold (1 % would make every host overloaded).
        const ratio = (value > 0 && value < 1) || (value === 1 && (field === 'cpuHighPercent' || field === 'memoryHighPercent'));
        if (ratio) {
          ratioSeen = true;
          ctx.addIssue({
            code: 'custom',
            path,
            message: `is ${value}, which reads as ${value} % (a ratio?); thresholds are percentages from 0 to 100: did you mean ${+(value * 100).toFixed(4)}? (if ${value} % is meant, set policy.percentBelowOneIntended: true)`,
          });
        }
      }
    }
    // After a ratio written by mistake, this would only repeat the same mistake in other words.
    if (!ratioSeen && p.cpuLowPercent >= p.cpuHighPercent)
      ctx.addIssue({
        code: 'custom',
        path: ['cpuLowPercent'],
        message: `is ${p.cpuLowPercent}, not below cpuHighPercent (${p.cpuHighPercent}): a host cannot be both underloaded and overloaded; lower cpuLowPercent or raise cpuHighPercent`,
      });
    if (p.goal === 'consolidate') {
      const target = p.consolidation.targetUtilizationPercent;
      if (target <= p.cpuLowPercent || target > p.cpuHighPercent - p.hysteresisPercent) {
        ctx.addIssue({
          code: 'custom',
          path: ['consolidation', 'targetUtilizationPercent'],
          message: `is ${target}; with goal consolidate it must lie above cpuLowPercent (${p.cpuLowPercent}) and at most cpuHighPercent less hysteresisPercent (${p.cpuHighPercent - p.hysteresisPercent}), or packed hosts would count as overloaded and be relieved again`,
        });
      }
    }
  });

/** The `*Percent` threshold fields that a ratio (0..1) written by mistake would silently break. */
export const PERCENT_THRESHOLDS = ['cpuHighPercent', 'cpuLowPercent', 'memoryHighPercent', 'hysteresisPercent'] as const;

export type PolicyConfig = z.infer<typeof policySchema>;
