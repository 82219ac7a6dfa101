/**
 * Encoding of user-space map keys and values into the fixed-size byte strings bpf(2) takes. Numbers and bigints are
 * little-endian unsigned integers (the host order of x86 and of BPF on it) of exactly the map's key/value size;
 * Uint8Arrays pass through and must have that size. Struct keys are built by the caller as bytes.
 */

/** A map key or value as the loader accepts it. */
export type MapScalar = number | bigint | Uint8Array;

/** A key or value of the wrong size or kind. */
export class MapValueError extends Error {
  override name = "MapValueError";
}

/** Encodes `value` into `size` bytes (little-endian for numbers and bigints). */
export function encodeScalar(value: MapScalar, size: number, what: string): Uint8Array {
  if (value instanceof Uint8Array) {
    if (value.length !== size) throw new MapValueError(`${what} has ${value.length} bytes, the map needs ${size}`);
    return value;
  }
  let v: bigint;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new MapValueError(`${what} ${value} is not an integer`);
    v = BigInt(value);
  } else if (typeof value === "bigint") v = value;
  else throw new MapValueError(`${what} must be a number, bigint or Uint8Array (got ${typeof value})`);
  if (size > 8) throw new MapValueError(`${what} needs ${size} bytes: pass a Uint8Array`);
  const bits = BigInt(size * 8);
  if (v < -(1n << (bits - 1n)) || v >= 1n << bits) throw new MapValueError(`${what} ${v} does not fit in ${size} bytes`);
  v = BigInt.asUintN(size * 8, v);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** Decodes little-endian unsigned bytes into a bigint. */
export function decodeUnsigned(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}
