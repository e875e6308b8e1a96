/**
 * The one object a one-shot command (plan, drain, migrate, approve, place, status, history,
 * recommendations) opens and closes: the config, the state directory's trust check, the journal,
 * the decision history, the policies, the host connections and collector, and an executor whose
 * moves notify webhooks as the daemon's do. Each part is opened when the command first asks for
 * it, and `close()` closes exactly the parts that were opened, the last opened first.
 */
import { type Collector, collectOnce } from '../cluster/collector.js';
import type { HostConnections } from '../cluster/connections.js';
import type { ClusterState } from '../cluster/model.js';
import { loadConfig, type Config } from '../config/index.js';
import type { PolicyConfig } from '../config/policy-schema.js';
import { Executor } from '../executor/executor.js';
import { RecommendationStore } from '../executor/recommendations.js';
import { checkStateDir, StateDirError } from '../ha/state-dir.js';
import { lockStateDir, StateDirLockedError } from '../ha/state-lock.js';
import { DecisionHistory, Journal, type JournalEntry } from '../history/index.js';
import type { Logger } from '../log/logger.js';
import { WebhookNotifier } from '../notifications/webhooks.js';
import { closePolicies, loadPolicies, type LoadedPolicy } from '../policy/index.js';
import { requestDaemon } from './control-client.js';
import type { ControlEvent, ControlRequest } from './control-protocol.js';
import { RequestRefused } from './errors.js';
import { executorNotifications } from './notify-events.js';
import type { WorkflowContext } from './workflows/context.js';

export class Session {
  /** What close() undoes, in the order opened. */
  private readonly closers: (() => Promise<unknown>)[] = [];
  private openedJournal?: Journal;
  private entries?: JournalEntry[];
  private openedHistory?: DecisionHistory;
  private loadedPolicies?: LoadedPolicy[];
  private collected?: { collector: Collector; connections: HostConnections };
  private openedExecutor?: Executor;
  private openedNotifier?: WebhookNotifier;

  private constructor(
    readonly config: Config,
    readonly logger: Logger,
  ) {}

  /** Read and validate the config file. @throws ConfigError naming the file and field. */
  static async open(configFile: string, logger: Logger): Promise<Session> {
    return new Session(await loadConfig(configFile), logger);
  }

  /**
   * Check the state directory (owner, mode, no symlink: ha/state-dir.ts) before anything is read
   * from or written to it, creating it when `create` (a command that writes the journal).
   * @throws RequestRefused 'state-dir' with the reason and the fix.
   */
  async checkStateDir(options: { create: boolean }): Promise<void> {
    try {
      await checkStateDir(this.config.stateDir, options);
    } catch (error) {
      if (error instanceof StateDirError) throw new RequestRefused('state-dir', error.message);
      throw error;
    }
  }

  /**
   * One executor per cluster: hand `request` to the daemon serving this state directory (its
   * control socket) and relay its events. Resolves with the daemon's result, or `undefined` when
   * no daemon listens; then take the lock (lock()) and run the request here.
   * @throws RequestRefused (the daemon refused: its code), ControlError (the exchange failed).
   */
  async handToDaemon(request: ControlRequest, onEvent: (event: ControlEvent) => void): Promise<{ result: unknown } | undefined> {
    const result = await requestDaemon(this.config.stateDir, request, onEvent);
    return result === undefined ? undefined : { result };
  }

  /**
   * Hold the state directory's lock (the one `run` holds) until close(): no daemon starts while
   * this command moves VMs itself. `command` names this holder to others (e.g. `drain lab1`).
   * @throws RequestRefused 'daemon-not-answering' when a daemon holds it without answering on its
   * control socket (starting, or stopping), 'job-running' when another one-shot command holds it.
   */
  async lock(command: string): Promise<void> {
    try {
      const lock = await lockStateDir(this.config.stateDir, command);
      this.closers.push(() => lock.release());
    } catch (error) {
      if (error instanceof StateDirLockedError) {
        const holder = error.holder.command;
        if (holder !== undefined && holder !== 'run' && !holder.startsWith('run ')) throw new RequestRefused('job-running', error.message);
        throw new RequestRefused(
          'daemon-not-answering',
          `another process holds the state directory ${this.config.stateDir} and did not answer on its control socket: a daemon starting or stopping (try again in a moment), \`run --once\` (wait for it to end), or a \`run\` of an older version with no control socket (restart it). ${error.message}`,
        );
      }
      if (error instanceof StateDirError) throw new RequestRefused('state-dir', error.message);
      throw error;
    }
  }

