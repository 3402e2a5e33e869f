/**
 * Event-to-status latency: RATE trainer events per second, spread evenly over RUNS runs, published
 * to a real nats-server's JetStream and folded by the real operator into the runs' status on the
 * local control plane (hack/cluster-up.sh, kwok nodes keep the runs' trainer pods Running).
 *
 * An event's latency, on two clocks: from its publish to the moment a watch on the runs (kubectl
 * get -w) shows a status whose events.seq covers it, and from its publish to the acked status
 * write that holds it (the operator's autoclint_event_lag_seconds). Also: status writes per event
 * (the operator's own autoclint_status_writes_total{writer="events"}), every request the API
 * server served meanwhile and which of them were the operator's,
 * the publish rate reached, the operator's memory, and the CPU seconds the operator, the control
 * plane's processes and this publisher (with its watch) spent from the first publish until the
 * wait ended: where the time goes. Writes
 * bench/results/events-latency-<rate>-per-s-<runs>-runs.{json,md}.
 *   flock /tmp/autoclint-bench.lock node --import tsx bench/events-latency.ts [rate=1000] [runs=100] [seconds=60]
 * The machine is shared with other work unless said otherwise.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { STREAM_NAME, eventMessageId, eventSubject, type NaucEvent } from "@autoclint/api";
import {
  ROOT, cleanUp, clusterProcesses, countsDelta, cpuSnapshot, cpuSpent, createKwokGpuNodes, kubectl, kwokRun, histogramBuckets, histogramDelta, histogramQuantile, machine, metricSample, operatorRequestCounts, quantile, requestStats, sleep, startBenchOperator, statsDelta, watchLines,
  type RequestStat, type WatchedLines,
} from "./local-operator";

const RATE = Number(process.argv[2] ?? 1000);
const RUNS = Number(process.argv[3] ?? 100);
const SECONDS = Number(process.argv[4] ?? 60);
const NS = `events-${Date.now().toString(36)}`;
const BUDGET_SECONDS = 3600;
/** Publishes not yet acknowledged by JetStream, at most: past it the publisher waits. */
const MAX_IN_FLIGHT = 5000;
/** How long after the last publish the status may take to show every event; what it has not shown by then is counted as such. */
const DRAIN_LIMIT_MS = 180_000;

interface RunTrack {
  name: string;
  uid: string;
  /** Wall-clock ms (Date.now()) of each published seq. */
  sentAt: number[];
  /** Highest seq a watched status showed. */
  seenSeq: number;
}

/** RUNS runs, each with its trainer pod Running (events start flowing then, as they would). */
async function createRunningRuns(): Promise<Map<string, RunTrack>> {
  kubectl(["create", "-f", "-"], Array.from({ length: RUNS }, (_, i) => JSON.stringify(kwokRun(NS, `run-${i}`, BUDGET_SECONDS))).join("\n"));
  for (let waited = 0; ; waited += 1000) {
    const phases = kubectl(["-n", NS, "get", "autoclintruns", "-o", "jsonpath={.items[*].status.phase}"]).split(" ");
    if (phases.filter((p) => p === "Running").length === RUNS) break;
    if (waited > 180_000) throw new Error(`runs not all Running after 180 s: ${phases.join(" ")}`);
    await sleep(1000);
  }
  const uids = kubectl(["-n", NS, "get", "autoclintruns", "-o", 'jsonpath={range .items[*]}{.metadata.name}{" "}{.metadata.uid}{"\\n"}{end}'])
    .trim().split("\n").map((line) => line.split(" ") as [string, string]);
  return new Map(uids.map(([name, uid]) => [name, { name, uid, sentAt: [], seenSeq: -1 }]));
}

/** The operator's durable consumer when the last event was published. */
interface Backlog {
  /** In the stream, not yet delivered to the operator. */
  undelivered: number;
  /** Delivered, not yet acked (the operator acks after the status write that holds the event). */
  unacked: number;
  maxAckPending: number;
}

