/**
 * Fisher-Yates shuffle of a copy, drawing from `random` (uniform in [0, 1)): the trainer passes
 * its seeded generator (reproducible splits), the operator Math.random (claimers spread over pods).
 */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
