/**
 * Config as data, after Kafka's org.apache.kafka.common.config.ConfigDef: each config is one row
 * (name, type, default, validator, doc), and parsing, validation, `kfk configs --describe` and docs
 * all come from the table. Type conversion and error wording follow Kafka's, so that a bad value
 * reads the same as in Kafka:
 *
 *   Invalid value abc for configuration num.partitions: Not a number of type INT
 *
 * Values are trimmed before conversion (as ConfigDef.parseType does). Java longs are JS numbers:
 * exact up to 2^53, and Long.MAX_VALUE (Kafka's "no limit") becomes JAVA_LONG_MAX (2^63 as a
 * double); formatValue prints it back as 9223372036854775807.
 */

export type ConfigType = 'string' | 'int' | 'short' | 'long' | 'double' | 'boolean' | 'list' | 'password' | 'class';

/** A password: its toString() never reveals the value (Kafka prints [hidden]). */
export class Password {
  constructor(readonly value: string) {}
  toString(): string {
    return '[hidden]';
  }
  toJSON(): string {
    return '[hidden]';
  }
}

export type ConfigValue = string | number | boolean | string[] | Password | null;

/** Marks a required config (Kafka's ConfigDef.NO_DEFAULT_VALUE). */
export const NO_DEFAULT: unique symbol = Symbol('NO_DEFAULT');

export type Importance = 'high' | 'medium' | 'low';

export interface Validator {
  /** Throw ConfigError if `value` (already converted) is not acceptable. */
  validate(name: string, value: ConfigValue): void;
  /** Human-readable form for docs, as Kafka prints it (e.g. "[1,...]"). */
  describe(): string;
}

export interface ConfigDef {
  name: string;
  type: ConfigType;
  /** The converted default value, or NO_DEFAULT for a required config. */
  default: ConfigValue | typeof NO_DEFAULT;
  validator?: Validator;
  doc: string;
  importance?: Importance;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly key?: string,
    readonly value?: unknown,
  ) {
    super(message);
  }

  /** Kafka's ConfigException(name, value, message) wording. */
  static invalid(key: string, value: unknown, message?: string): ConfigError {
    return new ConfigError(
      `Invalid value ${javaString(value)} for configuration ${key}${message ? `: ${message}` : ''}`,
      key,
      value,
    );
  }
}

export const JAVA_INT_MIN = -2147483648;
export const JAVA_INT_MAX = 2147483647;
export const JAVA_SHORT_MIN = -32768;
export const JAVA_SHORT_MAX = 32767;
/** Long.MAX_VALUE as a JS number (2^63; Number('9223372036854775807') gives the same). */
export const JAVA_LONG_MAX = 2 ** 63;
export const JAVA_LONG_MIN = -(2 ** 63);

/** Java's Double.toString for finite values (1 → "1.0", 1e10 → "1.0E10"). */
export function javaDoubleString(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(v);
  if (abs >= 1e-3 && abs < 1e7) {
    const s = String(v);
    return s.includes('.') ? s : `${s}.0`;
  }
  const [mant, exp] = v.toExponential().split('e') as [string, string];
  const m = mant.includes('.') ? mant : `${mant}.0`;
  return `${m}E${exp.startsWith('+') ? exp.slice(1) : exp}`;
}

/** How Java's String.valueOf would print a config value in an error message. */
function javaString(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return `[${v.map(javaString).join(', ')}]`;
  if (typeof v === 'number') {
    if (v >= JAVA_LONG_MAX) return '9223372036854775807';
    if (v <= JAVA_LONG_MIN) return '-9223372036854775808';
    return String(v);
  }
  return String(v);
}

// ---- validators ------------------------------------------------------------------------------

/** Range.atLeast: "Value must be at least <min>". */
export function atLeast(min: number): Validator {
  return between(min, null);
}

/** Range.between: "Value must be at least <min>" / "Value must be no more than <max>". */
export function between(min: number | null, max: number | null): Validator {
  return {
    validate(name, value) {
      if (value === null) return;
      const n = value as number;
      if (min !== null && n < min) throw ConfigError.invalid(name, value, `Value must be at least ${min}`);
      if (max !== null && n > max) throw ConfigError.invalid(name, value, `Value must be no more than ${max}`);
    },
    describe() {
      if (min === null) return `[...,${max}]`;
      if (max === null) return `[${min},...]`;
      return `[${min},...,${max}]`;
    },
  };
}

