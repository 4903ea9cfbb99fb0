// Builds every image in recipes.ts as an OCI layout tarball under
// .toolchain/images/, named by the image's manifest digest, and writes
// .toolchain/images/manifest.json = {"<ref>": "<absolute path to .tar>"}.
// The digest covers every byte of the image, so a tarball that exists is the
// image; a warm run finds the inputs unchanged (inputsKey) and assembles nothing.
// Run by toolchain/images/build.sh (which compiles the Go programs first).
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { createHash } from "node:crypto";
import { ociImage } from "./oci";
import { BuildContext, ImageRecipe, recipes } from "./recipes";
import { Rootfs } from "./rootfs";

export interface BuiltImage {
  ref: string;
  path: string;
  manifestDigest: string;
  /** bytes of the tarball */
  size: number;
  /** false when the tarball was already there */
  built: boolean;
  /** "inputs": the inputs key matched and nothing was assembled; "content": the image was assembled and hashed */
  checked: "inputs" | "content";
  seconds: number;
}

/** "pgshift.local/postgres:15" → "postgres-15" */
export function imageFileStem(ref: string): string {
  const name = ref.slice(ref.lastIndexOf("/") + 1);
  return name.replace(/[^A-Za-z0-9_.-]+/g, "-");
}

function writeAtomically(path: string, parts: Buffer[]): void {
  const partial = `${path}.partial-${process.pid}`;
  const fd = openSync(partial, "w", 0o644);
  try {
    for (const p of parts) writeSync(fd, p);
  } finally {
    closeSync(fd);
  }
  renameSync(partial, path);
}

/** Keeps the newest `keep` tarballs of an image; other worktrees may still point at the previous one. */
function prune(outDir: string, stem: string, current: string, keep = 2): void {
  const old = readdirSync(outDir)
    .filter((f) => f.startsWith(`${stem}-`) && f.endsWith(".tar") && join(outDir, f) !== current && /^[0-9a-f]{16}\.tar$/.test(f.slice(stem.length + 1)))
    .map((f) => ({ f, t: statSync(join(outDir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { f } of old.slice(keep - 1)) rmSync(join(outDir, f), { force: true });
}

/**
 * What a warm run compares before assembling anything: the recipe's ref and
 * config, every file under toolchain/images (recipes, entrypoint, sources),
 * the compiled tools, and Debian's package database, which every install or
 * upgrade rewrites. A match with the tarball still there means nothing changed;
 * anything else assembles the image and lets its digest decide.
 */
export function inputsKey(recipe: ImageRecipe, ctx: BuildContext, dpkgStatus = "/var/lib/dpkg/status"): string {
  const h = createHash("sha256");
  h.update(`${recipe.ref}\0${JSON.stringify(recipe.config)}\0`);
  const sources = readdirSync(join(ctx.repoRoot, "toolchain", "images"), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name))
    .sort();
  for (const f of sources) h.update(`${f.slice(ctx.repoRoot.length)}\0`).update(readFileSync(f));
  for (const tool of ["pause", "setuid"]) h.update(readFileSync(join(ctx.toolsDir, tool)));
  for (const f of recipe.inputs?.(ctx) ?? []) h.update(`${f}\0`).update(existsSync(f) ? readFileSync(f) : Buffer.alloc(0));
  h.update(existsSync(dpkgStatus) ? readFileSync(dpkgStatus) : Buffer.alloc(0));
  return h.digest("hex");
}

interface InputsRecord {
  key: string;
  path: string;
  manifestDigest: string;
}

export function buildImage(recipe: ImageRecipe, ctx: BuildContext, outDir: string, force = false): BuiltImage {
  const t0 = process.hrtime.bigint();
  const stem = imageFileStem(recipe.ref);
  const recordPath = join(outDir, `${stem}.inputs.json`);
  const key = inputsKey(recipe, ctx);
  const seconds = () => Number(process.hrtime.bigint() - t0) / 1e9;
  if (!force && existsSync(recordPath)) {
    const record = JSON.parse(readFileSync(recordPath, "utf8")) as InputsRecord;
    if (record.key === key && existsSync(record.path)) {
      return {
        ref: recipe.ref,
        path: record.path,
        manifestDigest: record.manifestDigest,
        size: statSync(record.path).size,
        built: false,
        checked: "inputs",
        seconds: seconds(),
      };
    }
  }
  const fs = new Rootfs(recipe.ref);
  recipe.assemble(fs, ctx);
  const image = ociImage(recipe.ref, fs.tarEntries(), recipe.config);
  const path = join(outDir, `${stem}-${image.manifestDigest.slice("sha256:".length, "sha256:".length + 16)}.tar`);
  const built = force || !existsSync(path);
  if (built) {
    writeAtomically(path, image.tar);
    prune(outDir, stem, path);
  }
  const record: InputsRecord = { key, path, manifestDigest: image.manifestDigest };
  writeAtomically(recordPath, [Buffer.from(JSON.stringify(record, null, 2) + "\n")]);
  return { ref: recipe.ref, path, manifestDigest: image.manifestDigest, size: statSync(path).size, built, checked: "content", seconds: seconds() };
}

export function buildAll(opts: { repoRoot: string; outDir: string; toolsDir: string; force?: boolean; only?: string[] }): BuiltImage[] {
  mkdirSync(opts.outDir, { recursive: true });
  const selected = opts.only?.length ? recipes.filter((r) => opts.only!.includes(r.ref)) : recipes;
  const results = selected.map((r) => buildImage(r, { repoRoot: opts.repoRoot, toolsDir: opts.toolsDir }, opts.outDir, opts.force));
  const manifestPath = join(opts.outDir, "manifest.json");
  // A partial build (some refs only) keeps the other images' entries.
  const manifest: Record<string, string> = {};
  if (existsSync(manifestPath)) {
    const previous = JSON.parse(readFileSync(manifestPath, "utf8")) as Record<string, string>;
    for (const r of recipes) if (previous[r.ref] && existsSync(previous[r.ref]!)) manifest[r.ref] = previous[r.ref]!;
  }
  for (const r of results) manifest[r.ref] = r.path;
  writeFileSync(`${manifestPath}.partial`, JSON.stringify(manifest, null, 2) + "\n");
  renameSync(`${manifestPath}.partial`, manifestPath);
  return results;
}

function main(argv: string[]): void {
  const repoRoot = resolve(__dirname, "..", "..");
  const outDir = process.env.PGSHIFT_IMAGES_DIR ? resolve(process.env.PGSHIFT_IMAGES_DIR) : join(repoRoot, ".toolchain", "images");
  const toolsDir = process.env.PGSHIFT_TOOLS_DIR ?? join(outDir, "work");
  const force = argv.includes("--force");
  const only = argv.filter((a) => !a.startsWith("--"));
  const t0 = Date.now();
  const results = buildAll({ repoRoot, outDir, toolsDir, force, only });
  for (const r of results) {
    const mb = (r.size / 1024 / 1024).toFixed(1);
    process.stderr.write(`[images] ${r.ref}: ${r.built ? "built" : "up to date"} in ${r.seconds.toFixed(1)}s, ${mb} MiB, ${r.manifestDigest.slice(0, 19)}…\n`);
  }
  process.stderr.write(`[images] ${results.length} images ready in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${join(outDir, "manifest.json")}\n`);
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`[images] ERROR: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
