/**
 * How a run reports progress to whoever started it: log lines and a status line. The CLI
 * implements it for a terminal or plain logs (cli/progress.ts); the run only sees this interface.
 */

export interface RunStatusLine {
  phase: string;
  valid?: number;
  test?: number;
  alc?: number;
  imagesPerSecond?: number;
}

export interface Reporter {
  log(message: string): void;
  status(elapsedSeconds: number, line: RunStatusLine): void;
  stop(): void;
}
