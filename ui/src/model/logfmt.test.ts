import { describe, expect, it } from 'vitest';
import { parseLogfmt, stringifyLogfmt } from './logfmt';

describe('parseLogfmt', () => {
  it('parses plain and quoted values', () => {
    expect(parseLogfmt('key=value key2="a b"  http.status_code=500')).toEqual({
      tags: { key: 'value', key2: 'a b', 'http.status_code': '500' },
      error: null,
    });
  });
  it('handles escapes, empty values and quoted keys', () => {
    expect(parseLogfmt('msg="say \\"hi\\"" empty= "odd key"=1 path="c:\\\\x"').tags).toEqual({ msg: 'say "hi"', empty: '', 'odd key': '1', path: 'c:\\x' });
  });
  it('keeps = inside values', () => {
    expect(parseLogfmt('q=a=b').tags).toEqual({ q: 'a=b' });
  });
  it('is empty for blank input', () => {
    expect(parseLogfmt('   ')).toEqual({ tags: {}, error: null });
  });
  it('reports malformed input', () => {
    expect(parseLogfmt('justakey').error).toMatch(/without a value/);
    expect(parseLogfmt('=v').error).toMatch(/missing key/);
    expect(parseLogfmt('k="open').error).toMatch(/unterminated/);
    expect(parseLogfmt('k="a"b').error).toMatch(/space after/);
  });
  it('round-trips through stringify', () => {
    const tags = { a: '1', 'b c': 'x y', q: 'say "hi"', e: '' };
    expect(parseLogfmt(stringifyLogfmt(tags)).tags).toEqual(tags);
    expect(stringifyLogfmt({ error: 'true', msg: 'a b' })).toBe('error=true msg="a b"');
  });
});
