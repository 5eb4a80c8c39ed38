/**
 * Kafka's built-in deserializers, as console-consumer's formatter applies them (key.deserializer /
 * value.deserializer properties, --key-deserializer / --value-deserializer): each turns the record's bytes into
 * the text Kafka's formatter prints (the deserialized object's toString). A value of the wrong size throws
 * Kafka's SerializationException message; console-consumer stops on it unless --skip-message-on-error.
 */

export type Deserializer = (data: Buffer) => Buffer;

export class SerializationError extends Error {
  override name = 'SerializationException';
}

function fixed(bytes: number, name: string, read: (b: Buffer) => string): Deserializer {
  return (b) => {
    if (b.length !== bytes) throw new SerializationError(`Size of data received by ${name} is not ${bytes}`);
    return Buffer.from(read(b));
  };
}

/** Java's Double/Float.toString for the common cases: integral values keep a ".0". */
function javaFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
  return Number.isInteger(v) && Math.abs(v) < 1e7 ? v.toFixed(1) : String(v);
}

const BY_NAME: Record<string, Deserializer> = {
  StringDeserializer: (b) => b,
  ByteArrayDeserializer: (b) => b,
  BytesDeserializer: (b) => b,
  ByteBufferDeserializer: (b) => b,
  LongDeserializer: fixed(8, 'LongDeserializer', (b) => b.readBigInt64BE().toString()),
  IntegerDeserializer: fixed(4, 'IntegerDeserializer', (b) => String(b.readInt32BE())),
  ShortDeserializer: fixed(2, 'ShortDeserializer', (b) => String(b.readInt16BE())),
  DoubleDeserializer: fixed(8, 'DoubleDeserializer', (b) => javaFloat(b.readDoubleBE())),
  FloatDeserializer: fixed(4, 'FloatDeserializer', (b) => javaFloat(b.readFloatBE())),
  UUIDDeserializer: (b) => {
    const s = b.toString('utf8');
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s)) throw new SerializationError(`Error parsing data into UUID`);
    return Buffer.from(s.toLowerCase());
  },
  VoidDeserializer: (b) => {
    if (b.length !== 0) throw new SerializationError('Data should be null for a VoidDeserializer.');
    return b;
  },
};

/** Kafka's class name (org.apache.kafka.common.serialization.LongDeserializer) or its simple name; undefined if unknown. */
export function deserializerFor(name: string): Deserializer | undefined {
  const simple = name.trim().split('.').pop() ?? '';
  return BY_NAME[simple];
}

export const DESERIALIZER_NAMES = Object.keys(BY_NAME);
