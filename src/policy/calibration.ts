/**
 * Calibrating the cost model from what migrations really took. The chooser's model (chooser.ts)
 * has parameters no one can know for a given cluster: the link's real efficiency, the set-up and
 * switch-over time, XBZRLE's hit ratio, auto-converge's throttle effect, post-copy's fault rate.
 * Each completed move records its prediction beside libvirt's real figures (the journal's
 * `outcome` entries); the ratio real / predicted, per host pair and technique, absorbs all of
 * them at once. A prediction is then scaled by the median ratio of the last few moves of the same
 * pair and technique (or of the technique on any pair while the pair has none). Published
 * migration models reach about 10 % error once fitted to their cluster; unfitted, ours was off by
 * 20-60 % in the lab.
 */
import type { Technique } from './plan-types.js';

export interface CalibrationSample {
  from: string;
  to: string;
  technique: Technique | string;
  predictedSeconds: number;
  actualSeconds: number;
  predictedDowntimeMs?: number;
  actualDowntimeMs?: number;
}

/** Multipliers for one prediction; 1 means "as modelled". */
export interface CalibrationFactors {
  timeFactor: number;
  downtimeFactor: number;
  /** How many moves the factors come from, and whether of this very pair. */
  samples: number;
  scope: 'pair' | 'technique' | 'none';
}

/** Ratios outside this band are taken as a broken sample (a paused guest, a clock jump), not a lesson; 4.6x was seen for real on a busy lab. */
const MIN_RATIO = 0.1;
const MAX_RATIO = 10;
/** Moves shorter than this are mostly fixed cost and say little about the model. */
const MIN_PREDICTED_SECONDS = 0.5;
const KEPT_PER_KEY = 5;
const KEPT_PER_TECHNIQUE = 10;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function clampRatio(r: number): number | undefined {
  return Number.isFinite(r) && r >= MIN_RATIO && r <= MAX_RATIO ? r : undefined;
}

/** Per (pair, technique) ratios of real to predicted time and downtime, newest kept. */
export class PredictionCalibration {
  private readonly time = new Map<string, number[]>();
  private readonly downtime = new Map<string, number[]>();

  constructor(samples: readonly CalibrationSample[] = []) {
    for (const s of samples) this.observe(s);
  }

  /** Record one completed move; ignored when too short or absurd. */
  observe(s: CalibrationSample): void {
    if (!(s.predictedSeconds >= MIN_PREDICTED_SECONDS)) return;
    const t = clampRatio(s.actualSeconds / s.predictedSeconds);
    if (t === undefined) return;
    push(this.time, `${s.from}\u0000${s.to}\u0000${s.technique}`, t, KEPT_PER_KEY);
    push(this.time, `*\u0000${s.technique}`, t, KEPT_PER_TECHNIQUE);
    if (s.predictedDowntimeMs !== undefined && s.actualDowntimeMs !== undefined && s.predictedDowntimeMs > 0) {
      const d = clampRatio(s.actualDowntimeMs / s.predictedDowntimeMs);
      if (d !== undefined) {
        push(this.downtime, `${s.from}\u0000${s.to}\u0000${s.technique}`, d, KEPT_PER_KEY);
        push(this.downtime, `*\u0000${s.technique}`, d, KEPT_PER_TECHNIQUE);
      }
    }
  }

  /** Factors for a move from `from` to `to` with `technique`; 1 and scope 'none' when nothing was learned. */
  readonly factors = (from: string, to: string, technique: Technique): CalibrationFactors => {
    const pairKey = `${from}\u0000${to}\u0000${technique}`;
    const anyKey = `*\u0000${technique}`;
    const pair = this.time.get(pairKey);
    const scope: CalibrationFactors['scope'] = pair?.length ? 'pair' : this.time.get(anyKey)?.length ? 'technique' : 'none';
    if (scope === 'none') return { timeFactor: 1, downtimeFactor: 1, samples: 0, scope };
    const times = scope === 'pair' ? pair! : this.time.get(anyKey)!;
    const downtimes = (scope === 'pair' ? this.downtime.get(pairKey) : undefined) ?? this.downtime.get(anyKey);
    return { timeFactor: median(times), downtimeFactor: downtimes?.length ? median(downtimes) : 1, samples: times.length, scope };
  };
}

function push(map: Map<string, number[]>, key: string, value: number, keep: number): void {
  const kept = map.get(key) ?? [];
  kept.push(value);
  map.set(key, kept.slice(-keep));
}
