// Reads the YAML configuration file into a plain object, and locates keys in it (file:line)
// so that schema problems can say where they came from.
import { isNode, LineCounter, parseDocument } from 'yaml';
import type { ConfigIssue } from './config-error.ts';
import { describeSections } from './describe-config.ts';

/** A parsed configuration file. */
export interface ConfigFile {
  readonly data: Record<string, unknown>;
  /** `onair.yaml:12` for the node at `path`, if the file has it. */
  readonly sourceOf: (path: readonly string[]) => string | undefined;
}

/**
 * Reads and parses the YAML file at `options.path`. Problems (unreadable, syntax, not a
 * mapping) are pushed to `options.issues` and give undefined.
 */
export function readConfigFile(options: {
  readonly path: string;
  readonly from: string;
  readonly readFile: (path: string) => string;
  readonly issues: ConfigIssue[];
}): ConfigFile | undefined {
  const { path, issues } = options;
  let text: string;
  try {
    text = options.readFile(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    issues.push({
      key: options.from,
      rule: 'file_unreadable',
      value: path,
      message: `cannot read the file: ${reason}`,
    });
    return undefined;
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  if (doc.errors.length > 0) {
    // The first line of a yaml error says what and where; the rest quotes the file.
    for (const error of doc.errors) {
      issues.push({
        key: path,
        rule: 'yaml_syntax',
        value: undefined,
        message: firstLine(error.message),
      });
    }
    return undefined;
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    issues.push({ key: path, rule: 'yaml_syntax', value: undefined, message: firstLine(message) });
    return undefined;
  }
  data ??= {};
  if (!isPlainObject(data)) {
    issues.push({
      key: path,
      rule: 'invalid_type',
      value: undefined,
      message: 'must be a mapping of sections (rtmp:, http:, hub:, log:...)',
    });
    return undefined;
  }
  // `rtmp:` with every key under it commented out parses as null: treat it as empty.
  for (const section of describeSections()) {
    const parent = getAt(data, section.path.slice(0, -1));
    const name = section.path.at(-1) ?? '';
    if (isPlainObject(parent) && Object.hasOwn(parent, name) && parent[name] === null) {
      parent[name] = {};
    }
  }
  const sourceOf = (keyPath: readonly string[]): string | undefined => {
    const node: unknown = doc.getIn(keyPath, true);
    const offset = isNode(node) ? node.range?.[0] : undefined;
    return offset === undefined ? path : `${path}:${lineCounter.linePos(offset).line}`;
  };
  return { data, sourceOf };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function getAt(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const part of path) {
    if (!isPlainObject(node) || !Object.hasOwn(node, part)) return undefined;
    node = node[part];
  }
  return node;
}

function firstLine(text: string): string {
  return (text.split('\n', 1)[0] ?? text).replace(/:$/, '');
}
