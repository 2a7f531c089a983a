import { HoldfastError } from './errors.ts';

/**
 * How deeply parsed JSON may nest. JSON.parse takes any depth, but JSON.stringify and every recursive walk
 * after it overflow the stack somewhere past a few thousand levels, so a small body of `[[[[…` could turn
 * into a 500 or, worse, into an "upstream failure" that ejects a healthy deployment. Real requests (tools'
 * JSON Schemas included) stay far below this.
 */
export const MAX_JSON_DEPTH = 100;

interface Node {
  v: object;
  depth: number;
  key: PropertyKey;
  parent: Node | undefined;
}

/**
 * The path to the first container nested deeper than `max` levels (the root is level 0), or undefined
 * when the whole value is within bounds. Iterative, so the check itself cannot overflow the stack.
 */
export function tooDeep(value: unknown, max = MAX_JSON_DEPTH): PropertyKey[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const stack: Node[] = [{ v: value, depth: 0, key: '', parent: undefined }];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.depth > max) {
      const path: PropertyKey[] = [];
      for (let n: Node | undefined = node; n?.parent; n = n.parent) path.push(n.key);
      return path.reverse();
    }
    const v = node.v as Record<PropertyKey, unknown>;
    for (const k of Array.isArray(v) ? v.keys() : Object.keys(v)) {
      const child = v[k];
      if (typeof child === 'object' && child !== null)
        stack.push({ v: child, depth: node.depth + 1, key: k, parent: node });
    }
  }
  return undefined;
}

/** Refuses a request body nested too deeply, naming the field it happened under (the dialect renders it). */
export function assertShallow(body: unknown): void {
  const path = tooDeep(body);
  if (!path) return;
  const param = path.slice(0, 4).map(String).join('.');
  throw new HoldfastError('invalid_request', {
    param,
    message: `'${param}' is nested more than ${MAX_JSON_DEPTH} levels deep.`,
  });
}
