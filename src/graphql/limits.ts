/**
 * Depth and alias limits as graphql-js validation rules, shared by HTTP and graphql-ws.
 * Written here rather than taken from graphql-armor because PRESENCE.md exempts both
 * `__schema` and `__type` subtrees from depth (armor exempts only `__schema`) and the
 * errors must be ordinary validation errors (armor throws out of validation).
 */
import {
  ASTNode,
  FragmentDefinitionNode,
  GraphQLError,
  Kind,
  OperationDefinitionNode,
  SelectionSetNode,
  ValidationContext,
  ValidationRule,
} from 'graphql';

export const MAX_DEPTH = 10;
export const MAX_ALIASES = 30;

const INTROSPECTION_ROOTS = new Set(['__schema', '__type']);

function selectionDepth(set: SelectionSetNode | undefined, ctx: ValidationContext, seen: Set<string>): number {
  if (!set) return 0;
  let deepest = 0;
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) {
      if (INTROSPECTION_ROOTS.has(sel.name.value)) continue;
      deepest = Math.max(deepest, 1 + selectionDepth(sel.selectionSet, ctx, seen));
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      deepest = Math.max(deepest, selectionDepth(sel.selectionSet, ctx, seen));
    } else {
      const name = sel.name.value;
      const fragment: FragmentDefinitionNode | null | undefined = ctx.getFragment(name);
      // A fragment cycle is reported by graphql-js's own NoFragmentCycles rule.
      if (!fragment || seen.has(name)) continue;
      seen.add(name);
      deepest = Math.max(deepest, selectionDepth(fragment.selectionSet, ctx, seen));
      seen.delete(name);
    }
  }
  return deepest;
}

function aliasCount(set: SelectionSetNode | undefined, ctx: ValidationContext, seen: Set<string>): number {
  if (!set) return 0;
  let count = 0;
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) {
      count += (sel.alias ? 1 : 0) + aliasCount(sel.selectionSet, ctx, seen);
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      count += aliasCount(sel.selectionSet, ctx, seen);
    } else {
      const fragment = ctx.getFragment(sel.name.value);
      if (!fragment || seen.has(sel.name.value)) continue;
      seen.add(sel.name.value);
      count += aliasCount(fragment.selectionSet, ctx, seen);
      seen.delete(sel.name.value);
    }
  }
  return count;
}

function operationRule(check: (op: OperationDefinitionNode, ctx: ValidationContext) => string | null): ValidationRule {
  return (ctx) => ({
    OperationDefinition(node: OperationDefinitionNode) {
      const problem = check(node, ctx);
      if (problem) ctx.reportError(new GraphQLError(problem, { nodes: [node as ASTNode] }));
    },
  });
}

export const maxDepthRule = operationRule((op, ctx) => {
  const depth = selectionDepth(op.selectionSet, ctx, new Set());
  return depth > MAX_DEPTH ? `Query depth ${depth} exceeds the limit of ${MAX_DEPTH}` : null;
});

export const maxAliasesRule = operationRule((op, ctx) => {
  const aliases = aliasCount(op.selectionSet, ctx, new Set());
  return aliases > MAX_ALIASES ? `Query uses ${aliases} aliases; the limit is ${MAX_ALIASES}` : null;
});

export const limitRules: ValidationRule[] = [maxDepthRule, maxAliasesRule];
