// The keys a stack configuration object takes, and the one a misspelt key most
// likely meant: an unknown key is refused (config.ts), and the person who typed
// pgshift:migration.exludeTables at 2 a.m. is told which key they meant.
import { z } from "zod";

/** The keys the object at `path` of a schema takes (through defaults, optionals, preprocessing and arrays). */
export function keysAt(schema: z.ZodTypeAny, path: (string | number)[]): string[] {
  let t: z.ZodTypeAny = schema;
  for (let i = 0; ;) {
    if (t instanceof z.ZodEffects) t = t.innerType();
    else if (t instanceof z.ZodDefault) t = t.removeDefault();
    else if (t instanceof z.ZodOptional || t instanceof z.ZodNullable) t = t.unwrap();
    else if (i === path.length) return t instanceof z.ZodObject ? Object.keys(t.shape) : [];
    else if (t instanceof z.ZodArray) {
      t = t.element; // path[i] is the item's index
      i++;
    } else if (t instanceof z.ZodObject) t = (t.shape as Record<string, z.ZodTypeAny>)[String(path[i++])] ?? z.never();
    else return [];
  }
}

/** The known key a misspelt one most likely meant: fewest edits, at most a third of its length (and case differences count as none). */
export function closestKey(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(key.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

/** Levenshtein distance, an adjacent transposition counting as one edit. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  return d[a.length]![b.length]!;
}
