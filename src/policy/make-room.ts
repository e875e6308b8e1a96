/**
 * Make-room moves: a VM that must leave a host in maintenance and fits on no host waits
 * forever unless something else moves first. As vSphere DRS does for a host entering maintenance,
 * the engine then moves one other VM off a host where that frees enough room, so the VM can follow
 * on a later tick (not in the same one: both would be in flight on that host at once). Each stuck
 * VM is said in a plan notice, with the room being made or why none can be.
 */
import { addFreeHugepages, memoryHeld, type ordinaryMemoryBytes } from './memory-fit.js';
import type { ProjectedHost } from './api.js';
import { candidateRefusal, howItMoves } from './candidates.js';
import { coreRefusal } from './core-filters.js';
import type { SelectedCandidate } from './framework.js';
import { buildMove } from './move-builder.js';
import type { Move } from './plan-types.js';
import type { Planning } from './planning.js';
import { coreInput, findTarget } from './targets.js';
import { overrideNotes } from './vm-overrides.js';

/** A VM leaving a host in maintenance that found no target this tick, and why (findTarget's skip). */
export interface StuckMustMove {
  candidate: SelectedCandidate;
  why: string;
}

/** Make-room moves considered per stuck VM: the smallest VMs first, on hosts the stuck one could use. */
const TRIES_PER_STUCK_VM = 24;

/**
 * `host` as planned so far without `vm` on it (a what-if: the projection is not touched): what the
 * VM holds there freed as memory-fit.ts counts it (ordinary memory, or its hugepages: none when shut off).
 */
/** Bytes a VM holds on its host, ordinary memory or hugepages (what moving it carries): a hugepage VM is not "small" for holding no ordinary memory. */
function heldBytes(vm: Parameters<typeof memoryHeld>[0]): number {
  const held = memoryHeld(vm);
  return held.ordinaryBytes + (held.hugepages ? held.hugepages.pages * held.hugepages.pageSizeKiB * 1024 : 0);
}

function without(p: ProjectedHost, vm: Parameters<typeof ordinaryMemoryBytes>[0]): ProjectedHost {
  const held = memoryHeld(vm);
  const vmUuids = new Set(p.vmUuids);
  vmUuids.delete(vm.uuid);
  const freeHugepages = p.freeHugepages && new Map(p.freeHugepages);
  addFreeHugepages(freeHugepages, held.hugepages, 1);
  return {
    ...p,
    memoryUsedBytes: p.memoryUsedBytes - held.ordinaryBytes,
    placedMemoryBytes: p.placedMemoryBytes - held.ordinaryBytes,
    vcpus: p.vcpus - vm.vcpus,
    vmUuids,
    freeHugepages,
  };
}

/**
 * For each stuck must-move (in order, while `moves` has room under maxMoves): the first VM, smallest
 * first, on a host the stuck VM could use once that VM has left (every core filter passes in the
 * what-if), that can itself move somewhere its policies' rules accept (soft thresholds aside, as
 * for the evacuee). Its move is planned (a
 * must-move: it serves the evacuation, so `partial` automation runs it) and applied to the
 * projection. Notices say each stuck VM's outcome where room is what it lacks (a VM a policy's
 * rule holds, or that no host can run at all, has its skip reason only). Returns the make-room moves.
 */
export async function makeRoom(planning: Planning, stuck: readonly StuckMustMove[], moves: Move[], maxMoves: number): Promise<Move[]> {
  const made: Move[] = [];
  const { index, projection, framework } = planning;
  const moving = new Set(moves.map((m) => m.vmUuid));
  for (const { candidate, why } of stuck) {
    const vm = candidate.vm;
    const source = index.hostsByName.get(vm.host);
    if (!source) continue;
    if (moves.length >= maxMoves) {
      framework.notice(
        'engine',
        `${vm.name} must leave ${source.name} (${candidate.reason}) and fits on no host now (${why}); max moves per tick reached before room could be made`,
      );
      continue;
    }
    const history = planning.history.of(vm);
    // Only room can be made: hosts whose one refusal among the core filters is capacity. A host
    // the core filters pass means a policy's rule holds the VM (its skip says which), and
    // hosts refused otherwise (CPU model, pinning, versions) no move makes usable.
    const refusals = planning.state.hosts
      .filter((h) => h.name !== source.name && h.up && !h.maintenance && !h.power)
      .map((host) => ({ host, refused: coreRefusal(coreInput(planning, vm, host, true, history)) }));
    if (refusals.some((r) => r.refused === undefined)) continue;
    const full = refusals.filter((r) => r.refused?.filter === 'capacity').map((r) => r.host);
    if (full.length === 0) continue;
    // Which VM's leaving lets the stuck one onto which host: smallest first (least to move).
    const options: { host: string; other: (typeof planning.state.vms)[number] }[] = [];
    for (const host of full) {
      const projected = projection.host(host.name);
      if (!projected) continue;
      for (const uuid of projected.vmUuids) {
        const other = index.vmsByUuid.get(uuid);
        if (!other || other.uuid === vm.uuid || moving.has(other.uuid)) continue;
        if (coreRefusal(coreInput(planning, vm, host, true, history, without(projected, other)))) continue;
        options.push({ host: host.name, other });
      }
    }
    options.sort((a, b) => heldBytes(a.other) - heldBytes(b.other) || a.other.name.localeCompare(b.other.name));
    let planned: Move | undefined;
    for (const { host, other } of options.slice(0, TRIES_PER_STUCK_VM)) {
      const from = index.hostsByName.get(host)!;
      const reason = `makes room on ${host} for ${vm.name}, which must leave ${source.name} (${candidate.reason}) and fits on no host now`;
      const otherCandidate: SelectedCandidate = { vm: other, reason, policy: 'engine' };
      if (candidateRefusal(otherCandidate, planning, moves.length, maxMoves)) continue;
      // As the evacuee's own move, a must-move: the rules (affinity, labels) apply, the thresholds
      // of soft filters do not (a drain may push a target past balance's limit; so may this).
      const found = await findTarget(planning, other, from, true, { gain: -Infinity, margin: 0 });
      if ('skip' in found) continue;
      const to = found.target.host;
      const built = await buildMove(planning, {
        vm: other,
        source: from,
        target: to,
        ...howItMoves(other, true),
        mustMove: true,
        gain: found.target.gain,
        margin: 0,
        reason: `engine: ${reason}; to ${to.name}`,
      });
      if ('skip' in built) continue;
      built.move.makesRoomFor = vm.uuid;
      // Its own automation still decides whether it runs or waits for approval (engine.ts does the same).
      built.move.reason += overrideNotes(other, built.move, planning.config.automation);
      projection.apply(other, from, to);
      moves.push(built.move);
      made.push(built.move);
      moving.add(other.uuid);
      planned = built.move;
      break;
    }
    framework.notice(
      'engine',
      planned
        ? `${vm.name} must leave ${source.name} (${candidate.reason}) and fits on no host now: making room on ${planned.from} by moving ${planned.vmName} to ${planned.to}; ${vm.name} follows once it has left`
        : `${vm.name} must leave ${source.name} (${candidate.reason}) and fits on no host (${why}), and no single move of another VM makes room for it: free room on ${full.map((h) => h.name).join(', ')} (or add a host) by hand`,
    );
  }
  return made;
}
