/**
 * Per-VM overrides (issue 28 item 3), read from the VM's tags: libvirt metadata in our namespace
 * (`<tags>automation:manual evacuation:cold techniques:precopy+postcopy priority:5</tags>`) or
 * config (policy.vmOverrides, which replaces a metadata tag of the same key: cluster/config-tags.ts).
 *
 * - `automation:manual|partial|full`: as policy.automation, for this VM's moves only. `manual`: its
 *   moves are only recommended (never run without approval); `partial`: its must-moves (maintenance
 *   drains, rule repairs) run, its balancing and consolidation moves wait for approval (vSphere
 *   DRS's "partially automated" runs initial placement and recommends migrations); `full`: run.
 * - `evacuation:live|cold|shutdown|never`: how it leaves a host in maintenance (Incus
 *   cluster.evacuate, KubeVirt eviction strategies). `live` (default): moved live (shut off: cold);
 *   `cold`: never moved live, it moves once shut off; `shutdown`: shut down and left on its host,
 *   never moved; `never`: stays, and the host cannot be emptied while it runs there.
 * - `techniques:a+b`: the techniques the chooser may pick for it, replacing policy.allowedTechniques
 *   (an operator's explicit `migrate --technique` still wins). `+` joins them: tags are split on
 *   spaces and commas.
 * - `priority:N`: scheduling priority (scheduling.ts vmPriority).
 */
import type { Move } from './plan-types.js';
import type { VmObservation } from '../cluster/model.js';
import { TECHNIQUE_NAMES } from '../config/policy-schema.js';
import type { Technique } from './plan-types.js';

export const AUTOMATION_LEVELS = ['manual', 'partial', 'full'] as const;
export type AutomationLevel = (typeof AUTOMATION_LEVELS)[number];
export const EVACUATION_MODES = ['live', 'cold', 'shutdown', 'never'] as const;
export type EvacuationMode = (typeof EVACUATION_MODES)[number];

export interface VmOverrides {
  automation?: AutomationLevel;
  evacuation?: EvacuationMode;
  techniques?: Technique[];
  /** Tags of an override key with a value that is not one of its values: ignored, each said once in the plan. */
  invalid: string[];
}

function tagValue(vm: VmObservation, key: string): string | undefined {
  const prefix = `${key}:`;
  return vm.tags.find((t) => t.startsWith(prefix))?.slice(prefix.length);
}

/** The VM's overrides from its tags; a value that is not one of a key's values is ignored and listed in `invalid`. */
export function vmOverrides(vm: VmObservation): VmOverrides {
  const out: VmOverrides = { invalid: [] };
  const automation = tagValue(vm, 'automation');
  if (automation !== undefined) {
    if ((AUTOMATION_LEVELS as readonly string[]).includes(automation)) out.automation = automation as AutomationLevel;
    else out.invalid.push(`${vm.name}'s tag automation:${automation} is not one of ${AUTOMATION_LEVELS.join(', ')}; ignored`);
  }
  const evacuation = tagValue(vm, 'evacuation');
  if (evacuation !== undefined) {
    if ((EVACUATION_MODES as readonly string[]).includes(evacuation)) out.evacuation = evacuation as EvacuationMode;
    else out.invalid.push(`${vm.name}'s tag evacuation:${evacuation} is not one of ${EVACUATION_MODES.join(', ')}; ignored`);
  }
  const techniques = tagValue(vm, 'techniques');
  if (techniques !== undefined) {
    const names = techniques.split('+').filter(Boolean);
    const unknown = names.filter((n) => !(TECHNIQUE_NAMES as readonly string[]).includes(n));
    if (names.length === 0 || unknown.length > 0)
      out.invalid.push(
        `${vm.name}'s tag techniques:${techniques} names ${unknown.length > 0 ? `unknown techniques ${unknown.join(', ')}` : 'none'} (known: ${TECHNIQUE_NAMES.join(', ')}, joined by +); ignored`,
      );
    else out.techniques = names as Technique[];
  }
  return out;
}

/** Whether a move waits for approval at an automation level (must-moves run under `partial`). */
export function waitsForApproval(level: AutomationLevel, mustMove: boolean): boolean {
  return level === 'manual' || (level === 'partial' && !mustMove);
}

/**
 * Why `vm`, on a host in maintenance (or being drained), may not leave it now, by its evacuation
 * mode and state; undefined when it may. The same for every kind of move off that host (the
 * maintenance drain, a rule repair, a balancing move): the mode is how the VM leaves the host, not
 * which policy asked. `cold` holds a running VM (shut off, it moves cold); `shutdown` and `never`
 * hold it whatever its state.
 */
export function evacuationHold(vm: VmObservation): string | undefined {
  const shutOff = vm.state === 'shutoff';
  switch (vmOverrides(vm).evacuation) {
    case 'never':
      return 'stays (evacuation never): the host is not empty while it is there; shut it down and undefine it, or change its evacuation';
    case 'shutdown':
      return shutOff
        ? 'stays shut off on its host (evacuation shutdown)'
        : 'is to be shut down, not moved (evacuation shutdown): shut it down (virsh shutdown) before the host goes down';
    case 'cold':
      return shutOff ? undefined : 'moves only cold (evacuation cold): shut it down and it moves';
    default:
      return undefined;
  }
}

/**
 * Sets the move's own automation level from the VM's override and says, in its reason, each
 * override that changed a decision: approval asked or not asked where policy.automation would have
 * done the other, and the techniques the chooser was limited to.
 */
export function overrideNotes(vm: VmObservation, move: Move, automation: AutomationLevel): string {
  const own = vmOverrides(vm);
  const notes: string[] = [];
  if (own.automation) {
    move.automation = own.automation;
    const waits = waitsForApproval(own.automation, Boolean(move.mustMove));
    if (waits !== waitsForApproval(automation, Boolean(move.mustMove)))
      notes.push(
        waits
          ? `waits for approval: ${vm.name}'s automation is ${own.automation} (policy.automation ${automation})`
          : `runs without approval: ${vm.name}'s automation is ${own.automation} (policy.automation ${automation})`,
      );
  }
  if (own.techniques) notes.push(`technique chosen from ${vm.name}'s override ${own.techniques.join('+')}`);
  return notes.length > 0 ? `; ${notes.join('; ')}` : '';
}
