/**
 * Preflight's time limits. The promise to the user is an answer within 60 s whatever the network
 * does: a silent token endpoint, an API that never answers, or all of them answering slowly. Every
 * network wait draws on one budget started with the command, so a slow first step leaves the
 * later ones less time instead of adding to the total.
 */

export const LIMITS = {
  /** Every network wait of one run together; the rest of the 60 s is Node's start and printing. */
  totalMs: 50_000,
  /** Refreshing the credentials: Google's token endpoint answers in well under a second. */
  tokenMs: 15_000,
} as const;

/** "12.3 s": how long preflight waited, as rows and messages print it. */
export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** A wait that ran out: names what was waited for and for how long. */
export class NoAnswer extends Error {
  constructor(readonly what: string, readonly waitedMs: number) {
    super(`no answer from ${what} within ${seconds(waitedMs)}`);
    this.name = 'NoAnswer';
  }
}

export class Budget {
  private readonly startedAt = Date.now();

  constructor(readonly totalMs: number = LIMITS.totalMs) {}

  /** Milliseconds left for network waits (never negative). */
  remaining(): number {
    return Math.max(0, this.startedAt + this.totalMs - Date.now());
  }

  /**
   * Runs `work` with an AbortSignal that fires when the budget (or `capMs`) runs out, and rejects
   * with NoAnswer naming `what` at that moment even if `work` ignores the signal.
   */
  async within<T>(what: string, work: (signal: AbortSignal) => Promise<T>, capMs = Infinity): Promise<T> {
    const ms = Math.min(capMs, this.remaining());
    const started = Date.now();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const waited = Date.now() - started;
        controller.abort(new NoAnswer(what, waited));
        reject(new NoAnswer(what, waited));
      }, ms);
    });
    try {
      return await Promise.race([work(controller.signal), expired]);
    } catch (e) {
      // An abort surfaces from fetch as its own error; report it as the wait that ran out.
      if (controller.signal.aborted) throw controller.signal.reason;
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}