interface Measured {
  published: number;
  failed: number;
  publishSeconds: number;
  backlog: Backlog;
  drainedSeconds: number;
  notInStatus: number;
  latencies: number[];
  eventWrites: number;
  /** Every request the API server served from the first publish until the wait ended, by kind (WATCH aside). */
  apiServerRequests: Record<string, RequestStat>;
  /** The requests the operator says it sent meanwhile (its autoclint_kube_requests_total), by the same kinds. */
  operatorRequests: Record<string, number>;
  peakRssMiB: number;
  afterRssMiB: number;
  /** CPU seconds by process from the first publish until the wait ended. */
  cpuSeconds: Record<string, number>;
  /** How often the measuring watch ended and was opened again. */
  watchReopened: number;
  /** What the operator's autoclint_event_lag_seconds gained: publish to the acked status write that holds the event. */
  writeLag: [number, number][];
}

/** bench/results/events-latency-<rate>-per-s-<runs>-runs.{json,md}, and the table on stdout. */
function report(m: Measured): void {
  const { published, failed, publishSeconds, backlog, drainedSeconds, notInStatus, latencies, eventWrites, apiServerRequests, peakRssMiB, cpuSeconds } = m;
  // An event the status never showed took longer than the wait: it counts, as +Infinity.
  const all = [...latencies, ...Array<number>(notInStatus).fill(Number.POSITIVE_INFINITY)].sort((a, b) => a - b);
  const ms = (q: number) => Number(quantile(all, q).toFixed(1));
  const shown = (value: number) => (Number.isFinite(value) ? String(value) : `> ${(drainedSeconds * 1000).toFixed(0)}`);
  const lagCount = m.writeLag.at(-1)?.[1] ?? 0;
  const writeLagMs = (q: number) => Math.round(1000 * histogramQuantile(m.writeLag, q));
  const withinOneSecond = (m.writeLag.find(([bound]) => bound === 1)?.[1] ?? Number.NaN) / lagCount;
  const result = {
    rate: RATE, runs: RUNS, seconds: SECONDS, published, failedPublishes: failed, publishSeconds, achievedRate: published / publishSeconds,
    drainedSeconds, measured: latencies.length, notInStatus, backlogAtLastPublish: backlog, watchReopened: m.watchReopened,
    latencyMs: { p50: ms(0.5), p90: ms(0.9), p99: ms(0.99), max: ms(1) },
    writeLag: { events: lagCount, p50Ms: writeLagMs(0.5), p90Ms: writeLagMs(0.9), p99Ms: writeLagMs(0.99), withinOneSecond, buckets: m.writeLag.map(([le, count]) => [String(le), count]) },
    statusWritesByConsumer: eventWrites, statusWritesPerEvent: eventWrites / published,
    apiServerRequests, operatorRequests: m.operatorRequests,
    operatorRssMiB: { peak: peakRssMiB, after: m.afterRssMiB },
    cpuSeconds,
    machine: machine(),
    when: new Date().toISOString(),
  };
  const file = join(ROOT, "bench", "results", `events-latency-${RATE}-per-s-${RUNS}-runs`);
  writeFileSync(`${file}.json`, `${JSON.stringify(result, null, 2)}\n`);
  const md = [
    `# Event-to-status latency: ${RATE} events/s over ${RUNS} runs for ${SECONDS} s (real nats-server, real operator, local API server)`,
    "",
    `Machine: ${result.machine.cpus} cores (${result.machine.model}), ${result.machine.memoryGiB} GiB, load average ${result.machine.loadAverage1m} at the end;`,
    "shared with other work while measured (the API server, etcd, nats-server, the operator and this publisher all on it).",
    `Command: \`flock /tmp/autoclint-bench.lock node --import tsx bench/events-latency.ts ${RATE} ${RUNS} ${SECONDS}\``,
    "",
    "| measure | value |",
    "| --- | --- |",
    `| events published (JetStream-acked) / failed | ${published} / ${failed} |`,
    `| publish rate reached | ${result.achievedRate.toFixed(0)} /s |`,
    `| event-to-status latency p50 / p90 / p99 / max (goal p99 < 1 s) | ${[0.5, 0.9, 0.99, 1].map((q) => shown(ms(q))).join(" / ")} ms |`,
    `| publish to the status write that holds it, acked (operator's histogram, ${lagCount} events): p50 / p90 / p99 | ${[0.5, 0.9, 0.99].map(writeLagMs).join(" / ")} ms (interpolated in buckets) |`,
    `| &nbsp;&nbsp;share of events in status within 1 s of their publish (goal p99 < 1 s: 99 %) | ${(100 * withinOneSecond).toFixed(1)} % |`,
    `| events in status / not in status when the wait ended | ${latencies.length} / ${notInStatus} |`,
    `| the measuring watch ended and was opened again (with a list) | ${m.watchReopened} times |`,
    `| ${notInStatus === 0 ? "every event in status" : "waiting stopped"} | ${drainedSeconds.toFixed(1)} s after the first publish |`,
    `| operator's consumer at the last publish: undelivered / delivered unacked (max ack pending) | ${backlog.undelivered} / ${backlog.unacked} (${backlog.maxAckPending}) |`,
    `| status writes by the event consumer, per event | ${eventWrites} writes, ${result.statusWritesPerEvent.toFixed(3)} per event |`,
    `| &nbsp;&nbsp;API server: PATCHes of runs' status (consumer and reconciler) | ${apiServerRequests["autoclintruns.autoclint.io/status PATCH"]?.count ?? 0} |`,
    `| operator RSS peak / after | ${peakRssMiB.toFixed(0)} / ${result.operatorRssMiB.after.toFixed(0)} MiB |`,
    `| CPU seconds from the first publish until the wait ended | ${Object.entries(cpuSeconds).map(([name, seconds]) => `${name} ${seconds}`).join(", ")} |`,
    "",
    "Every request the API server served meanwhile, WATCH aside (apiserver_request_total, apiserver_request_duration_seconds_sum):",
    "",
    "| request | count | of which the operator's | mean latency (ms) |",
    "| --- | --- | --- | --- |",
    ...Object.entries(apiServerRequests).map(([k, { count, seconds }]) => `| ${k} | ${count} | ${m.operatorRequests[k] ?? 0} | ${((1000 * seconds) / count).toFixed(1)} |`),
    "",
    "Two clocks on the same events. The first latency row runs from the publish call to the first status a watch",
    "(`kubectl get -w`, lines stamped in a process of their own) receives whose `status.events.seq` covers the event: JetStream,",
    "the operator's coalescing (one status merge patch per run per 200 ms), the API server's write and its watch delivery. An",
    "event the status had not shown when the wait ended counts as slower than the wait (the JSON's null). The operator's",
    "histogram (`autoclint_event_lag_seconds`, what Grafana shows) stops when the API server has acked the write holding the",
    "event: the event is in status then, and the watch's own delay is left out; its quantiles are estimated within the",
    "histogram's buckets (the JSON has them), the share within 1 s is exact (1 s is a bucket bound).",
    "",
  ].join("\n");
  writeFileSync(`${file}.md`, md);
  process.stdout.write(md);
}

