/** Depth and alias rules on a schema deep enough to exceed them. */
import { buildSchema, parse, specifiedRules, validate } from 'graphql';
import { limitRules } from '../../src/graphql/limits';

const schema = buildSchema(`type Node { child: Node name: String } type Query { root: Node }`);
const nested = (levels: number): string => `{ ${'root { '.repeat(1)}${'child { '.repeat(levels - 2)}name${' }'.repeat(levels - 1)} }`;
const errorsOf = (q: string) => validate(schema, parse(q), [...specifiedRules, ...limitRules]).map((e) => e.message);

describe('query limits', () => {
  it('allows depth 10 and refuses depth 11', () => {
    expect(errorsOf(nested(10))).toEqual([]);
    expect(errorsOf(nested(11))).toEqual(['Query depth 11 exceeds the limit of 10']);
  });

  it('counts depth through fragments and inline fragments', () => {
    // root > child > (inline) child x8 > name = 11 levels.
    const q = `{ root { ...A } } fragment A on Node { child { ... on Node { ${'child { '.repeat(8)}name${' }'.repeat(8)} } } }`;
    expect(errorsOf(q)).toEqual(['Query depth 11 exceeds the limit of 10']);
  });

  it('does not count __schema / __type subtrees', () => {
    const q = `{ __type(name: "Node") { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }`;
    expect(errorsOf(q)).toEqual([]);
  });

  it('allows 30 aliases and refuses 31', () => {
    const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: root { name }`).join(' ')} }`;
    expect(errorsOf(aliases(30))).toEqual([]);
    expect(errorsOf(aliases(31))).toEqual(['Query uses 31 aliases; the limit is 30']);
  });
});
