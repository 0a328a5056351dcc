/** The load generator: autocannon driven in-process, with our own microsecond latency samples. */
import { readFileSync } from "node:fs";
import autocannon, { type AutocannonRequest, type RequestStep } from "autocannon";
import { percentile, Samples } from "./stats.ts";

/** One request to send. */
export interface RequestSpec {
  method: "GET" | "POST";
  path: string;
  body?: string;
}

/**
 * One step of the request cycle every connection repeats. A fixed request is built once per
 * connection (cheap for the client); a function builds one per call. `context` is scratch
 * space shared by the steps of one cycle.
 */
export interface Step {
  request: RequestSpec | ((context: Record<string, unknown>) => RequestSpec);
  onResponse?(status: number, body: string, context: Record<string, unknown>): void;
}

/** What to run against which server. */
export interface LoadOptions {
  url: string;
  connections: number;
  /** Seconds to run; ignored when `amount` is set. */
  duration?: number;
  /** Requests to send in all (split over the connections), then stop. */
  amount?: number;
  /** The cycle each connection repeats. */
  steps: Step[];
  /** The server's pid: its CPU time over the run is reported. */
  serverPid?: number;
  /** Keep each response's completion time, for time series (compaction). */
  timeline?: boolean;
  /** Stops the run early once it resolves. */
  until?: Promise<unknown>;
}

/** What one run measured. Latencies are milliseconds, over every response. */
export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  /** Server CPU over the run, in cores (1 = one core busy all the time). */
  serverCores: number;
  /** This process's CPU over the run, in cores: near 1 means the load generator was the limit. */
  clientCores: number;
  /** CPU used by everything else on the machine over the run, in cores (noise from other work). */
  otherCores: number;
  /** performance.now() at each response and its latency, when `timeline` was asked for. */
  timeline?: { at: Float64Array; latency: Float64Array };
}

/** Runs one load and resolves with its figures. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const latencies = new Samples();
  const times = new Samples();
  const requests: RequestStep[] = options.steps.map(({ request: make, onResponse }) =>
    typeof make === "function"
      ? {
        setupRequest(request: AutocannonRequest, context: Record<string, unknown>) {
          const spec = make(context);
          return { ...request, method: spec.method, path: spec.path, body: spec.body ?? "" };
        },
        onResponse,
      }
      : { method: make.method, path: make.path, body: make.body ?? "", onResponse }
  );
  const cpuBefore = options.serverPid ? processCpuSeconds(options.serverPid) : 0;
  const clientBefore = process.cpuUsage();
  const machineBefore = machineBusySeconds();
  const began = performance.now();
  let lastResponse = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon({
      url: options.url,
      connections: options.connections,
      duration: options.duration ?? 3600,
      amount: options.amount,
      timeout: 30,
      headers: { "content-type": "application/json" },
      requests,
    }, (error, result) => {
      if (error) return reject(error);
      // Up to the last response: autocannon notices a reached `amount` only at its next 1 s tick.
      const seconds = ((lastResponse || performance.now()) - began) / 1000;
      const sorted = latencies.sorted();
      const client = process.cpuUsage(clientBefore);
      const clientCores = (client.user + client.system) / 1e6 / seconds;
      const serverCores = options.serverPid ? (processCpuSeconds(options.serverPid) - cpuBefore) / seconds : NaN;
      const machineCores = (machineBusySeconds() - machineBefore) / seconds;
      resolve({
        requests: latencies.length,
        seconds,
        rps: latencies.length / seconds,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        max: sorted[sorted.length - 1] ?? NaN,
        non2xx: result.non2xx,
        errors: result.errors,
        serverCores,
        clientCores,
        otherCores: Math.max(0, machineCores - clientCores - (serverCores || 0)),
        timeline: options.timeline ? { at: times.values(), latency: latencies.values() } : undefined,
      });
    });
    instance.on("response", (_client: unknown, _status: number, _bytes: number, milliseconds: number) => {
      lastResponse = performance.now();
      latencies.push(milliseconds);
      if (options.timeline) times.push(lastResponse);
    });
    options.until?.then(() => instance.stop());
  });
}

/** User + system CPU seconds of a process, all threads (or, given `tid`, one thread: the main one's is `pid`), from /proc. */
export function processCpuSeconds(pid: number, tid?: number): number {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100 on Linux)
  } catch {
    return NaN;
  }
}

/** Busy CPU seconds of the whole machine (all CPUs, everything but idle and iowait), from /proc/stat. */
export function machineBusySeconds(): number {
  const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  return (total - fields[3] - fields[4]) / 100;
}

/** A fixed list of request bodies handed out in turn (wrapping around when `wrap`). */
export class BodyPool {
  #next = 0;

  constructor(readonly bodies: string[], readonly wrap = true) {}

  /** The next body; past the end it wraps, or repeats the last one. */
  next(): string {
    const at = this.#next++;
    return this.bodies[this.wrap ? at % this.bodies.length : Math.min(at, this.bodies.length - 1)];
  }
}

/** A one-step cycle that POSTs the pool's bodies to `path`, each body once (proofs are single-use). */
export function postEach(path: string, pool: BodyPool): Step[] {
  return [{ request: () => ({ method: "POST", path, body: pool.next() }) }];
}

/** Each of `bodies` POSTed once to `path` of `server` from `connections` connections, the server's CPU measured. */
export function postEachOnce(server: { url: string; pid: number }, path: string, bodies: string[], connections: number): Promise<LoadResult> {
  return runLoad({ url: server.url, connections, amount: bodies.length, steps: postEach(path, new BodyPool(bodies, false)), serverPid: server.pid });
}

/** A cycle of fixed POSTs of `bodies` to `path`: reusable bodies, built once, the cheapest load to generate. */
export function postCycle(path: string, bodies: string[]): Step[] {
  return bodies.map((body) => ({ request: { method: "POST", path, body } }));
}