/**
 * RATE events per second for SECONDS, round-robin over the runs, paced by the clock (each tick
 * publishes what is due); returns once JetStream has acknowledged (or refused) every one.
 */
async function publishPaced(natsUrl: string, tracks: RunTrack[]): Promise<{ published: number; failed: number; publishSeconds: number; backlog: Backlog }> {
  const connection = await connect({ servers: natsUrl });
  const js = jetstream(connection);
  const inFlight = new Set<Promise<unknown>>();
  let published = 0;
  let failed = 0;
  const started = performance.now();
  const publishOne = (track: RunTrack) => {
    const seq = track.sentAt.length;
    const event: NaucEvent = {
      version: 1, type: "nauc", run: { namespace: NS, name: track.name, uid: track.uid, attempt: 0 }, seq,
      elapsedSeconds: 1 + (performance.now() - started) / 1000, wallTime: new Date().toISOString(), split: "test",
      nauc: 0.9 * (1 - Math.exp(-seq / 100)), epoch: seq, lr: 0.025, imagesPerSecond: 1000,
    };
    track.sentAt.push(Date.now());
    const ack = js.publish(eventSubject(event.run, "nauc"), JSON.stringify(event), { msgID: eventMessageId(event) })
      .catch(() => void failed++)
      .finally(() => inFlight.delete(ack));
    inFlight.add(ack);
    published++;
  };
  const total = RATE * SECONDS;
  while (published < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * RATE));
    while (published < due && inFlight.size < MAX_IN_FLIGHT) publishOne(tracks[published % tracks.length]!);
    await sleep(published < due ? 0 : 2);
  }
  const publishSeconds = (performance.now() - started) / 1000;
  await Promise.all(inFlight);
  const consumer = await (await jetstreamManager(connection)).consumers.info(STREAM_NAME, NS); // the operator's durable is named after the namespace
  await connection.close();
  return { published, failed, publishSeconds, backlog: { undelivered: consumer.num_pending, unacked: consumer.num_ack_pending, maxAckPending: consumer.config.max_ack_pending ?? 0 } };
}

