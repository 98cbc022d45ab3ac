/**
 * The compiled executor answers exactly as graphql-js does, before a document is compiled
 * (its first COMPILE_AFTER - 1 runs) and after: data, error messages, paths and codes, and
 * null propagation. Only what it runs changes, which the call counts show.
 */
import { GraphQLError, GraphQLSchema, buildSchema, execute, parse } from 'graphql';
import { COMPILE_AFTER, createCompiledExecutor } from '../../src/graphql/compiled';

// graphql-js's execute, counted: the compiled executor must stop calling it once it compiled.
jest.mock('graphql', () => {
  const actual = jest.requireActual<typeof import('graphql')>('graphql');
  return { ...actual, execute: jest.fn(actual.execute) };
});
const graphqlJsRuns = execute as jest.MockedFunction<typeof execute>;

function testSchema(calls: { n: number }): GraphQLSchema {
  const schema = buildSchema(`
    type Item { id: ID! name: String! tags: [String!]! }
    input Filter { prefix: String! limit: Int = 2 }
    type Query {
      items(filter: Filter!): [Item!]!
      refused: Item
      broken: Item!
      later(ms: Int!): String!
    }
  `);
  const fields = (schema.getQueryType() as NonNullable<ReturnType<GraphQLSchema['getQueryType']>>).getFields();
  fields.items.resolve = (_root, args: { filter: { prefix: string; limit: number } }) => {
    calls.n++;
    return Array.from({ length: args.filter.limit }, (_, i) => ({ id: `${args.filter.prefix}${i}`, name: `item ${i}`, tags: ['a', 'b'] }));
  };
  fields.refused.resolve = () => {
    throw new GraphQLError('not yours', { extensions: { code: 'FORBIDDEN' } });
  };
  fields.broken.resolve = () => ({ id: 'x', name: null, tags: [] });
  fields.later.resolve = async (_root, args: { ms: number }) => `after ${args.ms}`;
  return schema;
}

/** What a client would receive: the JSON of the result. */
const wire = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('compiled execution', () => {
  const cases: Array<{ name: string; query: string; variables?: Record<string, unknown> }> = [
    { name: 'variables and defaults', query: 'query Q($p: String!) { items(filter: { prefix: $p }) { id name tags } }', variables: { p: 'k' } },
    { name: 'an input object variable', query: 'query Q($f: Filter!) { items(filter: $f) { id } }', variables: { f: { prefix: 'z', limit: 3 } } },
    { name: 'a missing variable', query: 'query Q($p: String!) { items(filter: { prefix: $p }) { id } }', variables: {} },
    { name: 'a variable of the wrong type', query: 'query Q($f: Filter!) { items(filter: $f) { id } }', variables: { f: { prefix: 1, limit: 'many' } } },
    { name: 'a resolver error with a code', query: '{ refused { id } }' },
    { name: 'a null in a non-null field', query: '{ broken { id name } }' },
    { name: 'an async resolver', query: 'query Q($ms: Int!) { later(ms: $ms) }', variables: { ms: 5 } },
    {
      name: 'fragments, aliases and @include',
      query: 'query Q($t: Boolean!) { a: items(filter: { prefix: "f", limit: 1 }) { ...F tags @include(if: $t) } b: items(filter: { prefix: "g" }) { ...F } } fragment F on Item { id name }',
      variables: { t: false },
    },
    { name: 'introspection', query: '{ __typename __schema { queryType { name fields { name args { name defaultValue } } } } __type(name: "Filter") { inputFields { name } } }' },
  ];

  it.each(cases)('$name: the same answer on every run, compiled or not', async ({ query, variables }) => {
    const schema = testSchema({ n: 0 });
    const document = parse(query);
    const compiledExecute = createCompiledExecutor(schema);
    const expected = wire(await execute({ schema, document, variableValues: variables, operationName: undefined }));
    for (let run = 1; run <= COMPILE_AFTER + 2; run++) {
      expect(wire(await compiledExecute({ schema, document, variableValues: variables }))).toEqual(expected);
    }
  });

  it('runs graphql-js until a document has run COMPILE_AFTER times, then only the compiled form', async () => {
    const schema = testSchema({ n: 0 });
    const document = parse('query Q($p: String!) { items(filter: { prefix: $p }) { id name } }');
    const compiledExecute = createCompiledExecutor(schema);
    graphqlJsRuns.mockClear();
    for (let run = 1; run <= COMPILE_AFTER + 3; run++) await compiledExecute({ schema, document, variableValues: { p: 'r' } });
    expect(graphqlJsRuns).toHaveBeenCalledTimes(COMPILE_AFTER - 1);
    // Refused variables go back to graphql-js for its error message.
    await compiledExecute({ schema, document, variableValues: {} });
    expect(graphqlJsRuns).toHaveBeenCalledTimes(COMPILE_AFTER);
  });

  it('keeps a resolver error an error with its code, path and location', async () => {
    const schema = testSchema({ n: 0 });
    const document = parse('{ refused { id } }');
    const compiledExecute = createCompiledExecutor(schema);
    for (let run = 1; run <= COMPILE_AFTER + 1; run++) {
      const result = await compiledExecute({ schema, document });
      expect(result.errors?.[0]).toBeInstanceOf(GraphQLError);
      expect(result.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN' });
      expect(result.errors?.[0]?.path).toEqual(['refused']);
      expect(result.data).toEqual({ refused: null });
    }
  });

  it('runs graphql-js for another schema and for a custom field resolver', async () => {
    const calls = { n: 0 };
    const schema = testSchema(calls);
    const other = testSchema(calls);
    const document = parse('{ items(filter: { prefix: "o" }) { id } }');
    const compiledExecute = createCompiledExecutor(schema);
    for (let run = 0; run < COMPILE_AFTER + 1; run++) await compiledExecute({ schema, document });
    const viaOther = await compiledExecute({ schema: other, document });
    expect(wire(viaOther)).toEqual({ data: { items: [{ id: 'o0' }, { id: 'o1' }] } });
    const custom = await compiledExecute({ schema, document, fieldResolver: () => 'custom' });
    // graphql-js used the given resolver for the default-resolved fields.
    expect(wire(custom)).toEqual({ data: { items: [{ id: 'custom' }, { id: 'custom' }] } });
    expect(calls.n).toBe(COMPILE_AFTER + 3);
  });
});
