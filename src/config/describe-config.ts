// Walks the config schema into a flat list of keys (type, default, description, env var): the
// source for docs/configuration.md, onair.example.yaml and env / --set coercion.
import { z } from 'zod';
import { configSchema, streamSettingsSchema } from './schema.ts';

/** Prefix of every environment variable onair reads. */
export const ENV_PREFIX = 'ONAIR_';

/** How a leaf's text value (env var, --set) is turned into its typed value. */
/** `list`: only in `streams:` entries (file only, no env var). */
export type ConfigValueKind = 'integer' | 'number' | 'boolean' | 'string' | 'enum' | 'list';

/** One leaf key of the configuration. */
export interface ConfigKeyInfo {
  /** Dotted path, e.g. `hub.gopCache.maxFrames`. */
  readonly key: string;
  readonly path: readonly string[];
  readonly kind: ConfigValueKind;
  /** Readable type with bounds, e.g. `integer 0..65535` or `json | pretty`. */
  readonly type: string;
  readonly default: string | number | boolean;
  readonly description: string;
  /** Environment variable that overrides it, e.g. `ONAIR_HUB_GOP_CACHE_MAX_FRAMES`. */
  readonly env: string;
  readonly min?: number;
  readonly max?: number;
  /** Allowed values of an enum. */
  readonly values?: readonly string[];
}

/** One section (object) of the configuration. */
export interface ConfigSectionInfo {
  readonly key: string;
  readonly path: readonly string[];
  readonly description: string;
}

/** Every leaf key of the schema, in schema order. */
export function describeConfig(): ConfigKeyInfo[] {
  const keys: ConfigKeyInfo[] = [];
  walk(configSchema, [], { keys, sections: [] });
  return keys;
}

/** One key of a `streams:` entry (`streams.<path>.hls.profile`): file only, no default. */
export interface StreamKeyInfo {
  /** Dotted path inside an entry, e.g. `hls.profile`. */
  readonly key: string;
  /** Readable type, e.g. `low-latency | balanced | compatible`. */
  readonly type: string;
  readonly description: string;
}

/** Every key a `streams:` entry may set, in schema order. */
export function describeStreamKeys(): StreamKeyInfo[] {
  const keys: StreamKeyInfo[] = [];
  const visit = (schema: z.ZodType, path: readonly string[]): void => {
    const inner = schema instanceof z.ZodOptional ? (schema.unwrap() as z.ZodType) : schema;
    if (inner instanceof z.ZodObject) {
      for (const [name, child] of Object.entries(inner.shape)) {
        visit(child as z.ZodType, [...path, name]);
      }
      return;
    }
    const key = path.join('.');
    if (!schema.description) throw new Error(`streams key ${key} has no description`);
    const type =
      inner instanceof z.ZodArray && inner.element instanceof z.ZodObject
        ? RENDITIONS_TYPE
        : leafType(inner, key).type;
    keys.push({ key, type, description: schema.description });
  };
  visit(streamSettingsSchema, []);
  return keys;
}

/** Every section of the schema (objects, at any depth), in schema order. */
export function describeSections(): ConfigSectionInfo[] {
  const sections: ConfigSectionInfo[] = [];
  walk(configSchema, [], { keys: [], sections });
  return sections;
}

/** `['hub', 'gopCache', 'maxFrames']` -> `ONAIR_HUB_GOP_CACHE_MAX_FRAMES`. */
export function envNameOf(path: readonly string[]): string {
  return (
    ENV_PREFIX +
    path
      .map((part) => part.replace(/([a-z0-9])([A-Z])/g, '$1_$2'))
      .join('_')
      .toUpperCase()
  );
}

/** How the docs show the type of a rendition list. */
export const RENDITIONS_TYPE = 'list of { name, height, videoKbps, fps? }';

interface WalkOutput {
  readonly keys: ConfigKeyInfo[];
  readonly sections: ConfigSectionInfo[];
}

function walk(schema: z.ZodType, path: readonly string[], out: WalkOutput): void {
  // `streams` is a map keyed by stream path, set in the file only: describeStreamKeys().
  if (path.length === 1 && path[0] === 'streams') return;
  const description = schema.description ?? '';
  const inner = schema instanceof z.ZodPrefault ? (schema.unwrap() as z.ZodType) : schema;
  if (inner instanceof z.ZodObject) {
    if (path.length > 0) out.sections.push({ key: path.join('.'), path, description });
    for (const [name, child] of Object.entries(inner.shape)) {
      walk(child as z.ZodType, [...path, name], out);
    }
    return;
  }
  const key = path.join('.');
  // A list (abr.renditions) is set in the file only, like `streams`: no env var, no --set.
  if (schema instanceof z.ZodDefault && schema.unwrap() instanceof z.ZodArray) return;
  if (!(schema instanceof z.ZodDefault)) throw new Error(`config key ${key} has no default`);
  if (description === '') throw new Error(`config key ${key} has no description`);
  const defaultValue: unknown = schema.def.defaultValue;
  if (!isScalar(defaultValue)) throw new Error(`config key ${key} has a non-scalar default`);
  out.keys.push({
    key,
    path,
    ...leafType(schema.unwrap() as z.ZodType, key),
    default: defaultValue,
    description,
    env: envNameOf(path),
  });
}

type LeafType = Pick<ConfigKeyInfo, 'kind' | 'type' | 'min' | 'max' | 'values'>;

function leafType(schema: z.ZodType, key: string): LeafType {
  if (schema instanceof z.ZodNumber) {
    const kind = ['safeint', 'int32', 'uint32'].includes(schema.format ?? '')
      ? 'integer'
      : 'number';
    const min = schema.minValue ?? undefined;
    const max = schema.maxValue ?? undefined;
    const bounds = `${min ?? ''}..${max ?? ''}`;
    return {
      kind,
      type: bounds === '..' ? kind : `${kind} ${bounds}`,
      ...(min === undefined ? {} : { min }),
      ...(max === undefined ? {} : { max }),
    };
  }
  if (schema instanceof z.ZodBoolean) return { kind: 'boolean', type: 'boolean' };
  if (schema instanceof z.ZodString) return { kind: 'string', type: 'string' };
  if (schema instanceof z.ZodArray) {
    const item = leafType(schema.element as z.ZodType, key);
    return { kind: 'list', type: `list of ${item.type}` };
  }
  if (schema instanceof z.ZodEnum) {
    const values = (schema.options as unknown[]).map(String);
    return { kind: 'enum', type: values.join(' | '), values };
  }
  throw new Error(`config key ${key} has an unsupported type`);
}

function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}