async function main(): Promise<void> {
  kubectl(["apply", "--server-side", "--force-conflicts", "-f", join(ROOT, "crds")]);
  kubectl(["create", "namespace", NS]);
  const nodes = createKwokGpuNodes(`kwok-${NS}`, 10, Math.ceil(RUNS / 10));
  const operator = await startBenchOperator(NS);
  let watch: WatchedLines | undefined;
  try {
    const runs = await createRunningRuns();
    const tracks = [...runs.values()];
    const latencies: number[] = [];
    let watchFailure: Error | undefined;
    // Every status of the runs as the API server sends it: "<name> <events.seq>".
    watch = watchLines({ namespace: NS, resource: "autoclintruns", jsonpath: '{.metadata.name}{" "}{.status.events.seq}', listFirst: false }, (line, at) => {
      const [name = "", seq = ""] = line.split(" ");
      const track = runs.get(name);
      if (!track || seq === "") return;
      for (let s = track.seenSeq + 1; s <= Number(seq) && s < track.sentAt.length; s++) latencies.push(at - track.sentAt[s]!);
      track.seenSeq = Math.max(track.seenSeq, Math.min(Number(seq), track.sentAt.length - 1));
    }, (error) => (watchFailure = error));
    await sleep(2000); // the watch is open

    const writesMetric = /autoclint_status_writes_total\{writer="events"\}/;
    // The operator's metrics, read once before the publishing and once after.
    const metricsBefore = await operator.metricsText();
    const requestsBefore = requestStats();
    let peakRssMiB = 0;
    const sampler = setInterval(() => (peakRssMiB = Math.max(peakRssMiB, operator.rssMiB())), 250);
    const processes = clusterProcesses({ operator: operator.process.pid!, "nats-server": operator.nats.pid ?? 0, "publisher (this bench)": process.pid });
    const cpuBefore = cpuSnapshot(processes);
    const started = performance.now();
    const { published, failed, publishSeconds, backlog } = await publishPaced(operator.nats.url, tracks);
    for (let waited = 0; tracks.some((t) => t.seenSeq < t.sentAt.length - 1) && waited < DRAIN_LIMIT_MS && !watchFailure; waited += 500) await sleep(500);
    if (watchFailure) throw watchFailure;
    const drainedSeconds = (performance.now() - started) / 1000;
    const notInStatus = tracks.reduce((sum, t) => sum + (t.sentAt.length - 1 - t.seenSeq), 0);
    const cpuSeconds = cpuSpent(processes, cpuBefore);
    clearInterval(sampler);
    await sleep(2000); // the last writes counted
    const metricsAfter = await operator.metricsText();
    const eventWrites = metricSample(metricsAfter, writesMetric) - metricSample(metricsBefore, writesMetric);
    const writeLag = histogramDelta(histogramBuckets(metricsAfter, "autoclint_event_lag_seconds"), histogramBuckets(metricsBefore, "autoclint_event_lag_seconds"));
    const operatorRequests = countsDelta(operatorRequestCounts(metricsAfter), operatorRequestCounts(metricsBefore));
    const apiServerRequests = statsDelta(requestStats(), requestsBefore);
    report({ published, failed, publishSeconds, backlog, drainedSeconds, notInStatus, latencies, eventWrites, apiServerRequests, peakRssMiB, afterRssMiB: operator.rssMiB(), cpuSeconds, watchReopened: watch.reopened(), writeLag, operatorRequests });
  } finally {
    watch?.stop();
    await cleanUp(NS, nodes, operator);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`events-latency: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
