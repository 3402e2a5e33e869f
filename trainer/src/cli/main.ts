/**
 * `autoclint`: run AutoCLINT locally on an AutoClintRun manifest, score AutoDL predictions,
 * explore a dataset, build the dataset suite, run or report a benchmark.
 */
import { Command } from "commander";
import { registerBenchCommands } from "./bench";
import { registerDatasetCommands } from "./datasets";
import { registerExploreCommand } from "./explore";
import { registerRunCommand } from "./run";
import { registerScoreCommand } from "./score";
import { registerStandbyCommand } from "./standby";

const program = new Command()
  .name("autoclint")
  .description("AutoCLINT: automated image and video classification under a time budget")
  .showHelpAfterError();

registerRunCommand(program);
registerStandbyCommand(program);
registerScoreCommand(program);
registerExploreCommand(program);
registerDatasetCommands(program);
registerBenchCommands(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  const err = error as Error;
  process.stderr.write(`autoclint: ${err.message}\n`);
  if (process.env.AUTOCLINT_DEBUG) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
});