/** ValidString.in: "String must be one of: a, b". */
export function inStrings(...valid: string[]): Validator {
  return {
    validate(name, value) {
      if (value === null) return;
      if (!valid.includes(value as string)) {
        throw ConfigError.invalid(name, value, `String must be one of: ${valid.join(', ')}`);
      }
    },
    describe() {
      return `[${valid.join(', ')}]`;
    },
  };
}

/** CaseInsensitiveValidString.in. */
export function inStringsIgnoreCase(...valid: string[]): Validator {
  const upper = valid.map((v) => v.toUpperCase());
  return {
    validate(name, value) {
      if (value === null) return;
      if (!upper.includes(String(value).toUpperCase())) {
        throw ConfigError.invalid(name, value, `String must be one of (case insensitive): ${valid.join(', ')}`);
      }
    },
    describe() {
      return `(case insensitive) [${valid.join(', ')}]`;
    },
  };
}

/** ValidList.in: every element must be one of the given strings. */
export function validList(...valid: string[]): Validator {
  const item = inStrings(...valid);
  return {
    validate(name, value) {
      if (value === null) return;
      for (const v of value as string[]) item.validate(name, v);
    },
    describe() {
      return `[${valid.join(', ')}]`;
    },
  };
}

/** NonEmptyString: "String must be non-empty". */
export const nonEmptyString: Validator = {
  validate(name, value) {
    if (value !== null && String(value).trim() === '') throw ConfigError.invalid(name, value, 'String must be non-empty');
  },
  describe() {
    return 'non-empty string';
  },
};

/** A validator from a predicate returning an error message (or null when valid). */
export function custom(description: string, check: (value: ConfigValue) => string | null): Validator {
  return {
    validate(name, value) {
      if (value === null) return;
      const msg = check(value);
      if (msg !== null) throw ConfigError.invalid(name, value, msg);
    },
    describe() {
      return description;
    },
  };
}

// ---- conversion ------------------------------------------------------------------------------

const typeName = (t: ConfigType): string => t.toUpperCase();

function parseInteger(name: string, raw: string, trimmed: string, type: ConfigType, min: bigint, max: bigint): number {
  if (!/^[+-]?\d+$/.test(trimmed)) throw ConfigError.invalid(name, raw, `Not a number of type ${typeName(type)}`);
  const b = BigInt(trimmed);
  if (b < min || b > max) throw ConfigError.invalid(name, raw, `Not a number of type ${typeName(type)}`);
  return Number(b);
}

const DOUBLE_RE = /^[+-]?(NaN|Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[fFdD]?)$/;

/** Convert a raw string to the def's type (Kafka's ConfigDef.parseType), without validating. */
export function convertValue(def: Pick<ConfigDef, 'name' | 'type'>, raw: string): ConfigValue {
  const { name, type } = def;
  const trimmed = raw.trim();
  switch (type) {
    case 'boolean': {
      const l = trimmed.toLowerCase();
      if (l === 'true') return true;
      if (l === 'false') return false;
      throw ConfigError.invalid(name, raw, 'Expected value to be either true or false');
    }
    case 'string':
    case 'class':
      return trimmed;
    case 'password':
      return new Password(trimmed);
    case 'int':
      return parseInteger(name, raw, trimmed, type, BigInt(JAVA_INT_MIN), BigInt(JAVA_INT_MAX));
    case 'short':
      return parseInteger(name, raw, trimmed, type, BigInt(JAVA_SHORT_MIN), BigInt(JAVA_SHORT_MAX));
    case 'long':
      return parseInteger(name, raw, trimmed, type, -(2n ** 63n), 2n ** 63n - 1n);
    case 'double': {
      if (!DOUBLE_RE.test(trimmed)) throw ConfigError.invalid(name, raw, `Not a number of type ${typeName(type)}`);
      return Number(trimmed.replace(/[fFdD]$/, ''));
    }
    case 'list':
      return trimmed === '' ? [] : trimmed.split(/\s*,\s*/);
  }
}

/** Convert and validate one raw value. */
export function parseValue(def: ConfigDef, raw: string): ConfigValue {
  const v = convertValue(def, raw);
  def.validator?.validate(def.name, v);
  return v;
}

