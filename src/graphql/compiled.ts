/**
 * Execution through graphql-jit: a document that runs often is compiled once into a
 * function that resolves its selection directly, instead of graphql-js walking the AST on
 * every execution (collecting fields, building a resolve info and coercing arguments per
 * field). A presenceChanged event ran in ~22 µs with graphql-js and ~4 µs compiled; over a
 * socket every mutation and every fan-out event pays that once.
 *
 * Validation stays with graphql-js (the ws server validates before it executes), and so
 * does a document's first run: only one seen COMPILE_AFTER times is compiled, so a client
 * that sends a new query text each time makes the server parse and validate, not compile.
 * Refused variables are answered by graphql-js too, so error messages do not depend on
 * whether a document has been compiled yet (test/unit/compiled-execution.test.ts).
 */
import { DocumentNode, ExecutionArgs, ExecutionResult, GraphQLSchema, execute } from 'graphql';
import { CompiledQuery, compileQuery, isCompiledQuery } from 'graphql-jit';

/** Runs before a document is compiled (its earlier runs use graphql-js). */
export const COMPILE_AFTER = 2;

type PromiseOrValue<T> = T | Promise<T>;

/** One operation of one document: its runs so far, then its compiled form (null: not compilable). */
interface Entry {
  runs: number;
  compiled?: CompiledQuery | null;
}

export type Executor = (args: ExecutionArgs) => PromiseOrValue<ExecutionResult>;

/** The compiled form, or null when graphql-jit refuses the document (it answers errors or throws). */
function compile(args: ExecutionArgs): CompiledQuery | null {
  try {
    const compiled = compileQuery(args.schema, args.document, args.operationName ?? undefined);
    return isCompiledQuery(compiled) ? compiled : null;
  } catch {
    return null;
  }
}

/**
 * An `execute` for `schema` that compiles each (document, operation name) on its
 * COMPILE_AFTER-th run. Entries live as long as their DocumentNode (the ws server's document
 * cache holds those). Anything graphql-jit cannot compile, another schema, and arguments it
 * does not handle (a field resolver or type resolver passed in) stay with graphql-js.
 */
export function createCompiledExecutor(schema: GraphQLSchema): Executor {
  const entries = new WeakMap<DocumentNode, Map<string, Entry>>();
  return (args) => {
    if (args.schema !== schema || args.fieldResolver || args.typeResolver || args.subscribeFieldResolver) return execute(args);
    let byName = entries.get(args.document);
    if (!byName) entries.set(args.document, (byName = new Map()));
    const name = args.operationName ?? '';
    let entry = byName.get(name);
    if (!entry) byName.set(name, (entry = { runs: 0 }));
    if (entry.compiled === undefined && ++entry.runs >= COMPILE_AFTER) entry.compiled = compile(args);
    if (!entry.compiled) return execute(args);
    const result = entry.compiled.query(args.rootValue, args.contextValue, args.variableValues ?? {});
    // No data at all: the variables were refused before anything ran. graphql-js says why in
    // its own words (graphql-jit names the input field, not the variable and path).
    if (!(result instanceof Promise) && result.data === undefined && result.errors) return execute(args);
    return result;
  };
}
