import { test } from "node:test";
import assert from "node:assert/strict";
import type { V1Pod } from "@kubernetes/client-node";
import { alc } from "@autoclint/api";
import { T0, at, runFixture } from "./fixtures";
import { ANNOTATION_CLAIMED_AT, LABEL_POOL, LABEL_POOL_UID } from "./labels";
import { startupStory } from "./startup";

const curve = [{ t: 2, nauc: 0.5 }, { t: 20, nauc: 0.9 }];
const applied = { ...runFixture({ timeBudgetSeconds: 60 }, { learningCurve: curve }), metadata: { ...runFixture().metadata, creationTimestamp: at(0) } };

function pod(shape: { warm?: boolean; created: number; scheduled: number; started: number; claimed?: number }): V1Pod {
  return {
    metadata: {
      name: "p", creationTimestamp: new Date(T0 + shape.created * 1000),
      labels: shape.warm ? { [LABEL_POOL_UID]: "u", [LABEL_POOL]: "gpu1" } : {},
      annotations: shape.claimed === undefined ? {} : { [ANNOTATION_CLAIMED_AT]: new Date(T0 + shape.claimed * 1000).toISOString() },
    },
    status: {
      conditions: [{ type: "PodScheduled", status: "True", lastTransitionTime: new Date(T0 + shape.scheduled * 1000) }],
      containerStatuses: [{ name: "trainer", image: "i", imageID: "", ready: true, restartCount: 0, state: { running: { startedAt: new Date(T0 + shape.started * 1000) } } }],
    },
  };
}

void test("cold: queued, scheduling and pulling from the pod's timestamps; the apply clock starts that much earlier", () => {
  const story = startupStory(applied, pod({ created: 1, scheduled: 3, started: 7 }), T0 + 1000)!;
  assert.deepEqual(story, {
    mode: "cold", queuedSeconds: 1, schedulingSeconds: 2, pullingSeconds: 4, trainerStartSeconds: 7, firstPredictionSeconds: 9,
    alcApplyClock: alc([{ t: 9, nauc: 0.5 }, { t: 27, nauc: 0.9 }], 60),
  });
  assert.ok(story.alcApplyClock! < alc(curve, 60), "the same curve started later on the apply clock scores lower");
});

void test("warm: the pool's pod was placed and pulled before the run; the trainer clock starts at the claim", () => {
  const story = startupStory(applied, pod({ warm: true, created: -100, scheduled: -99, started: -95, claimed: 0.4 }), T0 + 400)!;
  assert.deepEqual(story, {
    mode: "warm", pool: "gpu1", queuedSeconds: 0.4, schedulingSeconds: 0, pullingSeconds: 0, trainerStartSeconds: 0.4, firstPredictionSeconds: 2.4,
    alcApplyClock: alc([{ t: 2.4, nauc: 0.5 }, { t: 20.4, nauc: 0.9 }], 60),
  });
  assert.ok(Math.abs(story.alcApplyClock! - alc(curve, 60)) < 0.02, "warm: both clocks agree within 0.02");
  assert.equal(startupStory(applied, undefined, undefined), undefined);
});
