/**
 * How a run reports itself: a progress bar over the time budget on a terminal, plain timestamped
 * log lines otherwise (CI logs, `kubectl logs`).
 */
import { MultiBar, Presets, type SingleBar } from "cli-progress";
import type { Reporter, RunStatusLine } from "../run/reporter";

export type { Reporter, RunStatusLine };

const fmt = (x: number | undefined, digits = 4) => (x === undefined ? "-" : x.toFixed(digits));

export function describeStatus(line: RunStatusLine): string {
  return `${line.phase} | valid ${fmt(line.valid)} | test ${fmt(line.test)} | ALC ${fmt(line.alc)} | ${fmt(line.imagesPerSecond, 0)} img/s`;
}

/** Plain lines: one per log message, status only when it changes phase or score. */
export function plainReporter(write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Reporter {
  let last = "";
  return {
    log: (message) => write(message),
    status(elapsed, line) {
      const text = describeStatus(line);
      if (text !== last) write(`[${elapsed.toFixed(1)} s] ${text}`);
      last = text;
    },
    stop: () => undefined,
  };
}

export function terminalReporter(budgetSeconds: number): Reporter {
  const bars = new MultiBar(
    {
      format: " {bar} {value}/{total} s | {status}",
      hideCursor: true,
      clearOnComplete: false,
      stream: process.stderr,
    },
    Presets.shades_classic,
  );
  const bar: SingleBar = bars.create(budgetSeconds, 0, { status: "starting" });
  return {
    log: (message) => bars.log(`${message}\n`),
    status: (elapsed, line) => bar.update(Math.min(budgetSeconds, Math.round(elapsed)), { status: describeStatus(line) }),
    stop: () => bars.stop(),
  };
}

export function createReporter(budgetSeconds: number): Reporter {
  return process.stderr.isTTY ? terminalReporter(budgetSeconds) : plainReporter();
}
