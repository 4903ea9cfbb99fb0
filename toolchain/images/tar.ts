// A tar writer whose output depends only on the entries given: no timestamps,
// owners or order from the machine that builds it, so the same inputs give the
// same layer digest on every machine (the image cache and containerd's content
// store both key on it). POSIX ustar, with a pax header for names or link
// targets too long for ustar.
import { readSync } from "node:fs";

export type TarEntry =
  | { type: "dir"; path: string; mode: number; uid?: number; gid?: number }
  | { type: "file"; path: string; mode: number; content: Buffer; uid?: number; gid?: number }
  | { type: "symlink"; path: string; target: string };

export class TarEntryError extends Error {
  constructor(
    public readonly entryPath: string,
    message: string,
  ) {
    super(`tar entry ${entryPath}: ${message}`);
    this.name = "TarEntryError";
  }
}

const BLOCK = 512;

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

function header(name: string, typeflag: string, size: number, mode: number, uid: number, gid: number, linkname: string): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, "utf8");
  h.write(octal(mode & 0o7777, 8), 100, "ascii");
  h.write(octal(uid, 8), 108, "ascii");
  h.write(octal(gid, 8), 116, "ascii");
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(0, 12), 136, "ascii");
  h.write(" ".repeat(8), 148, "ascii");
  h.write(typeflag, 156, "ascii");
  h.write(linkname, 157, 100, "utf8");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(octal(sum, 7) + " ", 148, "ascii");
  return h;
}

function pad(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

function paxRecord(key: string, value: string): string {
  // The length prefix counts itself, so grow it until it is stable.
  const body = ` ${key}=${value}\n`;
  const b = Buffer.byteLength(body);
  let total = b + String(b).length;
  if (String(total).length !== String(b).length) total = b + String(total).length;
  return `${total}${body}`;
}

/** The archive as buffers to concatenate; entries are sorted by path and each path may appear once. */
export function tarArchive(entries: TarEntry[]): Buffer[] {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const out: Buffer[] = [];
  let previous = "";
  for (const e of sorted) {
    if (e.path === previous) throw new TarEntryError(e.path, "appears twice");
    previous = e.path;
    if (e.path.startsWith("/") || e.path.split("/").includes("..")) throw new TarEntryError(e.path, "must be relative, without '..'");
    const name = e.type === "dir" && !e.path.endsWith("/") ? `${e.path}/` : e.path;
    const link = e.type === "symlink" ? e.target : "";
    const pax: string[] = [];
    if (Buffer.byteLength(name) > 100) pax.push(paxRecord("path", name));
    if (Buffer.byteLength(link) > 100) pax.push(paxRecord("linkpath", link));
    if (pax.length > 0) {
      const data = Buffer.from(pax.join(""), "utf8");
      out.push(header("PaxHeader", "x", data.length, 0o644, 0, 0, ""), data, pad(data.length));
    }
    const shortName = Buffer.from(name, "utf8").subarray(0, 100).toString("utf8");
    const shortLink = Buffer.from(link, "utf8").subarray(0, 100).toString("utf8");
    if (e.type === "dir") out.push(header(shortName, "5", 0, e.mode, e.uid ?? 0, e.gid ?? 0, ""));
    else if (e.type === "symlink") out.push(header(shortName, "2", 0, 0o777, 0, 0, shortLink));
    else out.push(header(shortName, "0", e.content.length, e.mode, e.uid ?? 0, e.gid ?? 0, ""), e.content, pad(e.content.length));
  }
  out.push(Buffer.alloc(BLOCK * 2));
  return out;
}

/** One member of a tar file (ustar names only), read by walking its headers; undefined when absent. */
export function readTarMember(fd: number, name: string): Buffer | undefined {
  const h = Buffer.alloc(BLOCK);
  let offset = 0;
  for (;;) {
    if (readSync(fd, h, 0, BLOCK, offset) < BLOCK || h.every((b) => b === 0)) return undefined;
    const entryName = h.subarray(0, 100).toString("utf8").replace(/\0.*$/s, "");
    const size = parseInt(h.subarray(124, 136).toString("ascii").replace(/\0.*$/s, "").trim() || "0", 8);
    if (entryName === name) {
      const data = Buffer.alloc(size);
      readSync(fd, data, 0, size, offset + BLOCK);
      return data;
    }
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
}
