// An image's root filesystem, assembled from this machine's Debian files: a
// host path is copied to the same path in the image, every symlink on the way
// kept as a symlink and followed, and every ELF file brings the shared
// libraries `ldd` resolves for it. No package manager runs inside the image.
import { execFileSync } from "node:child_process";
import { lstatSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { posix } from "node:path";
import { TarEntry } from "./tar";

export class ImageBuildError extends Error {
  constructor(
    public readonly ref: string,
    message: string,
  ) {
    super(`image ${ref}: ${message}`);
    this.name = "ImageBuildError";
  }
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

function rel(path: string): string {
  const p = posix.normalize(path).replace(/^\/+/, "").replace(/\/+$/, "");
  return p === "." ? "" : p;
}

export interface HostCopyOptions {
  /** copy a directory's contents too */
  recursive?: boolean;
  /** host paths to leave out (checked for each path visited) */
  exclude?: (hostPath: string) => boolean;
}

export class Rootfs {
  private readonly entries = new Map<string, TarEntry>();
  private readonly elfFiles = new Set<string>();
  private readonly visited = new Set<string>();

  constructor(public readonly ref: string) {}

  /** A directory (and its parents, 0755 unless they exist already). */
  dir(path: string, mode = 0o755, owner?: { uid: number; gid: number }): void {
    const p = rel(path);
    if (p === "") return;
    this.dir(posix.dirname(p), 0o755);
    const existing = this.entries.get(p);
    if (existing && existing.type !== "dir") throw new ImageBuildError(this.ref, `/${p} is a directory here but already a ${existing.type}`);
    if (existing && !owner) return;
    this.entries.set(p, { type: "dir", path: p, mode, uid: owner?.uid, gid: owner?.gid });
  }

  file(path: string, content: Buffer | string, mode = 0o644): void {
    const p = rel(path);
    this.dir(posix.dirname(p));
    this.put({ type: "file", path: p, mode, content: Buffer.isBuffer(content) ? content : Buffer.from(content, "utf8") });
  }

  symlink(path: string, target: string): void {
    const p = rel(path);
    this.dir(posix.dirname(p));
    this.put({ type: "symlink", path: p, target });
  }

  has(path: string): boolean {
    return this.entries.has(rel(path));
  }

  /** A host file copied to a path of the image's choosing. */
  copy(hostPath: string, imagePath: string, mode?: number): void {
    const content = this.read(hostPath);
    this.file(imagePath, content, mode ?? lstatSync(hostPath).mode & 0o7777);
    if (content.subarray(0, 4).equals(ELF_MAGIC)) this.elfFiles.add(hostPath);
  }

  /** A host path copied to the same path, symlinks on the way kept and followed. */
  fromHost(hostPath: string, opts: HostCopyOptions = {}): void {
    const path = posix.normalize(hostPath);
    if (opts.exclude?.(path)) return;
    const key = `${path}\0${opts.recursive ? "r" : ""}`;
    if (this.visited.has(key)) return;
    this.visited.add(key);
    const parts = rel(path).split("/").filter(Boolean);
    let current = "";
    for (let i = 0; i < parts.length; i++) {
      current = `${current}/${parts[i]}`;
      let st;
      try {
        st = lstatSync(current);
      } catch {
        throw new ImageBuildError(this.ref, `${current} (for ${path}) does not exist on this machine; install the Debian package that provides it`);
      }
      if (st.isSymbolicLink()) {
        const target = readlinkSync(current);
        this.symlink(current, target);
        const rest = parts.slice(i + 1).join("/");
        const resolved = posix.resolve(posix.dirname(current), target, rest);
        this.fromHost(resolved, opts);
        return;
      }
      const last = i === parts.length - 1;
      if (!last || st.isDirectory()) {
        if (!st.isDirectory()) throw new ImageBuildError(this.ref, `${current} is not a directory (for ${path})`);
        this.dir(current, st.mode & 0o7777);
        if (last && opts.recursive) {
          for (const child of readdirSync(current).sort()) this.fromHost(`${current}/${child}`, opts);
        }
      } else if (st.isFile()) {
        this.copy(current, current, st.mode & 0o7777);
      }
      // Sockets, fifos and devices have no place in an image.
    }
  }

  /** Adds what the dynamic loader needs for every ELF file added so far. */
  addSharedLibraries(): void {
    const done = new Set<string>();
    for (;;) {
      const pending = [...this.elfFiles].filter((f) => !done.has(f));
      if (pending.length === 0) return;
      for (const f of pending) done.add(f);
      for (let i = 0; i < pending.length; i += 200) {
        for (const [binary, libs] of ldd(pending.slice(i, i + 200))) {
          for (const lib of libs) {
            if (lib.missing) throw new ImageBuildError(this.ref, `${binary} needs ${lib.name}, which ldd cannot find on this machine`);
            this.fromHost(lib.path);
          }
        }
      }
    }
  }

  /** The entries, ready for tarArchive. */
  tarEntries(): TarEntry[] {
    return [...this.entries.values()];
  }

  /** Total bytes of file content (what the layer weighs, before tar headers). */
  contentBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.type === "file") n += e.content.length;
    return n;
  }

  private put(entry: TarEntry): void {
    const existing = this.entries.get(entry.path);
    if (existing) {
      const same =
        existing.type === entry.type &&
        (existing.type !== "symlink" || (entry.type === "symlink" && existing.target === entry.target)) &&
        (existing.type !== "file" || (entry.type === "file" && existing.content.equals(entry.content)));
      if (same) return;
      throw new ImageBuildError(this.ref, `/${entry.path} is added twice with different contents`);
    }
    this.entries.set(entry.path, entry);
  }

  private read(hostPath: string): Buffer {
    try {
      return readFileSync(hostPath);
    } catch (e) {
      throw new ImageBuildError(this.ref, `cannot read ${hostPath}: ${(e as Error).message}`);
    }
  }
}

interface LddLib {
  name: string;
  path: string;
  missing: boolean;
}

/** `ldd` over many files at once: binary → the libraries it loads (including the loader). */
export function ldd(files: string[]): Map<string, LddLib[]> {
  let out: string;
  try {
    out = execFileSync("ldd", files, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
  } catch (e) {
    // ldd exits 1 when any file is static ("not a dynamic executable"); its stdout still lists the others.
    const err = e as { stdout?: string };
    if (typeof err.stdout !== "string") throw e;
    out = err.stdout;
  }
  const result = new Map<string, LddLib[]>();
  let current = files.length === 1 ? files[0]! : "";
  if (files.length === 1) result.set(current, []);
  for (const line of out.split("\n")) {
    if (!line.trim()) continue;
    if (!/^\s/.test(line) && line.endsWith(":")) {
      current = line.slice(0, -1);
      result.set(current, []);
      continue;
    }
    const libs = result.get(current);
    if (!libs) continue;
    const t = line.trim();
    let m = /^(\S+) => not found/.exec(t);
    if (m) {
      libs.push({ name: m[1]!, path: "", missing: true });
      continue;
    }
    m = /^(\S+) => (\/\S+) \(0x[0-9a-f]+\)$/.exec(t) ?? /^((\/\S+)) \(0x[0-9a-f]+\)$/.exec(t);
    if (m) libs.push({ name: m[1]!, path: m[2]!, missing: false });
  }
  return result;
}
