// Progress on stderr: a bar per table on a terminal, plain lines otherwise
// (CI logs, `pulumi up`), never on stdout, which --json keeps for the report.
import cliProgress from "cli-progress";
import type { ProgressEvent } from "../engine";

export interface Progress {
  update(e: ProgressEvent): void;
  stop(): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) return barProgress(stream);
  return lineProgress(stream);
}

function barProgress(stream: NodeJS.WriteStream): Progress {
  const multi = new cliProgress.MultiBar(
    {
      stream,
      format: " {table} |{bar}| {value}/{total} rows {phase} {rate}",
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, { bar: cliProgress.SingleBar; started: number }>();
  const width = 18;
  return {
    update(e) {
      let b = bars.get(e.table);
      if (!b) {
        b = { bar: multi.create(Math.max(e.total, 1), 0, { table: e.table.padEnd(width).slice(0, width), phase: e.phase, rate: "" }), started: Date.now() };
        bars.set(e.table, b);
      }
      const secs = (Date.now() - b.started) / 1000;
      const rate = e.phase === "copy" && secs > 0.5 ? `${Math.round(e.rows / secs)} rows/s` : "";
      b.bar.setTotal(Math.max(e.total, 1));
      b.bar.update(e.phase === "copy" ? e.rows : e.phase === "done" || e.phase === "keep" ? Math.max(e.total, 1) : e.rows, { phase: e.phase, rate });
    },
    stop() {
      multi.stop();
    },
  };
}

function lineProgress(stream: NodeJS.WriteStream): Progress {
  // PGSHIFT_PROGRESS_INTERVAL_MS=0 prints every step (tests use it to act mid-copy).
  const interval = Number(process.env.PGSHIFT_PROGRESS_INTERVAL_MS ?? 2000);
  const last = new Map<string, { at: number; phase: string; started: number }>();
  return {
    update(e) {
      const now = Date.now();
      const prev = last.get(e.table);
      const started = prev?.started ?? now;
      // Phase changes always print; copy progress at most every `interval` ms.
      if (prev && prev.phase === e.phase && now - prev.at < interval) return;
      last.set(e.table, { at: now, phase: e.phase, started });
      const secs = (now - started) / 1000;
      const rate = e.phase === "copy" && secs > 0.5 ? ` (${Math.round(e.rows / secs)} rows/s)` : "";
      stream.write(`[pgshift] ${e.table}: ${e.phase} ${e.rows}/${e.total} rows${rate}\n`);
    },
    stop() {},
  };
}
