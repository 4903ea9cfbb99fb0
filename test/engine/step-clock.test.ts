// The report's time by step: each mark takes the time since the one before,
// and a step marked again adds up, so the steps sum to the clock's whole time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { StepClock } from "../../src/engine/step-clock";

test("steps take the time since the previous mark, repeated steps add up, and together they make the whole", () => {
  let t = 1000;
  const clock = new StepClock(() => t);
  t += 40;
  clock.mark("plan");
  t += 5;
  clock.mark("scan");
  t += 100;
  clock.mark("copy");
  t += 7;
  clock.mark("scan");
  assert.deepEqual(clock.steps, [
    { step: "plan", ms: 40 },
    { step: "scan", ms: 12 },
    { step: "copy", ms: 100 },
  ]);
  assert.equal(
    clock.steps.reduce((n, s) => n + s.ms, 0),
    152,
  );
});
