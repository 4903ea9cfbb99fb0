// SQLite expressions in CHECK constraints, partial-index WHERE clauses and
// index keys, rewritten for PostgreSQL when every part has the same meaning
// there — comparisons, AND/OR/NOT, IN lists, IS [NOT] NULL, BETWEEN, LIKE,
// arithmetic, and a few functions — and refused (for the plan to list)
// otherwise. Boolean columns compared with 0/1 compare with false/true.
import { quoteIdent, quoteLiteral } from "../identifiers";

export interface ExpressionColumn {
  /** the name in SQLite */
  source: string;
  /** the name in PostgreSQL */
  target: string;
  kind: string;
  /** COLLATE NOCASE, become citext: compared case-insensitively */
  nocase?: boolean;
}

export type Translation = { ok: true; sql: string } | { ok: false; reason: string };

type Token = { t: "str" | "num" | "id" | "qid" | "op" | "("; v: string } | { t: ")" | ","; v: string };

const OPS = ["==", "!=", "<>", "<=", ">=", "||", "=", "<", ">", "+", "-", "*", "/", "%"];
const KEYWORDS = new Set(["AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN", "TRUE", "FALSE"]);
// SQLite name → PostgreSQL name, for functions that mean the same on the values pgshift writes.
const FUNCTIONS: Record<string, string> = {
  lower: "lower",
  upper: "upper",
  length: "length",
  trim: "btrim",
  ltrim: "ltrim",
  rtrim: "rtrim",
  abs: "abs",
  coalesce: "coalesce",
  ifnull: "coalesce",
  nullif: "nullif",
};