  /** The journal (opened once; closed by close()). Check the state directory first. */
  journal(): Journal {
    if (!this.openedJournal) {
      const journal = new Journal(this.config.stateDir, { logger: this.logger });
      this.openedJournal = journal;
      this.closers.push(() => journal.close());
    }
    return this.openedJournal;
  }

  /**
   * The journal entries planning needs (read once). `optional`: a missing or unreadable state
   * directory reads as no entries (status shows the hosts all the same).
   */
  async planningEntries(options: { optional?: boolean } = {}): Promise<JournalEntry[]> {
    if (!this.entries) {
      const read = this.journal().readForPlanning();
      this.entries = options.optional ? await read.catch(() => []) : await read;
    }
    return this.entries;
  }

  /** Cooldowns, recent moves and failures, links and calibration from the journal (read once). */
  async history(): Promise<DecisionHistory> {
    this.openedHistory ??= new DecisionHistory(await this.planningEntries());
    return this.openedHistory;
  }

  /** The enabled policies (of `policy`, default the config's), loaded once; closed by close(). */
  async policies(policy: PolicyConfig = this.config.policy): Promise<LoadedPolicy[]> {
    if (!this.loadedPolicies) {
      const loaded = await loadPolicies(policy);
      this.loadedPolicies = loaded;
      this.closers.push(() => closePolicies(loaded));
    }
    return this.loadedPolicies;
  }

  /**
   * Connect to every host and collect twice, `sampleIntervalMs` apart (rates need two readings).
   * `withHistory`: the state carries the journal's cooldowns, recent moves and failures, as the
   * daemon's does. `expectedDown`: hosts down on purpose (power), unreachable without a warning.
   */
  async collect(options: { sampleIntervalMs: number; withHistory?: boolean; expectedDown?: ReadonlySet<string> }): Promise<ClusterState> {
    if (this.collected) throw new Error('Session.collect: the hosts are already connected; collect again with collector()');
    const history = options.withHistory ? (await this.history()).forState() : undefined;
    const { state, collector, connections, close } = await collectOnce(this.config, {
      logger: this.logger,
      sampleIntervalMs: options.sampleIntervalMs,
      expectedDown: options.expectedDown,
    });
    this.collected = { collector, connections };
    this.closers.push(close);
    // The collector observes libvirt only; the history is laid on here (as DecisionHistory.view does for planning).
    return history ? { ...state, ...history } : state;
  }

  /** The collector of collect(). */
  collector(): Collector {
    if (!this.collected) throw new Error('Session.collector: collect() first');
    return this.collected.collector;
  }

  /** The webhooks' sender (opened once): what the executor's moves and a workflow's own events go through. */
  notifier(): WebhookNotifier {
    if (!this.openedNotifier) {
      const notifier = new WebhookNotifier(this.config.notifications.webhooks, { logger: this.logger });
      // Closed last (first in the list): deliveries of the last outcomes finish after the connections close.
      this.closers.unshift(() => notifier.idle());
      this.openedNotifier = notifier;
    }
    return this.openedNotifier;
  }

  /** Hosts down on purpose now (an operator's hook restarts them): their lost connection is logged at debug, not as a warning. */
  setExpectedDown(hosts: ReadonlySet<string>): void {
    this.collected?.connections.setExpectedDown(hosts);
  }

  /** A host expected to answer again soon (restarted by an operator's hook): reconnect from the shortest backoff. */
  retrySoon(host: string): void {
    this.collected?.connections.retrySoon(host);
  }

  /** An executor on collect()'s connections, journaling, its starts and outcomes sent to the webhooks. */
  executor(): Executor {
    if (!this.collected) throw new Error('Session.executor: collect() first');
    this.openedExecutor ??= new Executor(this.config, {
      connections: this.collected.connections,
      logger: this.logger,
      journal: this.journal(),
      ...executorNotifications(this.notifier()),
    });
    return this.openedExecutor;
  }

  /** The waiting recommendations' store in the state directory. */
  recommendations(): RecommendationStore {
    return new RecommendationStore(this.config.stateDir);
  }

  /** What a workflow (workflows/*.ts) runs on: this session's parts, opened now if not yet. */
  async workflowContext(): Promise<WorkflowContext> {
    const history = await this.history();
    const collector = this.collector();
    return {
      config: this.config,
      logger: this.logger,
      policies: await this.policies(),
      history,
      journal: this.journal(),
      collector,
      executor: this.executor(),
      observe: async () => ({ ...(await collector.collect({ recentFailures: history.forState().recentFailures })), ...history.forState() }),
    };
  }

  /** Close what was opened, the last opened first; every part is closed even when one fails. */
  async close(): Promise<void> {
    let failure: unknown;
    for (const close of this.closers.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }
}
