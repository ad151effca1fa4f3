// logfmt, as typed into the Tags field of the search form: `key=value key2="a b" key3="say \"hi\""`.

export interface LogfmtResult {
  tags: Record<string, string>;
  /** Set when the text is not valid logfmt; says where. */
  error: string | null;
}

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';

function readQuoted(text: string, from: number): { value: string; next: number } | null {
  // text[from] is the opening quote.
  let out = '';
  let i = from + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length) {
      const e = text[i + 1];
      out += e === 'n' ? '\n' : e === 't' ? '\t' : e;
      i += 2;
      continue;
    }
    if (c === '"') return { value: out, next: i + 1 };
    out += c;
    i++;
  }
  return null;
}

export function parseLogfmt(text: string): LogfmtResult {
  const tags: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    while (i < text.length && isSpace(text[i])) i++;
    if (i >= text.length) break;
    let key: string;
    if (text[i] === '"') {
      const q = readQuoted(text, i);
      if (!q) return { tags, error: `unterminated quote in key at position ${i + 1}` };
      key = q.value;
      i = q.next;
    } else {
      const keyStart = i;
      while (i < text.length && text[i] !== '=' && !isSpace(text[i])) i++;
      key = text.slice(keyStart, i);
    }
    if (key === '') return { tags, error: `missing key before "=" at position ${i + 1}` };
    if (text[i] !== '=') return { tags, error: `expected key=value, found "${key}" without a value` };
    i++;
    let value: string;
    if (text[i] === '"') {
      const q = readQuoted(text, i);
      if (!q) return { tags, error: `unterminated quote in the value of "${key}"` };
      value = q.value;
      i = q.next;
      if (i < text.length && !isSpace(text[i])) return { tags, error: `expected a space after the quoted value of "${key}"` };
    } else {
      const valueStart = i;
      while (i < text.length && !isSpace(text[i])) i++;
      value = text.slice(valueStart, i);
    }
    tags[key] = value;
  }
  return { tags, error: null };
}

function quoteIfNeeded(s: string): string {
  if (s !== '' && !/[\s"=\\]/.test(s)) return s;
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
}

export function stringifyLogfmt(tags: Record<string, string>): string {
  return Object.entries(tags)
    .map(([k, v]) => `${quoteIfNeeded(k)}=${quoteIfNeeded(v)}`)
    .join(' ');
}
