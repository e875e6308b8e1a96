/**
 * Leader election, fencing and the shared decision history on etcd v3, through the npm `etcd3`
 * client (gRPC; leases with keepalive, transactions, multi-endpoint failover), pinned at 1.1.2.
 * We chose it over etcd's JSON gateway because the gateway would mean writing our own lease
 * keepalive, endpoint failover and TLS plumbing; the client's quiet maintenance is covered by
 * pinning it and by the lab test that proves failover against a real etcd (test/lab/ha.test.ts).
 *
 * Keys under `<electionName>/`:
 * - `leader`: the leader's member name, attached to its lease. Created only when absent, so its
 *   create revision identifies one term of one leader: that revision is the fencing token.
 * - `inflight/<vmUuid>`: a migration the leader committed to start (a journal 'started' entry),
 *   deleted with its outcome. A new leader adopts these (executor/adopt.ts) before planning.
 * - `history`: the last `historyEntries` outcomes (journal 'outcome' entries), one JSON value the
 *   leader rewrites; old revisions go with etcd's auto-compaction (docs/ha.md).
 * Every write the leader makes is a transaction guarded by `leader`'s create revision == token:
 * a leader that was paused or cut off past its lease finds the key gone or re-created by another
 * member, and the write (so the migration start) is refused.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Etcd3, type Lease } from 'etcd3';
import type { HaConfig } from '../config/ha-schema.js';
import type { UnfinishedStart } from '../history/journal.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/catalog.js';
import type { LeaderGate, OutcomeEntry, SharedDecisionStore } from './types.js';

/**
 * Read a TLS file named in ha.tls.
 * @throws Error naming the config field and the file when it cannot be read.
 */
function readTlsFile(field: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(
      `ha.tls.${field}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); point it at a readable PEM file`,
    );
  }
}

/** The etcd3 client for ha: config, every call bounded by callTimeoutSeconds (streams excepted). */
export function etcdClient(config: HaConfig): Etcd3 {
  const credentials = config.tls
    ? {
        rootCertificate: readTlsFile('caFile', config.tls.caFile),
        ...(config.tls.certFile ? { certChain: readTlsFile('certFile', config.tls.certFile) } : {}),
        ...(config.tls.keyFile ? { privateKey: readTlsFile('keyFile', config.tls.keyFile) } : {}),
      }
    : undefined;
  return new Etcd3({
    hosts: config.endpoints,
    credentials,
    dialTimeout: config.callTimeoutSeconds * 1000,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + config.callTimeoutSeconds * 1000 }),
  });
}

export type Role = 'leader' | 'standby';

/** Active/standby on etcd: campaigns, keeps and checks leadership, fences every leader write. */
export class EtcdHa implements LeaderGate, SharedDecisionStore {
  readonly member: string;
  private readonly client: Etcd3;
  private readonly keys: { leader: string; history: string; inflight: string; power: string };
  private lease?: Lease;
  private leaseId?: string;
  /** Create revision of our `leader` key: the fencing token of our current term. */
  private token?: string;
  /** When leadership was last confirmed by etcd (taken at the request's start, to err early). */
  private confirmedAtMs = 0;
  private wasLeader = false;
  private outcomes?: OutcomeEntry[];
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private lastError?: string;
  /** Who leads, as last read from etcd (for /healthz and logs). */
  currentLeader?: string;

  constructor(
    private readonly config: HaConfig,
    private readonly deps: { logger: Logger; metrics?: Metrics; client?: Etcd3 },
  ) {
    this.member = config.memberName ?? `${hostname()}:${process.pid}`;
    this.client = deps.client ?? etcdClient(config);
    const p = config.electionName;
    this.keys = { leader: `${p}/leader`, history: `${p}/history`, inflight: `${p}/inflight/`, power: `${p}/power/` };
    deps.metrics?.leader.set(0);
  }