/** The string form of a value, as Kafka's ConfigDef.convertToString (null stays null). */
export function formatValue(def: Pick<ConfigDef, 'type'>, value: ConfigValue): string | null {
  if (value === null || value === undefined) return null;
  switch (def.type) {
    case 'list':
      return (value as string[]).join(',');
    case 'password':
      return value instanceof Password ? value.value : String(value);
    case 'double':
      return javaDoubleString(value as number);
    case 'int':
    case 'short':
    case 'long':
      return javaString(value);
    default:
      return String(value);
  }
}

/** The default of a def as a string (null when there is none). */
export function defaultString(def: ConfigDef): string | null {
  return def.default === NO_DEFAULT ? null : formatValue(def, def.default);
}

// ---- whole configs ---------------------------------------------------------------------------

export interface ParseConfigOptions {
  /** Reject keys that have no definition (default false: they are kept in `unknown`). */
  strictUnknown?: boolean;
  /** Message for an unknown key when strictUnknown is set. */
  unknownMessage?: (key: string) => string;
}

export interface ParsedConfig {
  /** Every defined config: the converted value given, or the default. */
  values: Record<string, ConfigValue>;
  /** Keys that were given explicitly (and defined). */
  explicit: Set<string>;
  /** Keys given that have no definition, with their raw values (Kafka logs a warning). */
  unknown: Record<string, string>;
}

export function configDefMap(defs: readonly ConfigDef[]): Map<string, ConfigDef> {
  return new Map(defs.map((d) => [d.name, d]));
}

/** Convert and validate `raw` against `defs`, filling in defaults. Throws ConfigError. */
export function parseConfig(
  defs: readonly ConfigDef[] | ReadonlyMap<string, ConfigDef>,
  raw: Record<string, string>,
  opts: ParseConfigOptions = {},
): ParsedConfig {
  const byName = defs instanceof Map ? (defs as ReadonlyMap<string, ConfigDef>) : configDefMap(defs as readonly ConfigDef[]);
  const values: Record<string, ConfigValue> = {};
  const explicit = new Set<string>();
  const unknown: Record<string, string> = {};
  for (const [key, rawValue] of Object.entries(raw)) {
    const def = byName.get(key);
    if (!def) {
      if (opts.strictUnknown) {
        throw new ConfigError(opts.unknownMessage ? opts.unknownMessage(key) : `Unknown configuration ${key}`, key, rawValue);
      }
      unknown[key] = rawValue;
      continue;
    }
    values[key] = parseValue(def, String(rawValue));
    explicit.add(key);
  }
  for (const def of byName.values()) {
    if (explicit.has(def.name)) continue;
    if (def.default === NO_DEFAULT) {
      throw new ConfigError(`Missing required configuration "${def.name}" which has no default value.`, def.name);
    }
    values[def.name] = def.default;
  }
  return { values, explicit, unknown };
}

/** "log.retention.ms" → "logRetentionMs". */
export function camelCase(name: string): string {
  return name.replace(/[._-]+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** DescribeConfigs `config_type` ids (KIP-226 / ConfigResource types in the protocol). */
export const CONFIG_TYPE_IDS: Readonly<Record<ConfigType, number>> = {
  boolean: 1,
  string: 2,
  int: 3,
  short: 4,
  long: 5,
  double: 6,
  list: 7,
  class: 8,
  password: 9,
};

/** Where a config value comes from (DescribeConfigs `config_source`). */
export type ConfigSource =
  | 'UNKNOWN'
  | 'DYNAMIC_TOPIC_CONFIG'
  | 'DYNAMIC_BROKER_CONFIG'
  | 'DYNAMIC_DEFAULT_BROKER_CONFIG'
  | 'STATIC_BROKER_CONFIG'
  | 'DEFAULT_CONFIG'
  | 'DYNAMIC_BROKER_LOGGER_CONFIG';

/** DescribeConfigs `config_source` ids. */
export const CONFIG_SOURCE_IDS: Readonly<Record<ConfigSource, number>> = {
  UNKNOWN: 0,
  DYNAMIC_TOPIC_CONFIG: 1,
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
  DYNAMIC_BROKER_LOGGER_CONFIG: 6,
};
