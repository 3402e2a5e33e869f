export { startOperator, type RunningOperator } from "./operator";
export { loadConfig, type OperatorConfig } from "./config";
export { createLogger, silentLogger, type Logger } from "./log";
export { renderTrainerJob, trainerJobName } from "./reconcile/job";