  /** Start campaigning (and, once leader, re-checking) every retryIntervalSeconds. */
  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      await this.step();
      if (!this.stopped) this.timer = setTimeout(() => void loop(), this.config.retryIntervalSeconds * 1000);
    };
    void loop();
  }

  /** Leadership as last confirmed, and not older than one lease TTL (after that etcd may have expired it). */
  isLeader(): boolean {
    return this.token !== undefined && Date.now() - this.confirmedAtMs < this.config.leaseTtlSeconds * 1000;
  }

  role(): Role {
    return this.isLeader() ? 'leader' : 'standby';
  }

  term(): string | undefined {
    return this.isLeader() ? this.token : undefined;
  }

  /** Why this controller is not leading (for logs and /healthz), when it is not. */
  standbyReason(): string | undefined {
    if (this.isLeader()) return undefined;
    if (this.lastError) return `etcd not answering: ${this.lastError}`;
    return this.currentLeader ? `${this.currentLeader} leads` : 'campaigning';
  }

  /** One round: get a lease, then campaign or confirm. Never throws. */
  async step(): Promise<void> {
    const askedAtMs = Date.now();
    try {
      if (!this.lease) await this.newLease();
      if (this.token !== undefined) {
        const kv = (await this.client.get(this.keys.leader).exec()).kvs[0];
        if (!kv || kv.create_revision !== this.token) {
          this.loseTerm(
            kv
              ? `the election key is now ${kv.value.toString()}'s (revision ${kv.create_revision}, ours was ${this.token})`
              : 'the election key expired (lease not renewed in time)',
          );
        } else {
          this.confirmedAtMs = askedAtMs;
          this.currentLeader = this.member;
        }
      } else {
        const result = await this.client
          .if(this.keys.leader, 'Create', '==', 0)
          .then(this.client.put(this.keys.leader).value(this.member).lease(this.leaseId!))
          .else(this.client.get(this.keys.leader))
          .commit();
        if (result.succeeded) {
          this.token = result.header.revision;
          this.confirmedAtMs = askedAtMs;
          this.currentLeader = this.member;
          this.deps.logger.info({ member: this.member, fencingToken: this.token, key: this.keys.leader }, 'became leader');
        } else {
          this.currentLeader = result.responses[0]?.response_range?.kvs?.[0]?.value?.toString();
        }
      }
      if (this.lastError) this.deps.logger.info({ member: this.member }, 'etcd answers again');
      this.lastError = undefined;
    } catch (error) {
      const message = (error as Error).message;
      if (this.lastError === undefined)
        this.deps.logger.warn(
          { member: this.member, err: message, leader: this.isLeader() },
          'etcd not answering (no member reachable or no quorum); no migration starts until it answers',
        );
      this.lastError = message;
    }
    this.publishRole();
  }

  private async newLease(): Promise<void> {
    const lease = this.client.lease(this.config.leaseTtlSeconds);
    lease.on('lost', (err) => {
      if (this.lease !== lease) return;
      this.lease = undefined;
      this.leaseId = undefined;
      if (this.token !== undefined) this.loseTerm(`lease lost: ${err.message}`);
    });
    // A failed grant also emits 'lost'; the next step tries a new lease.
    lease.on('lost', () => undefined);
    this.lease = lease;
    this.leaseId = await lease.grant();
  }

  private loseTerm(why: string): void {
    if (this.token === undefined) return;
    this.deps.logger.warn({ member: this.member, fencingToken: this.token, why }, 'lost leadership');
    this.token = undefined;
    this.outcomes = undefined;
    this.publishRole();
  }

  /** Gauge and change counter from the current role; logs a step-down caused by silence from etcd. */
  private publishRole(): void {
    const leading = this.isLeader();
    if (leading !== this.wasLeader) {
      this.deps.metrics?.leadershipChangesTotal.inc({ to: leading ? 'leader' : 'standby' });
      if (!leading && this.token !== undefined) {
        this.deps.logger.warn(
          { member: this.member, leaseTtlSeconds: this.config.leaseTtlSeconds, err: this.lastError },
          'stepping down: leadership not confirmed by etcd within one lease TTL',
        );
      }
      this.wasLeader = leading;
    }
    this.deps.metrics?.leader.set(leading ? 1 : 0);
  }

  private refuse(what: string, vm: string, reason: string): string {
    this.deps.metrics?.fencingRefusalsTotal.inc();
    this.deps.logger.warn({ member: this.member, vm, what, reason }, 'fencing refused');
    return reason;
  }

  /** A guarded transaction: `ops` run only if our leader key still has our token. */
  private async fenced(what: string, vm: string, ops: Parameters<ReturnType<Etcd3['if']>['then']>): Promise<string | undefined> {
    const token = this.token;
    if (token === undefined) return this.refuse(what, vm, `${this.member} is not the leader (${this.standbyReason() ?? 'no term'})`);
    try {
      const result = await this.client
        .if(this.keys.leader, 'Create', '==', token)
        .then(...ops)
        .commit();
      if (!result.succeeded) {
        this.loseTerm(`fencing check failed for ${what}`);
        return this.refuse(
          what,
          vm,
          `fencing token ${token} is stale: ${this.keys.leader} was not created at that revision any more (the lease expired and another controller may lead)`,
        );
      }
      return undefined;
    } catch (error) {
      return this.refuse(what, vm, `etcd did not confirm leadership (${(error as Error).message}): no member reachable or no quorum`);
    }
  }

  async commitStart(start: UnfinishedStart): Promise<string | undefined> {
    return this.fenced('migration start', start.vm, [this.client.put(this.keys.inflight + start.vmUuid).value(JSON.stringify(start))]);
  }

  async commitPowerAction(action: { host: string; action: 'power-off' | 'power-on'; reason: string }): Promise<string | undefined> {
    const record = { ...action, member: this.member, fencingToken: this.token, atMs: Date.now() };
    return this.fenced(`power ${action.action}`, action.host, [this.client.put(this.keys.power + action.host).value(JSON.stringify(record))]);
  }

  async load(): Promise<{ outcomes: OutcomeEntry[]; unfinished: Map<string, UnfinishedStart> }> {
    const raw = await this.client.get(this.keys.history).string();
    let outcomes: OutcomeEntry[] = [];
    if (raw) {
      try {
        const parsed = JSON.parse(raw) as unknown;
        if (Array.isArray(parsed))
          outcomes = parsed.filter(
            (e): e is OutcomeEntry =>
              typeof e === 'object' && e !== null && (e as OutcomeEntry).type === 'outcome' && typeof (e as OutcomeEntry).vmUuid === 'string',
          );
      } catch (error) {
        this.deps.logger.warn(
          { key: this.keys.history, err: (error as Error).message },
          'shared history in etcd is not JSON; starting from the local journal only',
        );
      }
    }
    const unfinished = new Map<string, UnfinishedStart>();
    const inflight = await this.client.getAll().prefix(this.keys.inflight).strings();
    for (const [key, value] of Object.entries(inflight)) {
      try {
        const start = JSON.parse(value) as UnfinishedStart;
        if (typeof start.vmUuid === 'string' && typeof start.from === 'string' && typeof start.to === 'string') unfinished.set(start.vmUuid, start);
      } catch {
        this.deps.logger.warn({ key }, 'unreadable in-flight entry in etcd; ignored');
      }
    }
    this.outcomes = outcomes;
    return { outcomes, unfinished };
  }

  async recordOutcome(outcome: OutcomeEntry): Promise<void> {
    if (this.outcomes === undefined) {
      try {
        await this.load();
      } catch (error) {
        this.refuse('outcome record', outcome.vm, `cannot read the shared history (${(error as Error).message})`);
        return;
      }
    }
    const next = [...(this.outcomes ?? []), outcome].slice(-this.config.historyEntries);
    const refused = await this.fenced('outcome record', outcome.vm, [
      this.client.put(this.keys.history).value(JSON.stringify(next)),
      this.client.delete().key(this.keys.inflight + outcome.vmUuid),
    ]);
    if (refused === undefined) this.outcomes = next;
    else
      this.deps.logger.warn(
        { vm: outcome.vm },
        'outcome not in the shared history; the next leader adopts the migration from its in-flight entry and records it',
      );
  }

  /** Stop campaigning; a leader gives its key up (so a standby takes over at once) and closes the client. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.token !== undefined) {
      await this.client
        .if(this.keys.leader, 'Create', '==', this.token)
        .then(this.client.delete().key(this.keys.leader))
        .commit()
        .catch(() => undefined);
      this.token = undefined;
    }
    await this.lease?.revoke().catch(() => undefined);
    this.publishRole();
    this.client.close();
  }
}