/** Splits SQLite SQL into tokens; undefined when it holds something this translator does not know. */
export function tokenize(sql: string): Token[] | undefined {
  const out: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let j = i + 1;
      for (;;) {
        const k = sql.indexOf("'", j);
        if (k < 0) return undefined;
        if (sql[k + 1] === "'") j = k + 2;
        else {
          j = k + 1;
          break;
        }
      }
      out.push({ t: "str", v: sql.slice(i, j) });
      i = j;
    } else if (c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      let j = i + 1;
      let name = "";
      for (;;) {
        const k = sql.indexOf(close, j);
        if (k < 0) return undefined;
        name += sql.slice(j, k);
        if (close !== "]" && sql[k + 1] === close) {
          name += close;
          j = k + 2;
        } else {
          j = k + 1;
          break;
        }
      }
      out.push({ t: "qid", v: name });
      i = j;
    } else if (/[0-9.]/.test(c) && /^(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.test(sql.slice(i))) {
      const m = /^(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(sql.slice(i))!;
      out.push({ t: "num", v: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(sql.slice(i))!;
      out.push({ t: "id", v: m[0] });
      i += m[0].length;
    } else if (c === "(" || c === ")" || c === ",") {
      out.push({ t: c, v: c } as Token);
      i++;
    } else {
      const op = OPS.find((o) => sql.startsWith(o, i));
      if (!op) return undefined;
      out.push({ t: "op", v: op });
      i += op.length;
    }
  }
  return out;
}

/** The expression for PostgreSQL, or why it stays behind. */
export function translateExpression(sql: string, columns: ExpressionColumn[]): Translation {
  const tokens = tokenize(sql);
  if (!tokens) return { ok: false, reason: "contains syntax pgshift does not translate" };
  const byName = new Map(columns.map((c) => [c.source.toLowerCase(), c]));
  // Parentheses pair up within the expression: it goes between CHECK ( and ), and must not close them.
  let depth = 0;
  for (const tok of tokens) {
    depth += tok.t === "(" ? 1 : tok.t === ")" ? -1 : 0;
    if (depth < 0) return { ok: false, reason: "has unbalanced parentheses" };
  }
  if (depth !== 0) return { ok: false, reason: "has unbalanced parentheses" };
  const lowered = nocaseComparisons(tokens, byName);
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    const next = tokens[i + 1];
    if (tok.t === "id" && KEYWORDS.has(tok.v.toUpperCase())) {
      out.push(tok.v.toUpperCase());
      continue;
    }
    if (tok.t === "id" && next?.t === "(") {
      const fn = FUNCTIONS[tok.v.toLowerCase()];
      if (!fn) return { ok: false, reason: `uses ${tok.v}(), which has no same-meaning PostgreSQL function here` };
      out.push(`${fn}(`);
      i++;
      continue;
    }
    if (tok.t === "id" && tok.v.toUpperCase() === "LIKE") {
      // SQLite's LIKE ignores ASCII case; PostgreSQL's does not.
      out.push("ILIKE");
      continue;
    }
    if (tok.t === "id" || tok.t === "qid") {
      const col = byName.get(tok.v.toLowerCase());
      if (!col) return { ok: false, reason: `refers to "${tok.v}", which is not a column of the table` };
      out.push(lowered.has(i) ? `pg_catalog.lower(${quoteIdent(col.target)}::pg_catalog.text)` : quoteIdent(col.target));
      if (col.kind === "boolean") i = booleanComparison(tokens, i, out);
      continue;
    }
    if (tok.t === "op") {
      out.push(tok.v === "==" ? "=" : tok.v);
      continue;
    }
    if (tok.t === "str") {
      // Written again from its value: PostgreSQL reads a backslash differently when standard_conforming_strings is off.
      out.push(lowered.has(i) ? `pg_catalog.lower(${quoteLiteral(sqliteString(tok.v))})` : quoteLiteral(sqliteString(tok.v)));
      continue;
    }
    out.push(tok.v);
  }
  // Spaces between pieces, none inside parentheses or before commas (pieces are whole literals, so none is touched).
  let text = "";
  for (const piece of out) text += text === "" || text.endsWith("(") || piece === ")" || piece === "," ? piece : ` ${piece}`;
  return { ok: true, sql: text };
}

const COMPARISONS = new Set(["=", "==", "!=", "<>", "<", ">", "<=", ">="]);

/**
 * Tokens to compare as lower(…) text: a NOCASE (citext) column compared with
 * strings (=, <>, <…, IN, BETWEEN), and those strings. SQLite compares them
 * ignoring case; citext's own operators would too, but they live outside the
 * engine's search_path (pg_catalog only), where the column reads as text.
 */
function nocaseComparisons(tokens: Token[], byName: Map<string, ExpressionColumn>): Set<number> {
  const out = new Set<number>();
  const isNocase = (t: Token | undefined) => (t?.t === "id" || t?.t === "qid") && byName.get(t.v.toLowerCase())?.nocase === true;
  const word = (t: Token | undefined, w: string) => t?.t === "id" && t.v.toUpperCase() === w;
  const str = (j: number) => {
    if (tokens[j]?.t === "str") out.add(j);
  };
  tokens.forEach((tok, i) => {
    if (!isNocase(tok)) return;
    const before = tokens[i - 1];
    const after = tokens[i + 1];
    if (after?.t === "op" && COMPARISONS.has(after.v) && tokens[i + 2]?.t === "str") {
      out.add(i);
      str(i + 2);
    }
    if (before?.t === "op" && COMPARISONS.has(before.v) && tokens[i - 2]?.t === "str") {
      out.add(i);
      str(i - 2);
    }
    const j = word(after, "NOT") ? i + 2 : i + 1;
    if (word(tokens[j], "IN") && tokens[j + 1]?.t === "(") {
      out.add(i);
      for (let k = j + 2; k < tokens.length && tokens[k]!.t !== ")"; k++) str(k);
    }
    if (word(tokens[j], "BETWEEN")) {
      out.add(i);
      str(j + 1);
      str(j + 3);
    }
  });
  return out;
}

/** The value of a SQLite string literal ('it''s'). */
export function sqliteString(literal: string): string {
  return literal.slice(1, -1).replace(/''/g, "'");
}

/** After a boolean column: `= 1` becomes `= true`, `IN (0, 1)` becomes `IN (false, true)`. Returns the last token used. */
function booleanComparison(tokens: Token[], i: number, out: string[]): number {
  const bool = (t: Token | undefined) => (t?.t === "num" && (t.v === "0" || t.v === "1") ? (t.v === "1" ? "true" : "false") : undefined);
  const op = tokens[i + 1];
  if (op?.t === "op" && ["=", "==", "!=", "<>"].includes(op.v) && bool(tokens[i + 2])) {
    out.push(op.v === "==" ? "=" : op.v, bool(tokens[i + 2])!);
    return i + 2;
  }
  let j = i + 1;
  const not = tokens[j]?.t === "id" && tokens[j]!.v.toUpperCase() === "NOT";
  if (not) j++;
  if (tokens[j]?.t === "id" && tokens[j]!.v.toUpperCase() === "IN" && tokens[j + 1]?.t === "(") {
    const values: string[] = [];
    let k = j + 2;
    for (; tokens[k] && tokens[k]!.t !== ")"; k++) {
      if (tokens[k]!.t === ",") continue;
      const b = bool(tokens[k]);
      if (!b) return i;
      values.push(b);
    }
    if (!tokens[k]) return i;
    out.push(...(not ? ["NOT"] : []), "IN", `(${values.join(", ")})`);
    return k;
  }
  return i;
}

/** Top-level pieces of a parenthesised list (a CREATE TABLE body, an index's keys), split on commas. */
export function splitTopLevel(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === "'" || c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      const k = body.indexOf(close, i + 1);
      i = k < 0 ? body.length : k;
    } else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      parts.push(body.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(body.slice(start).trim());
  return parts.filter(Boolean);
}

/** The text inside the parentheses that open at `open`. */
export function balanced(sql: string, open: number): string | undefined {
  let depth = 0;
  for (let i = open; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      const k = sql.indexOf(close, i + 1);
      if (k < 0) return undefined;
      i = k;
    } else if (c === "(") depth++;
    else if (c === ")" && --depth === 0) return sql.slice(open + 1, i);
  }
  return undefined;
}

