// Errors carry where things went wrong (table, key, column, value) and map to
// the CLI's exit codes: 1 = verification found differences, 2 = bad input,
// usage or connection. Messages are written for someone reading them at 2 a.m.

export const EXIT_OK = 0;
export const EXIT_MISMATCH = 1;
export const EXIT_BAD_INPUT = 2;

export class PgshiftError extends Error {
  readonly exitCode: number = EXIT_BAD_INPUT;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Wrong flags, missing files, unreadable SQLite. */
export class UsageError extends PgshiftError {}

/** PostgreSQL could not be reached or refused the login. */
export class ConnectionError extends PgshiftError {}

/** The target holds something pgshift must not overwrite. */
export class TargetConflictError extends PgshiftError {
  constructor(
    readonly table: string,
    message: string,
  ) {
    super(message);
  }
}

/** Keeps error output short when a value is huge (a 5 MB blob in a TEXT column). */
export function truncateValue(value: unknown, max = 80): string {
  let s: string;
  if (value === null || value === undefined) s = "NULL";
  else if (Buffer.isBuffer(value)) s = `x'${value.subarray(0, 40).toString("hex")}${value.length > 40 ? "…" : ""}' (${value.length} bytes)`;
  else if (typeof value === "string") s = JSON.stringify(value);
  // A whole REAL beyond 2^53 with every digit: 2^63 is 9223372036854775808, not JavaScript's 9223372036854776000.
  else if (typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value)) s = BigInt(value).toString();
  else s = String(value);
  return s.length > max ? s.slice(0, max) + `… (${s.length} chars)` : s;
}

export function describeKey(key: Record<string, unknown> | undefined): string {
  if (!key) return "(row position unknown)";
  return Object.entries(key)
    .map(([k, v]) => `${k}=${truncateValue(v, 40)}`)
    .join(", ");
}

/** A value the cast rules cannot turn into the target type. Stops the table. */
export class ValueConversionError extends PgshiftError {
  constructor(
    readonly table: string,
    readonly column: string,
    readonly key: Record<string, unknown> | undefined,
    readonly value: unknown,
    readonly reason: string,
    readonly hint?: string,
  ) {
    super(
      `Cannot convert a value in table "${table}", row ${describeKey(key)}, column "${column}": ${reason}.\n` +
        `  value: ${truncateValue(value)}\n` +
        `  Nothing of table "${table}" was written. ${hint ?? "Fix the row in SQLite, or override the column's cast (see `pgshift plan`)."}`,
    );
  }
}

/** PostgreSQL rejected data or DDL for one table; the table's transaction was rolled back. */
export class LoadError extends PgshiftError {
  constructor(
    readonly table: string,
    message: string,
    readonly pgError?: unknown,
  ) {
    super(message);
  }
}

/** The copy finished but the data differs; exit code 1. */
export class VerificationError extends PgshiftError {
  override readonly exitCode = EXIT_MISMATCH;
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof PgshiftError) return err.exitCode;
  return EXIT_BAD_INPUT;
}
