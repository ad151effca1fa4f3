import { describe, expect, it } from 'vitest';
import { applyCompletion, completionContext, tagSuggestions, valueField, valueSuggestions } from './query-complete';

const names = { span: ['http.method', 'http.route', 'db.system'], resource: ['service.name', 'host.name'] };

describe('completionContext', () => {
  it('completes a scoped tag name being typed', () => {
    const text = '{ span.http.';
    expect(completionContext(text, text.length)).toEqual({ kind: 'tag', start: 2, prefix: 'span.http.' });
  });

  it('completes a value after a comparison, quoted or not', () => {
    const text = '{ span.http.method = "G';
    expect(completionContext(text, text.length)).toEqual({ kind: 'value', tag: 'span.http.method', prefix: 'G', start: 21, quoted: true });
    const bare = '{ status = ';
    expect(completionContext(bare, bare.length)).toEqual({ kind: 'value', tag: 'status', prefix: '', start: 11, quoted: false });
  });

  it('offers nothing on numbers or blank space', () => {
    expect(completionContext('{ duration > 5', 14)).toMatchObject({ kind: 'value', tag: 'duration' });
    expect(completionContext('{ ', 2)).toEqual({ kind: 'none' });
  });

  it('reads SQL comparisons too', () => {
    const text = "SELECT * FROM traces WHERE tags.http.method = 'P";
    expect(completionContext(text, text.length)).toMatchObject({ kind: 'value', tag: 'tags.http.method', prefix: 'P', quoted: true });
  });
});

describe('suggestions', () => {
  it('lists span keys under span.http.', () => {
    expect(tagSuggestions('span.http.', names, 'traceql')).toEqual(['span.http.route', 'span.http.method']);
  });

  it('lists unscoped and resource keys', () => {
    expect(tagSuggestions('.h', names, 'traceql')).toEqual(['.host.name', '.http.route', '.http.method']);
    expect(tagSuggestions('resource.s', names, 'traceql')).toEqual(['resource.service.name']);
  });

  it('lists SQL fields', () => {
    expect(tagSuggestions('tags.d', names, 'sql')).toEqual(['tags.db.system']);
    expect(tagSuggestions('serv', names, 'sql')).toEqual(['service.name']);
  });

  it('quotes string values and leaves keywords and numbers bare', () => {
    const ctx = { kind: 'value' as const, tag: 'span.http.method', prefix: '', start: 0, quoted: false };
    expect(valueSuggestions(ctx, ['GET', 'POST', '200'], 'traceql')).toEqual(['"GET"', '"POST"', '200']);
    expect(valueSuggestions({ ...ctx, tag: 'status' }, ['error', 'ok'], 'traceql')).toEqual(['error', 'ok']);
    expect(valueSuggestions({ ...ctx, prefix: 'p' }, ['GET', 'POST'], 'sql')).toEqual(["'POST'"]);
  });

  it('maps SQL names to the TraceQL field whose values are asked for', () => {
    expect(valueField('tags.http.method', 'sql')).toBe('.http.method');
    expect(valueField('service.name', 'sql')).toBe('resource.service.name');
    expect(valueField('span.http.method', 'traceql')).toBe('span.http.method');
  });
});

describe('applyCompletion', () => {
  it('replaces the partial word and a quoted value with its closing quote', () => {
    const text = '{ span.http. }';
    const ctx = completionContext(text, 12);
    if (ctx.kind === 'none') throw new Error('expected a context');
    expect(applyCompletion(text, 12, ctx, 'span.http.method')).toEqual({ text: '{ span.http.method }', cursor: 18 });
    const v = '{ span.http.method = "G" }';
    const vctx = completionContext(v, 23);
    if (vctx.kind === 'none') throw new Error('expected a context');
    expect(applyCompletion(v, 23, vctx, '"GET"')).toEqual({ text: '{ span.http.method = "GET" }', cursor: 26 });
  });
});