export interface TableDefinition {
  /** column name → its definition's text after the name */
  columns: Map<string, string>;
  /** CHECK expressions, with the constraint's name when it has one and the column it was written on */
  checks: { name?: string; expression: string; column?: string }[];
}

const unquote = (s: string) => (/^["`[]/.test(s) ? s.slice(1, -1).replace(/""/g, '"') : s);

/**
 * The SQL with its comments (`-- …` to the end of the line, and block
 * comments) made spaces, quoted text left alone: SQLite keeps a statement as written,
 * and a quote in a comment would otherwise shift every quote after it.
 */
export function withoutComments(sql: string): string {
  let out = "";
  for (let i = 0; i < sql.length;) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === "`" || c === "[") {
      const end = quotedEnd(sql, i);
      out += sql.slice(i, end);
      i = end;
    } else if (c === "-" && sql[i + 1] === "-") {
      const nl = sql.indexOf("\n", i);
      i = nl < 0 ? sql.length : nl;
      out += " ";
    } else if (c === "/" && sql[i + 1] === "*") {
      const close = sql.indexOf("*/", i + 2);
      i = close < 0 ? sql.length : close + 2;
      out += " ";
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Where the quoted text that opens at `i` ends (just past its closing quote; a doubled quote stays inside). */
function quotedEnd(sql: string, i: number): number {
  const close = sql[i] === "[" ? "]" : sql[i]!;
  let j = i + 1;
  for (;;) {
    const k = sql.indexOf(close, j);
    if (k < 0) return sql.length;
    if (close !== "]" && sql[k + 1] === close) j = k + 2;
    else return k + 1;
  }
}

/** The first "(" outside quoted text (a table may be named "("). */
export function firstParen(sql: string): number {
  for (let i = 0; i < sql.length;) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === "`" || c === "[") i = quotedEnd(sql, i);
    else if (c === "(") return i;
    else i++;
  }
  return -1;
}

/** Column definitions and CHECK constraints of a CREATE TABLE statement. */
export function parseCreateTable(written: string): TableDefinition {
  const createSql = withoutComments(written);
  const open = firstParen(createSql);
  const body = open < 0 ? undefined : balanced(createSql, open);
  const def: TableDefinition = { columns: new Map(), checks: [] };
  if (!body) return def;
  for (const part of splitTopLevel(body)) {
    const isConstraint = /^(CONSTRAINT|PRIMARY|UNIQUE|CHECK|FOREIGN)\b/i.test(part);
    let column: string | undefined;
    if (!isConstraint) {
      const m = /^("(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|[^\s(]+)\s*/.exec(part);
      if (!m) continue;
      column = unquote(m[1]!);
      def.columns.set(column, part.slice(m[0].length));
    }
    // Every CHECK (…) in the part, with the CONSTRAINT name written just before it.
    const re = /(?:CONSTRAINT\s+("(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|\w+)\s+)?CHECK\s*\(/gi;
    for (let m = re.exec(part); m; m = re.exec(part)) {
      const expression = balanced(part, m.index + m[0].length - 1);
      if (expression === undefined) continue;
      def.checks.push({ ...(m[1] ? { name: unquote(m[1]) } : {}), expression: expression.trim(), ...(column ? { column } : {}) });
    }
  }
  return def;
}
