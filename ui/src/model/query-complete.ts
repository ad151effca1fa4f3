// Autocompletion of the query box: what is being typed at the cursor (a tag name or, after a
// comparison, a value of a tag) and the suggestions for it, for TraceQL and for the SQL form.

export type Language = 'traceql' | 'sql';

export type CompletionContext =
  | { kind: 'tag'; start: number; prefix: string }
  | { kind: 'value'; start: number; prefix: string; tag: string; quoted: boolean }
  | { kind: 'none' };

const WORD = /[A-Za-z0-9_.:\-]/;
const INTRINSICS = ['name', 'status', 'kind', 'duration', 'statusMessage', 'trace:duration', 'trace:rootName', 'trace:rootService'];
const KEYWORD_FIELDS = new Set(['status', 'kind', 'span:status', 'span:kind']);
const SQL_FIELDS = ['duration', 'service.name', 'operation.name'];

/** What the cursor at `cursor` is completing in `text`. */
export function completionContext(text: string, cursor: number): CompletionContext {
  const before = text.slice(0, cursor);
  // A value: `<field> <op> ["partial` right before the cursor.
  const value = /([A-Za-z_.:][A-Za-z0-9_.:\-]*)\s*(?:=~|!~|!=|>=|<=|=|>|<)\s*("|')?([^"'\s}&|)]*)$/.exec(before);
  if (value) {
    const quoted = value[2] !== undefined;
    return { kind: 'value', tag: value[1], prefix: value[3], start: cursor - value[3].length - (quoted ? 1 : 0), quoted };
  }
  let start = cursor;
  while (start > 0 && WORD.test(before[start - 1])) start--;
  const prefix = before.slice(start);
  if (prefix === '' || /^[0-9]/.test(prefix)) return { kind: 'none' };
  return { kind: 'tag', start, prefix };
}

/** The TraceQL field the values endpoint is asked about for a tag as written in `language`. */
export function valueField(tag: string, language: Language): string {
  if (language === 'sql') {
    if (tag === 'service.name' || tag === 'service') return 'resource.service.name';
    if (tag === 'operation.name' || tag === 'operation') return 'name';
    if (tag.startsWith('tags.')) return `.${tag.slice(5)}`;
    return tag;
  }
  return tag;
}

/** Tag names to suggest for `prefix` (at most `max`), from the server's span and resource keys. */
export function tagSuggestions(prefix: string, names: { span: string[]; resource: string[] }, language: Language, max = 12): string[] {
  const all =
    language === 'sql'
      ? [...SQL_FIELDS, ...names.span.map((k) => `tags.${k}`)]
      : prefix.startsWith('.')
        ? [...names.span, ...names.resource].map((k) => `.${k}`)
        : [...names.span.map((k) => `span.${k}`), ...names.resource.map((k) => `resource.${k}`), ...INTRINSICS];
  const p = prefix.toLowerCase();
  const out = [...new Set(all)].filter((s) => s.toLowerCase().startsWith(p) && s !== prefix);
  return out.sort((a, b) => a.length - b.length || a.localeCompare(b)).slice(0, max);
}

/** Values to suggest, written as they go into the query (strings quoted, keywords and numbers bare). */
export function valueSuggestions(ctx: Extract<CompletionContext, { kind: 'value' }>, values: string[], language: Language, max = 12): string[] {
  const q = language === 'sql' ? "'" : '"';
  const bare = (v: string) => KEYWORD_FIELDS.has(ctx.tag) || (!ctx.quoted && /^(-?\d+(\.\d+)?|true|false)$/.test(v));
  const p = ctx.prefix.toLowerCase();
  return values
    .filter((v) => v.toLowerCase().startsWith(p))
    .slice(0, max)
    .map((v) => (bare(v) ? v : `${q}${v.replace(/\\/g, '\\\\').replace(new RegExp(q, 'g'), `\\${q}`)}${q}`));
}

/** `text` with the completed part replaced by `choice`; returns the new text and cursor. */
export function applyCompletion(text: string, cursor: number, ctx: Exclude<CompletionContext, { kind: 'none' }>, choice: string): { text: string; cursor: number } {
  let end = cursor;
  // Swallow the rest of the word (and a closing quote) under the cursor.
  while (end < text.length && WORD.test(text[end])) end++;
  if (ctx.kind === 'value' && ctx.quoted && (text[end] === '"' || text[end] === "'")) end++;
  const next = text.slice(0, ctx.start) + choice + text.slice(end);
  return { text: next, cursor: ctx.start + choice.length };
}
