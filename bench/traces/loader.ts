/**
 * Loads the PlanetLab CPU traces (CloudSim's "planetlab" workload): one folder per day, one file
 * per VM, 288 integer samples (0-100, % of the VM's CPU) at 5-minute intervals. 289 of the file
 * names contain a space, so names are only ever passed around as whole path strings.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

export const PLANETLAB_SAMPLE_SECONDS = 300;
export const PLANETLAB_SAMPLES_PER_DAY = 288;

export interface VmTrace {
  /** File name (node host name with dots as underscores, '_', slice name); may contain spaces. */
  name: string;
  /** CPU utilisation per 5-minute interval as a ratio of the VM's own CPU (0..1). */
  utilization: Float64Array;
}

export interface TraceDay {
  /** Folder name, YYYYMMDD. */
  day: string;
  vms: VmTrace[];
}

/** Parses one trace file's text; errors name the file and line and say what a line must hold. */
export function parseTraceText(text: string, fileLabel: string, expectedSamples = PLANETLAB_SAMPLES_PER_DAY): Float64Array {
  const lines = text.split(/\r?\n/);
  // A trailing newline leaves one empty last element; anything else empty is an error below.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length !== expectedSamples) {
    throw new Error(
      `trace file "${fileLabel}": expected ${expectedSamples} lines (one 5-minute sample each), found ${lines.length}; ` +
        'use an unmodified PlanetLab day folder',
    );
  }
  const out = new Float64Array(expectedSamples);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (!/^\d+$/.test(raw)) {
      throw new Error(`trace file "${fileLabel}" line ${i + 1}: "${lines[i]}" is not an integer 0-100 (CPU %)`);
    }
    const percent = Number(raw);
    if (percent > 100) {
      throw new Error(`trace file "${fileLabel}" line ${i + 1}: ${percent} is above 100 (CPU %)`);
    }
    out[i] = percent / 100;
  }
  return out;
}

/** Day folders (YYYYMMDD) under the traces root, sorted. */
export async function listTraceDays(rootDir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(rootDir, { withFileTypes: true });
  } catch (error) {
    throw new Error(`trace root "${rootDir}" cannot be read (${(error as Error).message}); point --traces-dir at the planetlab folder`);
  }
  return entries
    .filter((e) => e.isDirectory() && /^\d{8}$/.test(e.name))
    .map((e) => e.name)
    .sort();
}

/**
 * Loads one day. Files are taken in code-point order of their names so a VM's index (and so its
 * VM type, index mod 4) is the same on every machine.
 */
export async function loadTraceDay(rootDir: string, day: string, options: { maxVms?: number; expectedSamples?: number } = {}): Promise<TraceDay> {
  const { maxVms, expectedSamples = PLANETLAB_SAMPLES_PER_DAY } = options;
  const dayDir = join(rootDir, day);
  let info;
  try {
    info = await stat(dayDir);
  } catch {
    throw new Error(`trace day "${day}" not found at "${dayDir}"; days available: ${(await listTraceDays(rootDir)).join(', ') || 'none'}`);
  }
  if (!info.isDirectory()) throw new Error(`trace day "${dayDir}" is not a folder`);
  const names = (await readdir(dayDir, { withFileTypes: true }))
    .filter((e) => e.isFile() && !e.name.startsWith('.') && e.name !== 'README.md')
    .map((e) => e.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const chosen = maxVms === undefined ? names : names.slice(0, maxVms);
  const vms = await Promise.all(
    chosen.map(async (name) => ({ name, utilization: parseTraceText(await readFile(join(dayDir, name), 'utf8'), join(day, name), expectedSamples) })),
  );
  if (vms.length === 0) throw new Error(`trace day "${dayDir}" holds no trace files`);
  return { day, vms };
}
