/**
 * One AutoClintRun, end to end, in this process: the edges around the AutoCLINT loop. The clock
 * starts when the trainer starts, so the engine is spawned first and starts (Python imports,
 * CUDA init) while the dataset is explored and decoded.
 */
import { alc as areaUnderCurve, DATASET_CREDENTIAL_ENV, type AutoClintRunManifest, type AutoClintRunSpec } from "@autoclint/api";
import { mkdir, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { createSearch, type AugmentationSearch } from "../augmentation/index";
import type { Exploration, SampleShape } from "../autoclint/explore";
import { chooseInputSize, type InputSizeChoice } from "../autoclint/input-size";
import { runAutoClint, type LabeledTensor, type LoopSummary, type PreparedData, type TestPredictionRecord } from "../autoclint/loop";
import { headOf, prepareData, type EarlyData } from "../autoclint/prepare";
import { MIN_VALID_GAIN } from "../autoclint/anytime";
import { describeGrid, fitQuickModel, pooledGrid, predictQuick, QUICK_FEATURE_STAGES, type QuickFit } from "../autoclint/quick-model";
import { DatasetError } from "../datasets/dataset";
import { fetchDataset } from "../datasets/fetch";
import { openDataset } from "../datasets/open";
import { resizeTensor } from "../datasets/resize";
import type { Engine, EngineInfo } from "../engines/engine";
import { createEngine } from "../engines/index";
import type { Reporter, RunStatusLine } from "./reporter";
import { TestScorer } from "./test-scorer";
import { openRunOutputs, type RunOutputs } from "./outputs";
import type { NatsCredentials } from "../events/index";

/** Seconds past the budget after which the run is cut off whatever it is doing. */
export const BUDGET_GRACE_SECONDS = 10;

/** The dataset secretRef's header for the download; a header credential that was not handed over is an error. */
export function downloadHeaders(source: AutoClintRunManifest["spec"]["dataset"]["source"], credential: string | undefined): Record<string, string> | undefined {
  const ref = source.secretRef;
  if (!ref || ref.env) return undefined;
  if (credential === undefined) {
    throw new DatasetError(
      "dataset.source.secretRef",
      `names Secret ${ref.name} key ${ref.key}, but ${DATASET_CREDENTIAL_ENV} is not set: a cluster's trainer pod gets it from that Secret; for a local run, set it to the value`,
    );
  }
  return { [ref.header ?? "Authorization"]: credential };
}

export interface LocalRunOptions {
  manifest: AutoClintRunManifest;
  outDir: string;
  engine?: "torch" | "tfjs";
  natsUrl?: string;
  /** The attempt's NATS identity, when the operator issued one (AUTOCLINT_NATS_CREDS). */
  natsCredentials?: NatsCredentials;
  /** The value of the dataset's secretRef (AUTOCLINT_DATASET_CREDENTIAL), for the download. */
  datasetCredential?: string;
  /** Run identity for events; a local run makes one up. */
  uid?: string;
  attempt?: number;
  reporter: Reporter;
  /** Where URL datasets are downloaded to and kept. */
  cacheDir: string;
  /** Seconds since the trainer started (process start by default). */
  now?: () => number;
  /** Epoch milliseconds at which the trainer's clock started (process start by default). */
  startedAtMs?: number;
  /** An engine already started (a warm standby pod's, see standby.ts); spawned here when absent. */
  startedEngine?: Engine;
}

export interface RunResult {
  run: string;
  dataset: string;
  budget: number;
  engine: string;
  device: string;
  deviceName: string;
  alc: number | null;
  nauc: number | null;
  curve: { t: number; nauc: number }[];
  firstPredictionSeconds: number | null;
  predictions: number;
  inputShape: [frames: number, height: number, width: number, channels: number];
  /** Why the input has the shape it has: exploration's upper bound, and the speed probe's verdict. */
  inputSize: { explored: [frames: number, height: number, width: number, channels: number]; reason: string };
  imagesPerSecond: number;
  policy: LoopSummary["policy"];
  augmentation: { strategy: string; summary: string };
  model: { arch: string; init: "pretrained" | "random"; detail: string };
  exploration: Exploration;
  splits: { train: number; valid: number; test: number };
  skippedTrainSamples: string[];
  timings: Record<string, number>;
  stopReason: string;
  /** The quick first model: off, or what its standing (last) prediction was and whether the network replaced it. */
  quickModel:
    | { enabled: false }
    | { enabled: true; validScore: number; trainRows: number; features: string; predictionAt: number; nauc: number | null; predictions: number; replacedByNetwork: boolean };
  learningCurvePng: string;
}

const sinceProcessStart = () => performance.now() / 1000;

/** The augmentation strategy and its parameters, as the spec asks (defaults filled by the schema). */
export function searchFromSpec(spec: AutoClintRunSpec): AugmentationSearch {
  const { strategy = "fast-autoaugment-light", subPolicies, trials, keep, minSecondsLeft } = spec.augmentation ?? {};
  const given = Object.entries({ subPolicies, trials, keep, minSecondsLeft }).filter(([, value]) => value !== undefined);
  return createSearch(strategy, Object.fromEntries(given));
}

interface QuickPrediction {
  record: TestPredictionRecord;
  validScore: number;
  trainRows: number;
  grid: string;
}

/**
 * The quick model's test predictions, written and scored like any other: the coarse stage first
 * (it goes out soonest), then the fine one only when it scores better on valid (AutoDL scores the
 * latest prediction). The last one made stands. A fit that cannot be made (no valid column with
 * both labels, a degenerate system) is skipped: the network still runs, so it is logged, not fatal.
 */
async function quickPredictions(
  early: EarlyData,
  scorer: TestScorer,
  context: { now: () => number; log: (line: string) => void; onPrediction: (prediction: QuickPrediction, stage: number) => void },
): Promise<QuickPrediction[]> {
  const { now, log } = context;
  const made: QuickPrediction[] = [];
  let lastGrid: string | undefined;
  for (const [stage, quickStage] of QUICK_FEATURE_STAGES.entries()) {
    const grid = describeGrid(pooledGrid(early.train.images.shape, quickStage));
    if (grid === lastGrid) continue; // a small input: the same grid, the same model
    lastGrid = grid;
    const started = now();
    let fit: QuickFit;
    try {
      fit = fitQuickModel(early.train, early.valid, early.classes, quickStage);
    } catch (error) {
      log(`quick model (${grid}) skipped: ${(error as Error).message}`);
      continue;
    }
    const standing = made.at(-1);
    if (standing && fit.validScore < standing.validScore + MIN_VALID_GAIN) {
      log(`quick model (${grid}): valid NAUC ${fit.validScore.toFixed(4)} is no better than the standing ${standing.validScore.toFixed(4)}; not predicted`);
      continue;
    }
    const scores = predictQuick(fit.model, early.test);
    const record = await scorer.record({ scores, passes: 1, rows: early.test.shape[0], classes: early.classes, seconds: now() - started });
    const prediction = { record, validScore: fit.validScore, trainRows: fit.trainRows, grid: `${grid} pooled ${fit.model.transform.relative ? "|pixel - background|" : "pixels"}^${fit.model.transform.gamma}, ridge ${fit.model.ridge}` };
    made.push(prediction);
    context.onPrediction(prediction, stage);
  }
  return made;
}

/** The input size the engine's speed allows (none when the engine cannot measure itself). */
async function chooseSize(engine: Engine, exploration: Exploration, testRows: number, budget: number): Promise<InputSizeChoice | undefined> {
  if (!engine.probe) return undefined;
  const upper = exploration.inputShape;
  const probe = await engine.probe([upper.frames, upper.height, upper.width, upper.channels], exploration.classes);
  return chooseInputSize({ upper, probe, testSamples: testRows, budget });
}

/** The run's train, valid and probe tensors at the chosen size (the same objects when it is the decoded one). */
function shrinkData(data: PreparedData, shape: SampleShape): PreparedData {
  const shrink = (tensor: LabeledTensor): LabeledTensor => ({ ...tensor, images: resizeTensor(tensor.images, shape.height, shape.width) });
  const train = shrink(data.train);
  const probeRows = data.trainProbe.images.shape[0];
  return { ...data, train, valid: shrink(data.valid), trainProbe: { images: headOf(train.images, probeRows), labels: data.trainProbe.labels } };
}

export async function runLocal(options: LocalRunOptions): Promise<RunResult> {
  const now = options.now ?? sinceProcessStart;
  const { manifest, reporter } = options;
  const spec = manifest.spec;
  const budget = spec.timeBudgetSeconds;
  const engineName = options.engine ?? spec.engine ?? "torch";
  const timings: Record<string, number> = { trainerStart: 0 };
  const mark = (name: string) => (timings[name] = +now().toFixed(3));

  // ---------------------------------------------------------------- engine first: it starts slowly
  const engine = options.startedEngine ?? createEngine(engineName, { log: (line) => reporter.log(`[engine] ${line}`) });
  const engineReady = engine.ready().then((info) => {
    mark("engineReady");
    return info;
  });
  engineReady.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile

  await mkdir(options.outDir, { recursive: true });
  const source = spec.dataset.source;
  // The task name goes into file names (<task>.predict_N): letters, digits, - and _ only.
  const folder = basename(source.path ?? new URL(source.url!).pathname.replace(/\.tar(\.gz)?$|\.tgz$/, ""));
  const task = (spec.dataset.name ?? folder).replace(/[^A-Za-z0-9_-]+/g, "-");
  const outputs: RunOutputs = await openRunOutputs({
    outDir: options.outDir,
    task,
    budget,
    startedAtMs: options.startedAtMs ?? performance.timeOrigin,
    now,
    run: {
      namespace: manifest.metadata.namespace ?? "local",
      name: manifest.metadata.name,
      uid: options.uid ?? manifest.metadata.uid ?? `local-${Date.now()}`,
      attempt: options.attempt ?? 0,
    },
    ...(options.natsUrl ? { natsUrl: options.natsUrl } : {}),
    ...(options.natsCredentials ? { natsCredentials: options.natsCredentials } : {}),
    log: (line) => reporter.log(line),
  });
  const status: RunStatusLine = { phase: "exploring" };
  const emitPhase = (phase: string, detail?: string) => {
    status.phase = phase;
    outputs.emit("phase", { phase, ...(detail ? { detail } : {}) });
    reporter.status(now(), status);
    reporter.log(`phase: ${phase}${detail ? ` (${detail})` : ""}`);
  };
  emitPhase("starting", `engine ${engineName}, budget ${budget} s`);

  // Cut-off: the loop never starts a prediction that could cross the budget, but a hung engine
  // must not keep the run past it either.
  let success = false;
  let interrupted: string | undefined;
  const watchdog = setTimeout(
    () => {
      interrupted = `cut off at budget + ${BUDGET_GRACE_SECONDS} s`;
      reporter.log(`${interrupted}: stopping the engine`);
      void engine.close();
    },
    Math.max(0, (budget + BUDGET_GRACE_SECONDS - now()) * 1000),
  );
  const ticker = setInterval(() => reporter.status(now(), status), 1000);

  try {
    // -------------------------------------------------------------- data, while the engine starts
    const datasetPath = source.path ?? (await fetchDataset(source.url!, join(options.cacheDir, "downloads"), reporter.log, downloadHeaders(source, options.datasetCredential)));
    emitPhase("exploring", datasetPath);
    const opened = await openDataset(datasetPath, spec.dataset.format);
    mark("datasetOpened");
    // The scorer is ready before the data: the quick model's prediction is written mid-decode.
    const scorer = new TestScorer(outputs.predictions, budget, opened.solution);
    if (!scorer.scored) reporter.log("the dataset has no test solution: predictions are written but not scored");
    const emitTest = ({ index, at, nauc, alc }: TestPredictionRecord, context: { epoch: number; lr: number; imagesPerSecond: number }) => {
      timings.firstPrediction ??= +at.toFixed(3);
      if (nauc === undefined) return;
      status.test = nauc;
      status.alc = alc;
      outputs.emit("nauc", { split: "test", nauc, alc, predictionIndex: index, ...context }, { atSeconds: at });
    };
    let quick: QuickPrediction[] = [];
    const quickModel = spec.anytime?.quickModel ?? true;
    const prepared = await prepareData(opened.dataset, spec.seed ?? 0, {
      onProgress: (stage, done, total) => {
        status.phase = `${stage} ${done}/${total}`;
      },
      ...(quickModel
        ? {
            onEarlyData: async (early) => {
              mark("earlyDataDecoded");
              quick = await quickPredictions(early, scorer, {
                now,
                log: (line) => reporter.log(line),
                onPrediction: (prediction, stage) => {
                  mark(stage === 0 ? "quickPrediction" : "quickPredictionFine");
                  emitTest(prediction.record, { epoch: 0, lr: 0, imagesPerSecond: 0 });
                  reporter.log(
                    `quick model: ridge on ${prediction.grid}, ${prediction.trainRows} training samples, valid NAUC ${prediction.validScore.toFixed(4)}; ` +
                      `prediction ${prediction.record.index} at ${prediction.record.at.toFixed(2)} s`,
                  );
                },
              });
            },
          }
        : {}),
    });
    mark("dataDecoded");
    const { exploration } = prepared;
    const explored = exploration.inputShape;
    reporter.log(
      `exploration: ${exploration.scanned} samples scanned, median ${exploration.medianShape.frames}x${exploration.medianShape.height}x${exploration.medianShape.width}x${exploration.medianShape.channels}, ` +
        `${exploration.classes} classes${exploration.multiLabel ? ", multi-label" : ""}${exploration.video ? ", video" : ""} -> input ${explored.frames}x${explored.height}x${explored.width}x${explored.channels}`,
    );
    for (const origin of prepared.skipped) reporter.log(`skipped unreadable training sample ${origin}`);

    const info: EngineInfo = await engineReady;
    reporter.log(`engine: ${info.engine} ${info.version} on ${info.device} (${info.deviceName}), ready in ${info.startupSeconds.toFixed(1)} s`);
    // -------------------------------------------------------------- input size from a speed probe
    const sizing = await chooseSize(engine, exploration, prepared.data.testRows, budget);
    mark("speedProbed");
    const shape = sizing?.shape ?? explored;
    reporter.log(`input size: ${shape.height}x${shape.width}${sizing ? ` (${sizing.reason})` : " (the engine cannot probe its speed: exploration size kept)"}`);
    const data = shrinkData(prepared.data, shape);
    // The test split decodes (when the quick model did not need it first) while training starts.
    const testLoaded = prepared
      .test()
      .then((test) => engine.loadSplit("test", resizeTensor(test, shape.height, shape.width)))
      .then(() => void mark("testLoaded"));
    testLoaded.catch(() => undefined); // awaited by the loop before its first test prediction
    await Promise.all([
      engine.loadSplit("train", data.train.images, data.train.labels),
      engine.loadSplit("valid", data.valid.images, data.valid.labels),
      engine.loadSplit("train-probe", data.trainProbe.images, data.trainProbe.labels),
    ]);
    mark("splitsLoaded");

    // -------------------------------------------------------------- the loop
    const search = searchFromSpec(spec);
    const standing = quick.at(-1);
    const summary = await runAutoClint(
      data,
      {
        budget,
        tau: spec.model?.tau ?? 8,
        seed: spec.seed ?? 0,
        ...(spec.model?.weights ? { weightsPath: spec.model.weights } : {}),
        ...(standing ? { standing: { records: quick.map((q) => q.record), validScore: standing.validScore } } : {}),
        ...(sizing ? { predictSeconds: sizing.predictSeconds } : {}),
      },
      {
        engine,
        now,
        search,
        interrupted: () => interrupted,
        testLoaded,
        log: (message) => reporter.log(message),
        onPhase: emitPhase,
        onTestPrediction: (predictions) => scorer.record(predictions),
        onValid: (event) => {
          status.valid = event.nauc;
          status.imagesPerSecond = event.imagesPerSecond;
          outputs.emit("nauc", { split: "valid", ...event });
        },
        onTest: ({ epoch, lr, imagesPerSecond, ...record }) => emitTest(record, { epoch, lr, imagesPerSecond }),
        onTrial: (trial) => outputs.emit("policy", trial),
      },
    );
    mark("loopFinished");
    await testLoaded; // a decode or load failure that no prediction awaited fails the run here

    // -------------------------------------------------------------- result
    const curve = scorer.curve.map((p) => ({ t: +p.t.toFixed(3), nauc: p.nauc }));
    const finalAlc = scorer.scored ? areaUnderCurve(curve, budget) : null;
    const finalNauc = curve.at(-1)?.nauc ?? null;
    emitPhase("finished", summary.stopReason);
    outputs.emit("result", {
      alc: finalAlc ?? 0,
      nauc: finalNauc ?? 0,
      firstPredictionSeconds: summary.firstPredictionSeconds,
      predictions: summary.predictions.length,
    });
    const learningCurvePng = join(options.outDir, "learning-curve.png");
    const result: RunResult = {
      run: manifest.metadata.name,
      dataset: task,
      budget,
      engine: info.engine,
      device: info.device,
      deviceName: info.deviceName,
      alc: finalAlc,
      nauc: finalNauc,
      curve,
      firstPredictionSeconds: summary.firstPredictionSeconds,
      predictions: summary.predictions.length,
      inputShape: [shape.frames, shape.height, shape.width, shape.channels],
      inputSize: {
        explored: [explored.frames, explored.height, explored.width, explored.channels],
        reason: sizing?.reason ?? "the engine cannot probe its speed: exploration size kept",
      },
      imagesPerSecond: +summary.imagesPerSecond.toFixed(1),
      policy: summary.policy,
      augmentation: { strategy: search.strategy, summary: summary.searchSummary },
      model: { arch: "resnet18", init: summary.modelInit, detail: summary.modelDetail },
      exploration,
      splits: prepared.splitSizes,
      skippedTrainSamples: prepared.skipped,
      timings,
      stopReason: summary.stopReason,
      quickModel: standing
        ? {
            enabled: true,
            validScore: standing.validScore,
            trainRows: standing.trainRows,
            features: standing.grid,
            predictionAt: standing.record.at,
            nauc: standing.record.nauc ?? null,
            predictions: quick.length,
            replacedByNetwork: summary.predictions.length > quick.length,
          }
        : { enabled: false },
      learningCurvePng,
    };
    await writeFile(join(options.outDir, "result.json"), `${JSON.stringify(result, null, 2)}\n`);
    if (finalAlc !== null) {
      await outputs.plot({ curve, budget, alc: finalAlc, title: `${task}: ${info.engine} on ${info.device}` }, learningCurvePng);
    }
    success = true;
    return result;
  } catch (error) {
    outputs.emit("error", { message: (error as Error).message, reason: (error as Error).name });
    throw error;
  } finally {
    clearTimeout(watchdog);
    clearInterval(ticker);
    await engine.close().catch(() => undefined);
    await outputs.close(success);
  }
}
